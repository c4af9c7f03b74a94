//! The module version hash: what keys the cache and the recompile-on-change checks.
//!
//! It is computed by `python/module_hash.py` in the chosen interpreter, without importing
//! the module, and changes when any of these change: the interpreter (executable path and
//! version), the module's distribution version, the size or mtime of any of its source and
//! extension files (a package's whole tree), the stub files that type it (a `.pyi` beside a
//! single-file module, its part of a `<top>-stubs` distribution, typeshed-client's version),
//! or [`generator_tag`] (pymodgen's version and manifest schema). The Common Lisp runtime runs the same script in the live interpreter
//! to check generated code at load time.

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::python::{self, Interpreter};
use crate::{Error, Result};

/// The generator part of every hash: pymodgen's version, the manifest schema and a digest of
/// the introspection script (so a changed script never reuses manifests the old one cached).
/// Generated code records it next to the hash, so runtimes can recompute the hash.
pub fn generator_tag() -> String {
    let script = Sha256::digest(crate::python::SCRIPT.as_bytes());
    let short: String = script.iter().take(4).map(|b| format!("{b:02x}")).collect();
    format!("pymodgen-{}/schema-{}/{short}", crate::VERSION, crate::manifest::SCHEMA)
}

/// The hash of one module and the files it covered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ModuleHash {
    pub module: String,
    pub hash: String,
    /// The distribution version, when the module comes from one.
    pub version: Option<String>,
    /// Source, extension and dist-info files covered (empty for built-in modules).
    pub files: Vec<PathBuf>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Reply {
    Ok { hash: String, version: Option<String>, files: Vec<PathBuf> },
    Err { error: PyError },
}

/// A Python exception as the scripts report it.
#[derive(Clone, Debug, Deserialize)]
pub(crate) struct PyError {
    #[serde(rename = "type")]
    pub type_: String,
    pub message: String,
    pub traceback: String,
    #[serde(default)]
    pub not_found: bool,
}

impl PyError {
    pub(crate) fn into_error(self, module: &str, interpreter: &Interpreter) -> Error {
        if self.not_found {
            Error::ModuleNotFound { module: module.to_owned(), python: interpreter.path.clone() }
        } else {
            Error::Import {
                module: module.to_owned(),
                exc_type: self.type_,
                message: self.message,
                traceback: self.traceback,
            }
        }
    }
}

/// Computes the hashes of `modules` with one interpreter run.
pub fn module_hashes(interpreter: &Interpreter, modules: &[&str], limit: Duration) -> Result<Vec<ModuleHash>> {
    let tag = generator_tag();
    let mut args = vec![tag.as_str()];
    args.extend_from_slice(modules);
    let json = python::run_script(interpreter, "hash", &args, limit, &modules.join(", "))?;
    let replies: Vec<Reply> = serde_json::from_str(&json).map_err(|e| Error::PythonUnusable {
        path: interpreter.path.clone(),
        reason: format!("unreadable hash reply: {e}"),
    })?;
    modules
        .iter()
        .zip(replies)
        .map(|(module, reply)| match reply {
            Reply::Ok { hash, version, files } => Ok(ModuleHash { module: (*module).to_owned(), hash, version, files }),
            Reply::Err { error } => Err(error.into_error(module, interpreter)),
        })
        .collect()
}
