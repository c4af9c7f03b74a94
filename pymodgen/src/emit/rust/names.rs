//! Python names → Rust identifiers: snake_case / UpperCamelCase, keywords escaped, no
//! shadowing of prelude or primitive names, collisions resolved deterministically.

use std::collections::BTreeSet;

use heck::{ToShoutySnakeCase, ToSnakeCase, ToUpperCamelCase};
use proc_macro2::{Ident, Span};

/// Keywords that can be written as raw identifiers (`r#type`).
const RAW_KEYWORDS: &[&str] = &[
    "abstract", "as", "async", "await", "become", "box", "break", "const", "continue", "do", "dyn", "else", "enum",
    "extern", "false", "final", "fn", "for", "if", "impl", "in", "let", "loop", "macro", "match", "mod", "move", "mut",
    "override", "priv", "pub", "ref", "return", "static", "struct", "trait", "true", "try", "type", "typeof", "unsafe",
    "unsized", "use", "virtual", "where", "while", "yield",
];

/// Names that cannot be raw identifiers, or that we never use (`gen`): they get a `_` suffix.
const SUFFIX_KEYWORDS: &[&str] = &["self", "Self", "super", "crate", "_", "gen"];

/// Prelude, primitive and pyo3 names that generated code must not shadow.
const SHADOWED: &[&str] = &[
    // primitives
    "bool",
    "char",
    "str",
    "f32",
    "f64",
    "i8",
    "i16",
    "i32",
    "i64",
    "i128",
    "isize",
    "u8",
    "u16",
    "u32",
    "u64",
    "u128",
    "usize",
    // prelude (2024)
    "Box",
    "Option",
    "Some",
    "None",
    "Result",
    "Ok",
    "Err",
    "Vec",
    "String",
    "ToString",
    "ToOwned",
    "Clone",
    "Copy",
    "Send",
    "Sync",
    "Sized",
    "Unpin",
    "Drop",
    "Fn",
    "FnMut",
    "FnOnce",
    "AsyncFn",
    "AsyncFnMut",
    "AsyncFnOnce",
    "Default",
    "Eq",
    "PartialEq",
    "Ord",
    "PartialOrd",
    "Iterator",
    "IntoIterator",
    "DoubleEndedIterator",
    "ExactSizeIterator",
    "Extend",
    "From",
    "Into",
    "TryFrom",
    "TryInto",
    "FromIterator",
    "AsRef",
    "AsMut",
    "Debug",
    "Hash",
    "drop",
    "Future",
    "IntoFuture",
    "core",
    "std",
    "alloc",
    // macros-ish and names generated code relies on
    "py",
    "Python",
    "Bound",
    "PyAny",
    "PyResult",
    "IntoPyObject",
];

/// Turns `name` into a valid, non-shadowing identifier text (no `r#`), in the given case.
pub(crate) fn base(name: &str, case: Case) -> String {
    let trimmed = name.trim_matches('_');
    let mut s = match case {
        Case::Snake => trimmed.to_snake_case(),
        Case::Camel => trimmed.to_upper_camel_case(),
        Case::Shouty => trimmed.to_shouty_snake_case(),
    };
    s.retain(|c| c.is_ascii_alphanumeric() || c == '_');
    // Dropped characters can leave `__` or an edge `_` (`k_日_a`, `日_b`): the case lints refuse
    // the first, and the second is not the name.
    while s.contains("__") {
        s = s.replace("__", "_");
    }
    let s_trimmed = s.trim_matches('_');
    if s_trimmed.len() != s.len() {
        s = s_trimmed.to_owned();
    }
    // A word that started with a letter without case (`日list`) is left lower case once that
    // letter is dropped: camel case starts upper case.
    if case == Case::Camel
        && let Some(first) = s.get(..1)
    {
        let upper = first.to_ascii_uppercase();
        s.replace_range(..1, &upper);
    }
    if s.is_empty() {
        s = match case {
            Case::Camel => "Item".into(),
            Case::Shouty => "VALUE".into(),
            Case::Snake => "item".into(),
        };
    }
    if s.starts_with(|c: char| c.is_ascii_digit()) {
        s.insert(0, if case == Case::Snake { 'n' } else { 'N' });
    }
    if SUFFIX_KEYWORDS.contains(&s.as_str()) || SHADOWED.contains(&s.as_str()) || s.starts_with("__pymodgen") {
        s.push('_');
    }
    s
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Case {
    Snake,
    Camel,
    Shouty,
}

/// Makes an identifier from text produced by [`Scope::name`] (adds `r#` for keywords).
pub(crate) fn ident(text: &str) -> Ident {
    if RAW_KEYWORDS.contains(&text) {
        Ident::new_raw(text, Span::call_site())
    } else {
        Ident::new(text, Span::call_site())
    }
}

/// One Rust namespace (a module's values or types, a type's inherent items, a function's
/// parameters): hands out unique names, first come first served, later ones get `_2`, `_3`.
#[derive(Default, Debug, Clone)]
pub(crate) struct Scope {
    taken: BTreeSet<String>,
}

impl Scope {
    pub(crate) fn new() -> Self {
        Self::default()
    }

    /// Reserves an exact name (one the generator itself uses).
    pub(crate) fn reserve(&mut self, name: &str) {
        self.taken.insert(name.to_owned());
    }

    /// Whether `name` (exact text) is taken.
    pub(crate) fn contains(&self, name: &str) -> bool {
        self.taken.contains(name)
    }

    /// A unique name for Python `name` in `case`.
    pub(crate) fn name(&mut self, name: &str, case: Case) -> String {
        let base = base(name, case);
        if case == Case::Camel { self.unique_camel(base) } else { self.unique(base) }
    }

    /// Like [`Scope::unique`], with a bare number suffix (`Bool2`), as camel case wants: a
    /// name escaped with `_` (`None_`) numbers without it (`None2`, not `None_2`, which the
    /// `non_camel_case_types` lint refuses).
    fn unique_camel(&mut self, s: String) -> String {
        if self.taken.insert(s.clone()) {
            return s;
        }
        let stem = s.trim_end_matches('_');
        let sep = if stem.ends_with(|c: char| c.is_ascii_digit()) { "_" } else { "" };
        (2..).map(|n| format!("{stem}{sep}{n}")).find(|c| self.taken.insert(c.clone())).expect("an unbounded range")
    }

    /// Makes `s` unique in this scope.
    pub(crate) fn unique(&mut self, s: String) -> String {
        let sep = if s.ends_with('_') { "" } else { "_" };
        self.unique_with(s, sep)
    }

    /// `s` if it is free, else the first free `{s}{sep}2`, `{s}{sep}3`, ...
    fn unique_with(&mut self, s: String, sep: &str) -> String {
        if self.taken.insert(s.clone()) {
            return s;
        }
        (2..).map(|n| format!("{s}{sep}{n}")).find(|c| self.taken.insert(c.clone())).expect("an unbounded range")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes() {
        let mut s = Scope::new();
        assert_eq!(s.name("type", Case::Snake), "type");
        assert_eq!(ident("type").to_string(), "r#type");
        assert_eq!(s.name("str", Case::Snake), "str_");
        assert_eq!(s.name("self", Case::Snake), "self_");
        assert_eq!(s.name("gen", Case::Snake), "gen_");
        assert_eq!(s.name("py", Case::Snake), "py_");
        assert_eq!(s.name("JSONEncoder", Case::Camel), "JsonEncoder");
        assert_eq!(s.name("str", Case::Camel), "Str");
        assert_eq!(s.name("__import__", Case::Snake), "import");
        assert_eq!(s.name("_import", Case::Snake), "import_2");
        assert_eq!(s.name("e", Case::Shouty), "E");
        assert_eq!(s.name("E", Case::Shouty), "E_2");
        assert_eq!(s.name("2d", Case::Snake), "n2d");
        assert_eq!(s.name("Option", Case::Camel), "Option_");
        // A second `None` after case folding: `None2`, never `None_2`.
        assert_eq!(s.name("None", Case::Camel), "None_");
        assert_eq!(s.name("none", Case::Camel), "None2");
        assert_eq!(s.name("NONE", Case::Camel), "None3");
        assert_eq!(s.name("x1", Case::Camel), "X1");
        assert_eq!(s.name("X1", Case::Camel), "X1_2");
        assert_eq!(s.name("日match", Case::Camel), "Match");
        assert_eq!(s.name("k_日_a", Case::Snake), "k_a");
        assert_eq!(s.name("日_b", Case::Snake), "b");
        assert_eq!(s.name("1_t", Case::Shouty), "N1_T");
    }
}
