//! Bindings from a build script (prost `Config` / bindgen `Builder` style).
//!
//! ```no_run
//! // build.rs: fn main() { ... }
//! pymodgen::Builder::new().module("json").generate().unwrap();
//! ```
//! ```ignore
//! // src/main.rs
//! include!(concat!(env!("OUT_DIR"), "/json.rs")); // `pub mod json { ... }`
//! ```
//!
//! For each module it writes `$OUT_DIR/<module>.rs` (only when the contents changed) and
//! prints `cargo:rerun-if-env-changed` for every interpreter variable read and
//! `cargo:rerun-if-changed` for every file the module version hash covers, so cargo reruns
//! the script when, and only when, the bindings could change. It also links the package's
//! binaries, tests and examples with an rpath to the interpreter's libpython, and so that
//! they start that interpreter (as [`crate::link_python`] does).

use std::path::{Path, PathBuf};

use crate::emit::rust::{self, RustOptions};
use crate::{Error, Manifest, Options, Result, Tracked};

/// Generates bindings from `build.rs`.
#[derive(Clone, Debug, Default)]
pub struct Builder {
    modules: Vec<(String, Option<String>)>,
    manifest_files: Vec<PathBuf>,
    options: Options,
    rust: RustOptions,
    out_dir: Option<PathBuf>,
    emit_rpath: bool,
    cargo_output: bool,
}

/// What [`Builder::generate`] wrote.
#[derive(Clone, Debug)]
pub struct Generated {
    /// The files written or left unchanged, one per module.
    pub files: Vec<PathBuf>,
    /// Everything the result depended on (already printed as `rerun-if-*` lines).
    pub tracked: Tracked,
}

impl Builder {
    /// A builder that prints cargo directives and links with an rpath to libpython.
    pub fn new() -> Self {
        Builder { emit_rpath: true, cargo_output: true, ..Default::default() }
    }

    /// Adds a Python module (`"json"`, `"os.path"`); written as `$OUT_DIR/<module>.rs`
    /// (`json.rs`, `os.path.rs`).
    pub fn module(mut self, module: impl Into<String>) -> Self {
        self.modules.push((module.into(), None));
        self
    }

    /// Adds a module under another Rust module name: `module_as("os.path", "os_path")`.
    pub fn module_as(mut self, module: impl Into<String>, rust_name: impl Into<String>) -> Self {
        self.modules.push((module.into(), Some(rust_name.into())));
        self
    }

    /// Adds manifests saved by `pymodgen inspect --json` (no Python needed, for offline
    /// builds and docs.rs).
    pub fn manifest_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.manifest_files.push(path.into());
        self
    }

    /// Also binds public submodules, nested as Rust modules.
    pub fn submodules(mut self, yes: bool) -> Self {
        self.options.submodules = yes;
        self
    }

    /// The interpreter (else the usual search: `PYMODGEN_PYTHON`, `PYO3_PYTHON`, ...).
    pub fn python(mut self, path: impl Into<PathBuf>) -> Self {
        self.options.python = Some(path.into());
        self
    }

    /// Replaces the introspection options.
    pub fn options(mut self, options: Options) -> Self {
        self.options = options;
        self
    }

    /// Replaces the Rust emitter options.
    pub fn rust_options(mut self, options: RustOptions) -> Self {
        self.rust = options;
        self
    }

    /// The output directory (default `$OUT_DIR`).
    pub fn out_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.out_dir = Some(dir.into());
        self
    }

    /// Whether to print `cargo:rustc-link-arg=-Wl,-rpath,<libpython dir>` and, on ELF targets,
    /// `-Wl,--wrap=Py_InitializeEx` (the program starts that interpreter; default on).
    pub fn emit_rpath(mut self, yes: bool) -> Self {
        self.emit_rpath = yes;
        self
    }

    /// Whether to print cargo directives at all (default on; off outside build scripts).
    pub fn cargo_output(mut self, yes: bool) -> Self {
        self.cargo_output = yes;
        self
    }

    /// Generates and writes the bindings.
    pub fn generate(self) -> Result<Generated> {
        let out_dir = match &self.out_dir {
            Some(d) => d.clone(),
            None => std::env::var_os("OUT_DIR").map(PathBuf::from).ok_or_else(|| {
                Error::Invalid(
                    "OUT_DIR is not set: call Builder::generate from build.rs or set Builder::out_dir".into(),
                )
            })?,
        };
        let mut tracked = Tracked::default();
        // (file stem, manifests, Rust module name)
        let mut jobs: Vec<(String, Vec<Manifest>, Option<String>)> = Vec::new();
        for path in &self.manifest_files {
            tracked.file(path.clone());
            let manifests = crate::load_manifest_file(path)?;
            jobs.push((manifests[0].module.clone(), manifests, None));
        }
        for (module, rust_name) in &self.modules {
            let loaded = crate::load(module, &self.options)?;
            tracked.extend(&loaded.tracked);
            jobs.push((module.clone(), loaded.manifests, rust_name.clone()));
        }
        let mut files = Vec::new();
        let mut libdirs = std::collections::BTreeSet::new();
        for (stem, manifests, rust_name) in jobs {
            let mut options = self.rust.clone();
            options.module_name = rust_name.or(options.module_name).or_else(|| Some(rust::default_module_name(&stem)));
            let text = rust::module_file(&manifests, &options)?;
            // Named as requested: `os.path` gives `os.path.rs` even where it is `posixpath`.
            let path = out_dir.join(format!("{stem}.rs"));
            crate::write_if_changed(&path, &text)?;
            files.push(path);
            if let Some(dir) = manifests[0].python.libpython.as_deref().and_then(|l| Path::new(l).parent()) {
                libdirs.insert(dir.to_path_buf());
            }
        }
        if self.cargo_output {
            for line in tracked.rerun_if_lines() {
                println!("{line}");
            }
            if self.emit_rpath {
                for dir in &libdirs {
                    println!("cargo:rustc-link-arg=-Wl,-rpath,{}", dir.display());
                }
                if let Some(line) = crate::link::start_line() {
                    println!("{line}");
                }
            }
        }
        Ok(Generated { files, tracked })
    }
}
