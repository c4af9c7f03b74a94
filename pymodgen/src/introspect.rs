//! Runs the introspection script and turns its reply into manifests.

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use crate::hash::{self, PyError};
use crate::manifest::Manifest;
use crate::python::{self, Interpreter};
use crate::{Error, Result};

/// The script's reply, `{"types": [...], "body": Reply}` (type trees interned, see
/// `manifest::interned`): the manifests, or the error. A plain struct rather than an untagged
/// enum, which would buffer numpy's 10 MB reply as a generic tree before reading it.
#[derive(Deserialize)]
struct Reply {
    #[serde(default)]
    manifests: Vec<Manifest>,
    #[serde(default)]
    files: Vec<PathBuf>,
    /// One-line notes for the user (types that could not be read, and how to get them).
    #[serde(default)]
    notes: Vec<String>,
    #[serde(default)]
    error: Option<PyError>,
}

/// Imports `module` in a separate interpreter process and describes it (and, with
/// `submodules`, its public submodules, recursively: the requested module comes first).
/// Also returns the files its version hash covered.
pub(crate) fn introspect(
    interpreter: &Interpreter,
    module: &str,
    submodules: bool,
    limit: Duration,
) -> Result<(Vec<Manifest>, Vec<PathBuf>)> {
    let tag = hash::generator_tag();
    let flag = if submodules { "1" } else { "0" };
    let json = python::run_script(interpreter, "introspect", &[&tag, flag, module], limit, module)?;
    let reply: Reply = crate::manifest::interned::from_json(&json).map_err(|e| Error::PythonUnusable {
        path: interpreter.path.clone(),
        reason: format!("unreadable manifest for '{module}': {e}"),
    })?;
    match reply {
        Reply { error: Some(error), .. } => Err(error.into_error(module, interpreter)),
        Reply { manifests, files, notes, .. } if !manifests.is_empty() => {
            for note in notes {
                say_once(&note);
            }
            Ok((manifests, files))
        }
        Reply { .. } => {
            Err(Error::PythonUnusable { path: interpreter.path.clone(), reason: format!("no manifest for '{module}'") })
        }
    }
}

/// Prints a note of the script on stderr, once per process: a run over several modules says
/// "no types for the standard library (textwrap): typeshed-client is not installed ..." for
/// the first one only. Notes are the same when they differ only in the parenthesized list of
/// modules before their first `): `.
fn say_once(note: &str) {
    static SAID: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());
    let key = note.split_once("): ").map_or(note, |(_, cause)| cause).to_owned();
    let mut said = SAID.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    if !said.contains(&key) {
        said.push(key);
        eprintln!("pymodgen: {note}");
    }
}

/// Checks that `name` looks like a dotted Python module name before it reaches Python.
pub(crate) fn check_module_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.split('.').all(|part| {
            let mut chars = part.chars();
            chars.next().is_some_and(|c| c == '_' || c.is_alphabetic())
                && chars.all(|c| c == '_' || c.is_alphanumeric())
        });
    if ok { Ok(()) } else { Err(Error::Invalid(format!("'{name}' is not a Python module name"))) }
}

#[cfg(test)]
mod tests {
    use super::check_module_name;

    #[test]
    fn module_names() {
        for good in ["json", "os.path", "numpy.random", "_private", "é"] {
            assert!(check_module_name(good).is_ok(), "{good}");
        }
        for bad in ["", "a..b", ".a", "a.", "1abc", "a-b", "a b", "-h", "../x"] {
            assert!(check_module_name(bad).is_err(), "{bad}");
        }
    }
}
