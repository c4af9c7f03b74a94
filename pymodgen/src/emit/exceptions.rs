//! Which classes of a module are exception classes: those deriving from `BaseException`,
//! known from the manifest alone (a base is one of Python's builtin exception classes, or an
//! exception class of the same manifest). Generated Lisp makes them condition classes
//! (`lisp/conditions.rs`), generated Rust gives their wrappers `is_instance`/`from_err`.

use std::collections::BTreeMap;

use crate::manifest::Manifest;

/// The public exception classes of Python's `builtins` (3.10–3.13), as in the Lisp
/// runtime's table (`runtime/lisp/src/conditions.lisp`; a test holds the two equal).
pub(crate) const BUILTIN_EXCEPTIONS: &[&str] = &[
    "BaseException",
    "Exception",
    "ArithmeticError",
    "AssertionError",
    "AttributeError",
    "BaseExceptionGroup",
    "OSError",
    "BlockingIOError",
    "ConnectionError",
    "BrokenPipeError",
    "BufferError",
    "Warning",
    "BytesWarning",
    "ChildProcessError",
    "ConnectionAbortedError",
    "ConnectionRefusedError",
    "ConnectionResetError",
    "DeprecationWarning",
    "EOFError",
    "EncodingWarning",
    "ExceptionGroup",
    "FileExistsError",
    "FileNotFoundError",
    "FloatingPointError",
    "FutureWarning",
    "GeneratorExit",
    "ImportError",
    "ImportWarning",
    "SyntaxError",
    "IndentationError",
    "LookupError",
    "IndexError",
    "InterruptedError",
    "IsADirectoryError",
    "KeyError",
    "KeyboardInterrupt",
    "MemoryError",
    "ModuleNotFoundError",
    "NameError",
    "NotADirectoryError",
    "RuntimeError",
    "NotImplementedError",
    "OverflowError",
    "PendingDeprecationWarning",
    "PermissionError",
    "ProcessLookupError",
    "PythonFinalizationError",
    "RecursionError",
    "ReferenceError",
    "ResourceWarning",
    "RuntimeWarning",
    "StopAsyncIteration",
    "StopIteration",
    "SyntaxWarning",
    "SystemError",
    "SystemExit",
    "TabError",
    "TimeoutError",
    "TypeError",
    "UnboundLocalError",
    "ValueError",
    "UnicodeError",
    "UnicodeDecodeError",
    "UnicodeEncodeError",
    "UnicodeTranslateError",
    "UnicodeWarning",
    "UserWarning",
    "ZeroDivisionError",
];

/// For each class of `manifest` (same order), whether it is an exception class. A class whose
/// exception bases are all in other modules is not known to be one.
pub(crate) fn flags(manifest: &Manifest) -> Vec<bool> {
    let by_qualname: BTreeMap<&str, usize> =
        manifest.classes.iter().enumerate().rev().map(|(i, c)| (c.qualname.as_str(), i)).collect();
    let mut state: Vec<Option<bool>> = vec![None; manifest.classes.len()];
    for i in 0..manifest.classes.len() {
        visit(manifest, &by_qualname, i, &mut state, 0);
    }
    state.into_iter().map(|s| s.unwrap_or(false)).collect()
}

fn visit(
    manifest: &Manifest,
    by_qualname: &BTreeMap<&str, usize>,
    i: usize,
    state: &mut [Option<bool>],
    depth: usize,
) -> bool {
    if let Some(known) = state[i] {
        return known;
    }
    if depth > manifest.classes.len() {
        return false; // a cycle (a manifest cannot have one, but a hand-written one could)
    }
    let class = &manifest.classes[i];
    let known = !class.qualname.starts_with("builtins.")
        && class.bases.iter().any(|base| match base.strip_prefix("builtins.") {
            Some(b) => BUILTIN_EXCEPTIONS.contains(&b),
            None => by_qualname
                .get(base.as_str())
                .is_some_and(|&j| j != i && visit(manifest, by_qualname, j, state, depth + 1)),
        });
    state[i] = Some(known);
    known
}
