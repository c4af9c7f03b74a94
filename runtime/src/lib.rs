//! pymodgen-runtime: what pymodgen-generated bindings call.
