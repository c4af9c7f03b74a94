//! pymodgen turns a Python module into a typed, cached binding package for Rust or
//! Common Lisp: **introspect → manifest → emit**.
//!
//! One library serves the CLI (`pymodgen`), the proc macro (`bind_pymodule!`) and build
//! scripts ([`Builder`]): all of them call [`load`] (cache or introspection) and then
//! [`emit()`]. A program that uses bindings links with its interpreter's libpython through
//! [`link_python`], one line in its `build.rs` (see [`link`] for why cargo needs it).
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
//!
//! # The manual
//! The pymodgen book is `docs/` in the source repository (`scripts/docs` builds it into
//! `target/book`): getting started in Rust and in Common Lisp, guides by task, the reference
//! (command line, manifest schema, type tables, options, environment variables, the C ABI)
//! and the design. `Builder` and `link_python()` are described in its guide
//! "Rust: a crate, the macro or build.rs".

pub mod builder;
pub mod cache;
#[cfg(feature = "cli")]
#[doc(hidden)]
pub mod cli;
#[cfg(feature = "cli")]
mod display;
pub mod emit;
mod error;
pub mod hash;
mod introspect;
pub mod link;
pub mod manifest;
pub mod python;
pub mod stamp;
pub mod track;

use std::path::PathBuf;
use std::time::Duration;

pub use crate::builder::Builder;
pub use crate::cache::Cache;
pub use crate::emit::{EmitOptions, Lang, Output, emit};
pub use crate::error::{Error, Result};
pub use crate::link::{Libpython, libpython, link_python};
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
    /// Directories put in front of the interpreter's `sys.path` (through `PYTHONPATH`), for
    /// modules that are not installed, such as a project's own Python package.
    pub pythonpath: Vec<PathBuf>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            python: None,
            submodules: false,
            use_cache: true,
            cache_dir: None,
            timeout: None,
            pythonpath: Vec::new(),
        }
    }
}

/// Manifests for one requested module, and what they depended on.
#[derive(Clone, Debug)]
pub struct Loaded {
    /// The requested module first, then (with [`Options::submodules`]) its submodules,
    /// sorted by name.
    pub manifests: Vec<Manifest>,
    /// Environment variables read and files covered by the module version hash.
    pub tracked: Tracked,
    /// Whether the manifests came from the cache.
    pub cached: bool,
    /// The interpreter used.
    pub interpreter: Interpreter,
}

/// Finds the interpreter, then returns the module's manifests from the cache when its
/// version hash is known there, else introspects it (in a separate Python process) and
/// caches the result. A cache hit runs Python once, for the hash.
pub fn load(module: &str, options: &Options) -> Result<Loaded> {
    introspect::check_module_name(module)?;
    let mut tracked = Tracked::default();
    let mut interpreter = python::find(options.python.as_deref(), &mut tracked)?;
    interpreter.pythonpath = python::pythonpath(&options.pythonpath, &mut tracked)?;
    let limit = python::timeout(options.timeout, &mut tracked);
    tracked.file(&interpreter.path);
    let cache = match (options.use_cache, &options.cache_dir) {
        (false, _) => None,
        (true, Some(dir)) => Some(Cache::new(dir)),
        (true, None) => Some(Cache::new(Cache::default_dir(&mut tracked)?)),
    };
    if let Some(cache) = &cache {
        let hashed = hash::module_hashes(&interpreter, &[module], limit)?.remove(0);
        if let Some(manifests) = cache.get(module, &hashed.hash, options.submodules) {
            tracked.files.extend(hashed.files);
            return Ok(Loaded { manifests, tracked, cached: true, interpreter });
        }
    }
    let (manifests, files) = introspect::introspect(&interpreter, module, options.submodules, limit)?;
    tracked.files.extend(files);
    if let Some(cache) = &cache {
        // Keyed by the hash taken after the import, which is what the next query will see
        // even if importing the module wrote to its own files.
        cache.put(module, &manifests[0].hash, options.submodules, &manifests)?;
    }
    Ok(Loaded { manifests, tracked, cached: false, interpreter })
}

/// Reads manifests saved by `pymodgen inspect --json`: one manifest, or an array of them
/// (`--submodules`). Needs no Python.
pub fn load_manifest_file(path: &std::path::Path) -> Result<Vec<Manifest>> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io("reading", path, e))?;
    parse_manifest_text(&text, path)
}

/// [`load_manifest_file`] of `text`, already read from `path` (named in errors).
pub fn parse_manifest_text(text: &str, path: &std::path::Path) -> Result<Vec<Manifest>> {
    let value: serde_json::Value =
        serde_json::from_str(text).map_err(|source| Error::Manifest { path: path.into(), source })?;
    let items = match value {
        serde_json::Value::Array(items) => items,
        other => vec![other],
    };
    let mut manifests = Vec::with_capacity(items.len());
    for item in items {
        let found = item.get("schema").and_then(|s| s.as_u64()).unwrap_or(0);
        if found != u64::from(manifest::SCHEMA) {
            return Err(Error::Schema { path: path.into(), found, expected: manifest::SCHEMA });
        }
        manifests.push(serde_json::from_value(item).map_err(|source| Error::Manifest { path: path.into(), source })?);
    }
    if manifests.is_empty() {
        return Err(Error::Invalid(format!("manifest file {} holds no manifest", path.display())));
    }
    Ok(manifests)
}

/// Writes `output` under `dir`, skipping files whose contents are unchanged (so their
/// modification time stays put and build tools do not rebuild). Returns the files written.
pub fn write_output(dir: &std::path::Path, output: &Output) -> Result<Vec<PathBuf>> {
    let mut written = Vec::new();
    for (rel, contents) in &output.files {
        let path = dir.join(rel);
        if write_if_changed(&path, contents)? {
            written.push(path);
        }
    }
    Ok(written)
}

/// Writes `text` to `path` (creating its directory) unless the file already holds exactly
/// that, as cxx's `out.rs` and prost's `write_file_if_changed` do. Returns whether it wrote.
pub(crate) fn write_if_changed(path: &std::path::Path, text: &str) -> Result<bool> {
    if std::fs::read(path).is_ok_and(|old| old == text.as_bytes()) {
        return Ok(false);
    }
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(|e| Error::io("creating directory", parent, e))?;
    }
    std::fs::write(path, text).map_err(|e| Error::io("writing", path, e))?;
    Ok(true)
}
