//! Lisp emitter (being written).
use super::Output;
use crate::manifest::Manifest;
use crate::{Error, Result};

/// Options of the Lisp emitter.
#[derive(Clone, Debug, Default)]
pub struct LispOptions {}

pub(crate) fn emit(_manifests: &[Manifest], _options: &LispOptions) -> Result<Output> {
    Err(Error::Invalid("the Lisp emitter is not built yet".into()))
}
