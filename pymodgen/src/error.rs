//! The library's one error type. Display is one line naming the module or path; detail
//! (Python traceback, OS error) is in `source()` or in the variant's fields.

use std::path::PathBuf;

/// Everything that can go wrong between finding Python and writing bindings.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// No interpreter could be found; `tried` lists what was tried, in order.
    #[error("no Python interpreter found (tried {}); install Python 3 or pass --python / set PYMODGEN_PYTHON to its path", tried.join(", "))]
    PythonNotFound { tried: Vec<String> },

    /// The interpreter was found but is not usable (not Python 3, crashed, bad output).
    #[error("python interpreter {path} is not usable: {reason}")]
    PythonUnusable { path: PathBuf, reason: String },

    /// The module does not exist for this interpreter.
    #[error("no Python module named '{module}' (interpreter {python})")]
    ModuleNotFound { module: String, python: PathBuf },

    /// Importing the module raised.
    #[error("importing '{module}' raised {exc_type}: {message}")]
    Import { module: String, exc_type: String, message: String, traceback: String },

    /// Introspection did not finish within its time limit.
    #[error("introspecting '{module}' did not finish within {seconds} s (set PYMODGEN_TIMEOUT to allow more)")]
    Timeout { module: String, seconds: u64 },

    /// Reading or writing a file failed.
    #[error("{action} {path}: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// A manifest could not be read.
    #[error("invalid manifest {path}: {source}")]
    Manifest {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },

    /// A manifest of another schema version.
    #[error("manifest {path} has schema {found}, this pymodgen reads schema {expected}; regenerate it")]
    Schema { path: PathBuf, found: u64, expected: u32 },

    /// A template failed to render.
    #[error("rendering {what}: {source}")]
    Template {
        what: String,
        #[source]
        source: askama::Error,
    },

    /// Generated Rust did not parse (a generator bug).
    #[error("generated Rust for '{module}' does not parse: {message}")]
    Syntax { module: String, message: String },

    /// Bad options or names given by the caller.
    #[error("{0}")]
    Invalid(String),
}

/// Result with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub(crate) fn io(action: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io { action, path: path.into(), source }
    }
}
