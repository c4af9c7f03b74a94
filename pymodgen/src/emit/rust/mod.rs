//! Rust emitter (being written).
use super::Output;
use crate::manifest::Manifest;
use crate::{Error, Result};

/// Options of the Rust emitter.
#[derive(Clone, Debug, Default)]
pub struct RustOptions {}

pub(crate) fn emit(_manifests: &[Manifest], _options: &RustOptions) -> Result<Output> {
    Err(Error::Invalid("the Rust emitter is not built yet".into()))
}
