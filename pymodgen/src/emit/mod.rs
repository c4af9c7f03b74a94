//! Emitters: manifest(s) → files of a binding package. Emitters never call Python.

mod exceptions;
pub mod lisp;
pub mod rust;

use std::path::PathBuf;

use crate::Result;
use crate::manifest::Manifest;

/// The language bindings are generated for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
#[non_exhaustive]
pub enum Lang {
    Rust,
    Lisp,
}

impl std::fmt::Display for Lang {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Lang::Rust => "rust",
            Lang::Lisp => "lisp",
        })
    }
}

/// Options for the emitters; each language keeps its own in its module.
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub struct EmitOptions {
    pub rust: rust::RustOptions,
    pub lisp: lisp::LispOptions,
}

/// The files of one binding package, relative to its directory, sorted by path.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Output {
    pub files: Vec<(PathBuf, String)>,
}

/// Emits one binding package for `manifests` (the requested module first, then its
/// submodules, as [`crate::load`] returns them).
pub fn emit(manifests: &[Manifest], lang: Lang, options: &EmitOptions) -> Result<Output> {
    let mut output = match lang {
        Lang::Rust => rust::emit(manifests, &options.rust)?,
        Lang::Lisp => lisp::emit(manifests, &options.lisp)?,
    };
    output.files.sort();
    Ok(output)
}
