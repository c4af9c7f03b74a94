//! Build facts about the interpreter pyo3 builds against:
//! - records its executable, the interpreter a program linked with `link_python()` starts;
//! - records its Python version (from pyo3's `links` metadata), so the C ABI can report it
//!   and the Lisp runtime can refuse a mismatched libpython;
//! - tells dependents where its libpython lives (`DEP_PYMODGEN_RUNTIME_LIB_DIR`): a crate of
//!   bindings prints `cargo:rustc-link-arg=-Wl,-rpath,<dir>` from it, so its tests and
//!   examples load that libpython, not another one of the same soname that the dynamic
//!   loader finds first; and links this crate's own tests and benchmarks the same way.

fn main() {
    println!("cargo:rerun-if-env-changed=DEP_PYO3_PYTHON_PYO3_CONFIG");
    let hex = std::env::var("DEP_PYO3_PYTHON_PYO3_CONFIG").unwrap_or_default();
    let bytes: Vec<u8> = hex
        .as_bytes()
        .chunks_exact(2)
        .filter_map(|c| u8::from_str_radix(std::str::from_utf8(c).ok()?, 16).ok())
        .collect();
    let text = String::from_utf8_lossy(&bytes);
    let version = text.lines().find_map(|l| l.strip_prefix("version=")).unwrap_or("unknown").trim().to_string();
    println!("cargo:rustc-env=PYMODGEN_BUILT_PYTHON_VERSION={version}");

    // Py_3_12 and friends, for what differs between Python versions (capi/pathcache.rs)
    pyo3_build_config::use_pyo3_cfgs();
    let config = pyo3_build_config::get();
    // The interpreter a program linked with `pymodgen::link_python()` starts (src/start.rs).
    println!("cargo:rustc-env=PYMODGEN_BUILT_PYTHON_EXECUTABLE={}", config.executable().unwrap_or(""));
    if let Some(dir) = config.lib_dir() {
        println!("cargo::metadata=lib_dir={dir}");
    }
    pyo3_build_config::add_libpython_rpath_link_args();
}
