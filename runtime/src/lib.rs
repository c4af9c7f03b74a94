//! pymodgen-runtime: what pymodgen-generated bindings call.

pub mod capi;
