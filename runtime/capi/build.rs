//! Build facts about the interpreter pyo3 builds against:
//! - records its Python version (from pyo3's `links` metadata), so the C ABI can report it
//!   (`pmg_built_python_version`) and the Lisp runtime can refuse a mismatched libpython;
//! - sets pyo3's version cfgs (`Py_3_12` and friends) for what differs between Python
//!   versions (errors, the path cache's dict watchers);
//! - links the library and this crate's tests with an rpath to that libpython, so they load
//!   it, not another one of the same soname that the dynamic loader finds first.

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

    pyo3_build_config::use_pyo3_cfgs();
    pyo3_build_config::add_libpython_rpath_link_args();
}
