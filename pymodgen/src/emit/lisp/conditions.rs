//! A module's exception classes as Lisp condition classes: one
//! `(pymodgen:define-python-exception NAME (SUPERCLASS ...) "module.QualName" ...)` per class
//! that derives from `BaseException`, named as its constructor (`json.JSONDecodeError` →
//! `json-decode-error`), under the runtime's condition classes of Python's builtin exceptions
//! (`pymodgen:python-value-error`, `runtime/lisp/src/conditions.lisp`) and of the module's
//! own exception classes, bases before subclasses.
//!
//! Known from the manifest alone: a base is a builtin exception class or an exception class of
//! the same module. A class whose exception bases are all in other modules gets no condition
//! class (the runtime signals its nearest known ancestor's), nor does a module attribute that
//! is a builtin class (`socket.timeout`) or another name of a class already defined.

use std::collections::{BTreeMap, BTreeSet};

use super::names;
use crate::emit::exceptions::BUILTIN_EXCEPTIONS;
use crate::manifest::Manifest;

/// One `define-python-exception` form.
pub(super) struct ConditionView {
    pub name: String,
    /// The superclasses, printed: `pymodgen:python-value-error`, `error`.
    pub superclasses: String,
    /// `module.QualName`, escaped.
    pub python: String,
    pub doc: String,
}

/// The condition classes of `manifest`'s exception classes; `lisp_names[i]` is the Lisp name
/// of `manifest.classes[i]` (its constructor's).
pub(super) fn views(manifest: &Manifest, lisp_names: &[String]) -> Vec<ConditionView> {
    // qualname -> index of the first class with it
    let mut by_qualname: BTreeMap<&str, usize> = BTreeMap::new();
    for (i, c) in manifest.classes.iter().enumerate() {
        by_qualname.entry(c.qualname.as_str()).or_insert(i);
    }
    let mut out = Vec::new();
    let mut state: BTreeMap<usize, bool> = BTreeMap::new(); // index -> is an exception
    let mut visiting = BTreeSet::new();
    for i in 0..manifest.classes.len() {
        visit(manifest, lisp_names, &by_qualname, i, &mut state, &mut visiting, &mut out);
    }
    out
}

/// Decides whether class `i` is an exception (its bases first), pushing its view if so.
fn visit(
    manifest: &Manifest,
    lisp_names: &[String],
    by_qualname: &BTreeMap<&str, usize>,
    i: usize,
    state: &mut BTreeMap<usize, bool>,
    visiting: &mut BTreeSet<usize>,
    out: &mut Vec<ConditionView>,
) -> bool {
    if let Some(&known) = state.get(&i) {
        return known;
    }
    let class = &manifest.classes[i];
    if class.qualname.starts_with("builtins.")
        || by_qualname.get(class.qualname.as_str()) != Some(&i)
        || !visiting.insert(i)
    {
        state.insert(i, false);
        return false;
    }
    let mut supers = Vec::new();
    for base in &class.bases {
        if let Some(b) = base.strip_prefix("builtins.").filter(|b| BUILTIN_EXCEPTIONS.contains(b)) {
            supers.push(format!("pymodgen:python-{}", names::kebab(b)));
        } else if let Some(&j) = by_qualname.get(base.as_str())
            && visit(manifest, lisp_names, by_qualname, j, state, visiting, out)
        {
            supers.push(lisp_names[j].clone());
        }
    }
    visiting.remove(&i);
    let exception = !supers.is_empty();
    state.insert(i, exception);
    if exception {
        let module = &manifest.module;
        let doc = format!(
            "The condition class of Python's {} ({}.{}), signalled for it and its subclasses.",
            class.qualname, module, class.name
        );
        out.push(ConditionView {
            name: lisp_names[i].clone(),
            superclasses: supers.join(" "),
            python: names::escape(&class.qualname),
            doc: names::doc(&doc),
        });
    }
    exception
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The table is the runtime's (`runtime/lisp/src/conditions.lisp`, itself held to the
    /// running Python by a Lisp test). Outside the repository (the packaged crate) there is no
    /// runtime to compare with.
    #[test]
    fn builtin_exceptions_are_the_runtimes() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../runtime/lisp/src/conditions.lisp");
        let Ok(text) = std::fs::read_to_string(&path) else { return };
        let lisp: Vec<(&str, &str)> = text
            .lines()
            .filter_map(|l| l.trim().strip_prefix("(\""))
            .filter_map(|l| {
                let (python, rest) = l.split_once('"')?;
                let lisp = rest.trim().split_whitespace().next()?;
                lisp.starts_with("python-").then_some((python, lisp))
            })
            .collect();
        let names: Vec<&str> = lisp.iter().map(|(p, _)| *p).collect();
        assert_eq!(names, BUILTIN_EXCEPTIONS, "the builtin exception classes differ from the runtime's");
        for (python, name) in lisp {
            assert_eq!(format!("python-{}", names::kebab(python)), name, "the runtime's name of {python}");
        }
    }
}
