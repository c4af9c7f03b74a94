//! The Rust examples of the book: each `ANCHOR` region below is a code block of a page of
//! `docs/src` (mdBook's `{{#include tests/book.rs:NAME}}`), so what the book shows is what
//! this test compiles and runs. `scripts/docs` checks that every Rust block of the book is
//! such an include, or is marked `norun` with its reason.

use pymodgen_runtime::pyo3::prelude::*;

// ANCHOR: bind
pymodgen_macros::bind_pymodule!("json"); // pub mod json { ... }
pymodgen_macros::bind_pymodule!("math");
pymodgen_macros::bind_pymodule!("os.path" as os_path);
pymodgen_macros::bind_pymodule!("collections");
// ANCHOR_END: bind

#[test]
fn getting_started() -> PyResult<()> {
    // ANCHOR: first_calls
    Python::attach(|py| -> PyResult<()> {
        let s: String = json::dumps(py, vec![1, 2, 3])?;
        assert_eq!(s, "[1, 2, 3]");
        let r: f64 = math::sqrt(py, 2.0)?;
        assert!((r - std::f64::consts::SQRT_2).abs() < 1e-12);
        Ok(())
    })
    // ANCHOR_END: first_calls
}

#[test]
fn optional_parameters() -> PyResult<()> {
    Python::attach(|py| -> PyResult<()> {
        // ANCHOR: optional
        let obj = pymodgen_runtime::pyo3::types::PyDict::new(py);
        obj.set_item("b", 1)?;
        obj.set_item("a", [1, 2])?;
        let s = json::dumps(py, &obj)?; // required arguments only
        assert_eq!(s, r#"{"b": 1, "a": [1, 2]}"#);
        let s = json::dumps_with(py, &obj).indent(2).sort_keys(true).call()?; // optional ones by name
        assert!(s.starts_with("{\n  \"a\": [\n"));
        let v = math::log_with(py, 8.0).base(2.0).call()?;
        assert_eq!(v, 3.0);
        let p = os_path::join_with(py, "/usr").p(("lib", "x.so")).call()?; // *args
        assert_eq!(p.to_string(), "/usr/lib/x.so"); // str | bytes by its overloads: a Python object
        let c = collections::Counter::new_with(py).iterable("abracadabra").call()?;
        let top = c.most_common_with().n(2).call()?; // methods work the same way
        assert_eq!(top.len(), 2);
        // ANCHOR_END: optional
        Ok(())
    })
}

#[test]
fn errors() -> PyResult<()> {
    Python::attach(|py| -> PyResult<()> {
        // ANCHOR: errors
        let seen = match json::loads(py, "{") {
            Ok(value) => format!("{value}"),
            Err(e) if json::JsonDecodeError::is_instance(py, &e) => format!("not JSON: {e}"),
            Err(e) => return Err(e),
        };
        // ANCHOR_END: errors
        assert!(seen.starts_with("not JSON: JSONDecodeError: Expecting property name"), "{seen}");
        Ok(())
    })
}

#[test]
fn classes() -> PyResult<()> {
    Python::attach(|py| -> PyResult<()> {
        // ANCHOR: classes
        let c = collections::Counter::new_with(py).iterable("abracadabra").call()?; // the constructor
        let top = c.most_common_with().n(1).call()?; // a method
        assert_eq!(top.len(), 1);
        assert_eq!(c.total()?, 11);
        assert_eq!(c.len()?, 5); // __len__ (from dict): five distinct letters
        assert!(c.contains("a")?); // __contains__
        println!("{c}"); // Display: Python's str()
        // ANCHOR_END: classes
        Ok(())
    })
}
