//! trybuild UI tests of `bind_pymodule!`: each mistake in tests/ui/*.rs has its expected
//! diagnostic in the .stderr next to it (`TRYBUILD=overwrite` to bless). Diagnostics are
//! pinned to this toolchain (Rust 1.95); other compilers may word them differently.

#[test]
fn ui() {
    let fixtures = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/python");
    // SAFETY: set before trybuild spawns cargo; no other thread reads the environment.
    unsafe { std::env::set_var("PYTHONPATH", fixtures) };
    // trybuild links without our build scripts' rpath: point the loader at the
    // interpreter's own libpython (without it the pass case fails with the runtime's
    // "generated for Python 3.11.7, but this program runs Python 3.11.2" error).
    let json = pymodgen::load("json", &pymodgen::Options::default()).unwrap();
    if let Some(lib) = json.manifests[0].python.libpython.as_deref() {
        let dir = std::path::Path::new(lib).parent().unwrap();
        // SAFETY: as above.
        unsafe { std::env::set_var("LD_LIBRARY_PATH", dir) };
    }
    let t = trybuild::TestCases::new();
    t.pass("ui/ok_json.rs");
    t.pass("ui/typed_stdlib.rs");
    t.compile_fail("ui/unknown_module.rs");
    t.compile_fail("ui/non_literal.rs");
    t.compile_fail("ui/bad_option.rs");
    t.compile_fail("ui/import_raises.rs");
    t.compile_fail("ui/kwargs_pairs.rs");
    t.compile_fail("ui/typed_return_mismatch.rs");
    t.compile_fail("ui/typed_param_mismatch.rs");
    t.compile_fail("ui/literal_enum.rs");
    t.compile_fail("ui/numpy_arrays_without_feature.rs");
}
