//! Links the benchmarks with an rpath to the libpython pyo3 builds against (the directory
//! pymodgen-runtime's `links` metadata gives), as a generated crate's build script does.

fn main() {
    println!("cargo::rerun-if-env-changed=DEP_PYMODGEN_RUNTIME_LIB_DIR");
    if let Some(dir) = std::env::var_os("DEP_PYMODGEN_RUNTIME_LIB_DIR") {
        println!("cargo::rustc-link-arg=-Wl,-rpath,{}", dir.to_string_lossy());
    }
}
