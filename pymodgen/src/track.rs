//! What a result depended on: environment variables read and files covered by the module
//! version hash. Build scripts print these as `rerun-if-*` lines; the proc macro turns the
//! files into `include_bytes!` so cargo recompiles when they change.

use std::collections::BTreeSet;
use std::ffi::OsString;
use std::path::PathBuf;

/// Environment variables and files a result depended on, sorted.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Tracked {
    pub env: BTreeSet<String>,
    pub files: BTreeSet<PathBuf>,
}

impl Tracked {
    /// Reads an environment variable and records that it was read (set or not).
    pub fn env_var(&mut self, name: &str) -> Option<OsString> {
        self.env.insert(name.to_owned());
        std::env::var_os(name).filter(|v| !v.is_empty())
    }

    /// Records a file the result depends on.
    pub fn file(&mut self, path: impl Into<PathBuf>) {
        self.files.insert(path.into());
    }

    /// Adds everything `other` recorded.
    pub fn extend(&mut self, other: &Tracked) {
        self.env.extend(other.env.iter().cloned());
        self.files.extend(other.files.iter().cloned());
    }

    /// `cargo:rerun-if-env-changed=` and `cargo:rerun-if-changed=` lines, sorted.
    pub fn rerun_if_lines(&self) -> Vec<String> {
        let env = self.env.iter().map(|v| format!("cargo:rerun-if-env-changed={v}"));
        let files = self.files.iter().map(|f| format!("cargo:rerun-if-changed={}", f.display()));
        env.chain(files).collect()
    }
}
