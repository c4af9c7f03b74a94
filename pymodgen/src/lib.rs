//! pymodgen turns a Python module into a typed, cached binding package for Rust or
//! Common Lisp: **introspect → manifest → emit**.
//!
//! One library serves the CLI (`pymodgen`), the proc macro (`bind_pymodule!`) and build
//! scripts ([`Builder`]): all of them call [`load`] (cache or introspection) and then
//! [`emit()`].
//!
//! # Finding Python
//! The interpreter is, in order: [`Options::python`] (`--python`), `PYMODGEN_PYTHON`,
//! `PYO3_PYTHON`, the active `VIRTUAL_ENV` or `CONDA_PREFIX`, then `python3` (and `python`)
//! on `PATH`. Every variable read is recorded in [`Tracked`], so build scripts can print
//! `rerun-if-env-changed` lines for them.
//!
//! # Cache
//! Manifests are cached under `PYMODGEN_CACHE_DIR`, else `$XDG_CACHE_HOME/pymodgen`, else
//! `~/.cache/pymodgen`, keyed by the module version hash (see [`hash`]). A cache hit runs
//! Python once, for the hash only.

pub mod cache;
pub mod emit;
mod error;
pub mod hash;
mod introspect;
pub mod manifest;
pub mod python;
pub mod track;

use std::path::PathBuf;
use std::time::Duration;

pub use crate::cache::Cache;
pub use crate::emit::{emit, EmitOptions, Lang, Output};
pub use crate::error::{Error, Result};
pub use crate::manifest::Manifest;
pub use crate::python::Interpreter;
pub use crate::track::Tracked;

/// pymodgen's own version; part of every module version hash.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// How to find and introspect a module.
#[derive(Clone, Debug)]
pub struct Options {
    /// The interpreter to use; `None` searches as described in the crate docs.
    pub python: Option<PathBuf>,
    /// Also introspect public submodules, recursively.
    pub submodules: bool,
    /// Read and write the manifest cache.
    pub use_cache: bool,
    /// Cache directory; `None` means the default (see [`Cache::default_dir`]).
    pub cache_dir: Option<PathBuf>,
    /// Time limit for one introspection; `None` means `PYMODGEN_TIMEOUT` seconds, else 300.
    pub timeout: Option<Duration>,
}

impl Default for Options {
    fn default() -> Self {
        Options { python: None, submodules: false, use_cache: true, cache_dir: None, timeout: None }
    }
}
