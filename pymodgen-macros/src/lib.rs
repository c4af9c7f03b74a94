//! `bind_pymodule!`: a thin proc-macro shell over the `pymodgen` library.
