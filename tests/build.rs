//! Links this package's test programs with the interpreter's libpython (rpath) and makes
//! them start the interpreter they were built for: `tests/book.rs` calls Python in-process,
//! as a program that uses pymodgen does (the book's "Rust in five minutes" shows this file).

// ANCHOR: link_python
// build.rs
fn main() {
    pymodgen::link_python().unwrap_or_else(|e| panic!("pymodgen: {e}"));
}
// ANCHOR_END: link_python
