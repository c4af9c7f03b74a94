//! Uses bindings that build.rs generated into OUT_DIR.

include!(concat!(env!("OUT_DIR"), "/json.rs"));
include!(concat!(env!("OUT_DIR"), "/os.path.rs"));

use pymodgen_runtime::pyo3::prelude::*;

fn main() {
    Python::attach(|py| {
        let v = json::loads(py, r#"{"k": [1, 2]}"#).unwrap();
        println!("{}", json::dumps_with(py, &v).separators((",", ":")).call().unwrap());
        println!("{}", os_path::join_with(py, "a").p(("b",)).call().unwrap());
    });
}
