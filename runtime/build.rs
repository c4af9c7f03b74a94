//! Records the Python version pyo3 builds against (from pyo3's `links` metadata), so the
//! C ABI can report it and the Lisp runtime can refuse a mismatched libpython.

fn main() {
    println!("cargo:rerun-if-env-changed=DEP_PYO3_PYTHON_PYO3_CONFIG");
    let hex = std::env::var("DEP_PYO3_PYTHON_PYO3_CONFIG").unwrap_or_default();
    let bytes: Vec<u8> = hex
        .as_bytes()
        .chunks_exact(2)
        .filter_map(|c| u8::from_str_radix(std::str::from_utf8(c).ok()?, 16).ok())
        .collect();
    let text = String::from_utf8_lossy(&bytes);
    let version = text
        .lines()
        .find_map(|l| l.strip_prefix("version="))
        .unwrap_or("unknown")
        .trim()
        .to_string();
    println!("cargo:rustc-env=PYMODGEN_BUILT_PYTHON_VERSION={version}");
}
