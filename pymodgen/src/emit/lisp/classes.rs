//! A module's classes as Lisp classes: one
//! `(pymodgen:define-python-class NAME (SUPERCLASS ...) "module.QualName" :bases (...) ...)`
//! per class that is not an exception class (those are condition classes, `conditions.rs`),
//! named as its constructor (`collections.Counter` → `counter`), bases before subclasses.
//!
//! The superclasses written are those the manifest knows: the module's own classes and the
//! runtime's classes of Python's builtin classes (`pymodgen:python-dict`,
//! `runtime/lisp/src/classes.lisp`). `:bases` names every direct base in Python, so that the
//! runtime adds the classes of other modules' bases (`_io._BufferedIOBase`) once a package
//! defines them. A module attribute that is a builtin class, or another name of a class
//! already defined, gets no class.
//!
//! Inherited methods: a class gets a function for each method it inherits from a class of the
//! same module (`square-describe` for `Shape.describe`), unless its own name is taken. It is
//! the base's function itself (`%define-inherited-method`) when the module knows the class's
//! whole MRO (then nothing in between can override it) and the method is not a classmethod;
//! else a function of its own that looks the method up on the subclass (`Square.describe`).

use std::collections::{BTreeMap, BTreeSet};

use super::names;
use crate::manifest::{FunctionKind, Manifest};

/// The builtin classes the runtime has Lisp classes for (`pymodgen:python-<name>`).
const RUNTIME_BUILTIN_CLASSES: &[&str] = &[
    "type", "int", "float", "complex", "str", "bytes", "bytearray", "list", "tuple", "dict", "set", "frozenset",
    "property", "staticmethod", "classmethod",
];

/// One `define-python-class` form.
pub(super) struct ClassView {
    pub name: String,
    /// The superclasses, printed: `pymodgen:python-dict`, `base-server`.
    pub superclasses: String,
    /// `module.QualName`, escaped.
    pub python: String,
    /// The Python names of the direct bases, printed as Lisp strings.
    pub bases: String,
    pub doc: String,
}

/// The classes of `manifest` that get a Lisp class. `lisp_names[i]` is the Lisp name of
/// `manifest.classes[i]`; `exceptions` the Lisp names of the condition classes.
pub(super) fn views(manifest: &Manifest, lisp_names: &[String], exceptions: &BTreeSet<String>) -> Vec<ClassView> {
    let locals = local_classes(manifest, lisp_names, exceptions);
    let mut out = Vec::new();
    let mut done = BTreeSet::new();
    for i in 0..manifest.classes.len() {
        emit(manifest, lisp_names, &locals, i, &mut done, &mut out);
    }
    out
}

/// qualname -> index, of the classes that get a Lisp class.
fn local_classes<'m>(
    manifest: &'m Manifest,
    lisp_names: &[String],
    exceptions: &BTreeSet<String>,
) -> BTreeMap<&'m str, usize> {
    let mut by_qualname = BTreeMap::new();
    for (i, c) in manifest.classes.iter().enumerate() {
        if !c.qualname.starts_with("builtins.") && !exceptions.contains(&lisp_names[i]) {
            by_qualname.entry(c.qualname.as_str()).or_insert(i);
        }
    }
    by_qualname
}

fn emit(
    manifest: &Manifest,
    lisp_names: &[String],
    locals: &BTreeMap<&str, usize>,
    i: usize,
    done: &mut BTreeSet<usize>,
    out: &mut Vec<ClassView>,
) {
    let class = &manifest.classes[i];
    if locals.get(class.qualname.as_str()) != Some(&i) || !done.insert(i) {
        return;
    }
    let mut supers = Vec::new();
    for base in &class.bases {
        if let Some(b) = base.strip_prefix("builtins.").filter(|b| RUNTIME_BUILTIN_CLASSES.contains(b)) {
            supers.push(format!("pymodgen:python-{b}"));
        } else if let Some(&j) = locals.get(base.as_str()) {
            emit(manifest, lisp_names, locals, j, done, out);
            // (a base that is not defined yet can only be on a cycle, which two classes of
            // one qualname can make: left to the runtime, by Python name)
            if out.iter().any(|v| v.name == lisp_names[j]) && !supers.contains(&lisp_names[j]) {
                supers.push(lisp_names[j].clone());
            }
        }
    }
    let bases: Vec<String> = class.bases.iter().map(|b| format!("\"{}\"", names::escape(b))).collect();
    let exposed = format!("{}.{}", manifest.module, class.name);
    let python = if exposed == class.qualname { exposed } else { format!("{} ({exposed})", class.qualname) };
    let doc = format!(
        "The Lisp class of Python's {python}: its instances, and those of its Python subclasses that no \
         package knows, are of this class when returned to Lisp."
    );
    out.push(ClassView {
        name: lisp_names[i].clone(),
        superclasses: supers.join(" "),
        python: names::escape(&class.qualname),
        bases: bases.join(" "),
        doc: names::doc(&doc),
    });
}

/// A method class `class` inherits from `from` (indices into `manifest.classes`).
pub(super) struct Inherited {
    pub class: usize,
    pub from: usize,
    pub method: usize,
    /// The base's own function can serve (see the module comment).
    pub alias: bool,
}

/// The methods each class inherits from classes of the same module, in class order, then
/// in MRO order, then in the base's method order.
pub(super) fn inherited(manifest: &Manifest) -> Vec<Inherited> {
    let mut by_qualname: BTreeMap<&str, usize> = BTreeMap::new();
    for (i, c) in manifest.classes.iter().enumerate() {
        by_qualname.entry(c.qualname.as_str()).or_insert(i);
    }
    let mut out = Vec::new();
    for (i, c) in manifest.classes.iter().enumerate() {
        if by_qualname.get(c.qualname.as_str()) != Some(&i) {
            continue;
        }
        let (mro, complete) = local_mro(manifest, &by_qualname, i);
        let mut seen: BTreeSet<&str> = c.methods.iter().map(|m| m.name.as_str()).collect();
        for &d in &mro[1..] {
            for (k, m) in manifest.classes[d].methods.iter().enumerate() {
                if seen.insert(m.name.as_str()) {
                    out.push(Inherited {
                        class: i,
                        from: d,
                        method: k,
                        alias: complete && m.kind != FunctionKind::Classmethod,
                    });
                }
            }
        }
    }
    out
}

/// The C3 linearization of class `i` over the module's classes, and whether it is Python's
/// whole MRO (every base of every class in it is a class of the module). Falls back to a
/// depth-first order, marked incomplete, where C3 fails.
fn local_mro(manifest: &Manifest, by_qualname: &BTreeMap<&str, usize>, i: usize) -> (Vec<usize>, bool) {
    fn c3(
        manifest: &Manifest,
        by_qualname: &BTreeMap<&str, usize>,
        i: usize,
        depth: usize,
        complete: &mut bool,
    ) -> Option<Vec<usize>> {
        if depth > 64 {
            return None;
        }
        let mut seqs = Vec::new();
        let mut direct = Vec::new();
        for b in &manifest.classes[i].bases {
            match by_qualname.get(b.as_str()) {
                Some(&j) if j != i => {
                    seqs.push(c3(manifest, by_qualname, j, depth + 1, complete)?);
                    direct.push(j);
                }
                _ => *complete = false,
            }
        }
        seqs.push(direct);
        let mut result = vec![i];
        loop {
            seqs.retain(|s| !s.is_empty());
            if seqs.is_empty() {
                return Some(result);
            }
            let head = seqs.iter().map(|s| s[0]).find(|h| !seqs.iter().any(|s| s[1..].contains(h)))?;
            result.push(head);
            for s in &mut seqs {
                if s[0] == head {
                    s.remove(0);
                }
            }
        }
    }
    let mut complete = true;
    match c3(manifest, by_qualname, i, 0, &mut complete) {
        Some(mro) => (mro, complete),
        None => {
            let mut order = Vec::new();
            let mut stack = vec![i];
            while let Some(k) = stack.pop() {
                if order.contains(&k) || order.len() > 256 {
                    continue;
                }
                order.push(k);
                for b in manifest.classes[k].bases.iter().rev() {
                    if let Some(&j) = by_qualname.get(b.as_str()) {
                        stack.push(j);
                    }
                }
            }
            (order, false)
        }
    }
}
