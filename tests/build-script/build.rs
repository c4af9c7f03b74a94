fn main() {
    let generated = pymodgen::Builder::new()
        .module("json")
        .module_as("os.path", "os_path")
        .generate()
        .unwrap_or_else(|e| panic!("pymodgen: {e}"));
    assert_eq!(generated.files.len(), 2);
}
