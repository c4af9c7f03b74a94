//! Lisp names for Python names. Every name the templates print is computed here.
//!
//! - symbols are kebab-case (`array_equal` → `array-equal`, `float64` → `float64`,
//!   `FloatingPointError` → `floating-point-error`); constants are `+kebab+`;
//! - a package is the upcased dotted module name (`NUMPY.RANDOM`), or the user's
//!   `lisp_package` for the root module with its submodules under it (`NP.RANDOM`);
//! - two Python names that give the same Lisp name are resolved in a fixed order (functions,
//!   classes, methods, constants, objects; each sorted by Python name): the first keeps the
//!   name, the next ones get `-2`, `-3`, ...;
//! - a parameter whose name is a COMMON-LISP constant or special variable (`t`, `nil`, `pi`)
//!   gets `-arg` appended (its keyword stays `:t`).

use std::collections::BTreeSet;

use heck::ToKebabCase;

use super::cl_symbols::{CL_SYMBOLS, CL_VARIABLES};

/// `true` when `name` (lowercase) is an external symbol of COMMON-LISP.
pub(super) fn is_cl_symbol(name: &str) -> bool {
    CL_SYMBOLS.binary_search(&name).is_ok()
}

/// `true` when `name` (lowercase) is a COMMON-LISP constant or special variable.
fn is_cl_variable(name: &str) -> bool {
    CL_VARIABLES.binary_search(&name).is_ok()
}

/// The kebab-case Lisp spelling of a Python identifier, always a readable symbol name.
pub(super) fn kebab(python: &str) -> String {
    let mut name = python.to_kebab_case();
    if name.is_empty() {
        // `_`, `__`: nothing left once underscores are dropped.
        name = "py".to_owned();
    }
    // A name that could read as a number (`1`, `2d`) gets a prefix.
    // Any decimal digit: SBCL's reader reads `١٢` (Arabic-Indic digits) as a number too.
    if name.starts_with(|c: char| c.is_numeric()) {
        name.insert_str(0, "py-");
    }
    name
}

/// Packages a Lisp image already has (the standard ones and what the runtime loads), which
/// a Python module of the same name (`keyword`, `cffi`) must not redefine: those modules get
/// `PY.` in front (`PY.KEYWORD`).
const RESERVED_PACKAGES: &[&str] = &[
    "5AM",
    "ALEXANDRIA",
    "ASDF",
    "BABEL",
    "BORDEAUX-THREADS",
    "BT",
    "CFFI",
    "CL",
    "CL-USER",
    "COMMON-LISP",
    "COMMON-LISP-USER",
    "FIVEAM",
    "KEYWORD",
    "PY4CL2-CFFI",
    "PYMODGEN",
    "TG",
    "TRIVIAL-GARBAGE",
    "UIOP",
];

/// The package name for `module` (`numpy.random` → `NUMPY.RANDOM`); `root_package`
/// replaces the root module's name (`NP` → `NP.RANDOM`). Reserved names get `PY.`.
pub(super) fn package(module: &str, root: &str, root_package: Option<&str>) -> String {
    let name = package_name(module, root, root_package);
    let top = name.split('.').next().unwrap_or_default();
    if root_package.is_none() && RESERVED_PACKAGES.contains(&top) { format!("PY.{name}") } else { name }
}

fn package_name(module: &str, root: &str, root_package: Option<&str>) -> String {
    let upper = |s: &str| s.to_uppercase();
    match root_package {
        Some(p) if module == root => upper(p),
        Some(p) => match module.strip_prefix(root).and_then(|rest| rest.strip_prefix('.')) {
            Some(rest) => format!("{}.{}", upper(p), upper(rest)),
            None => upper(module),
        },
        None => upper(module),
    }
}

/// The ASDF system name for a root module (`numpy` → `pymodgen-numpy`).
pub(super) fn system(module: &str) -> String {
    format!("pymodgen-{}", module.to_lowercase())
}

/// A Lisp string literal's contents: `\` and `"` escaped.
pub(super) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if c == '\\' || c == '"' {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// A docstring's contents: [`escape`]d, and the characters other than newline and tab that
/// a docstring should not carry raw (CR, NUL, ESC, the bidi and zero-width characters, lone
/// surrogates already being U+FFFD) written as Python escapes (`\r`, `\x00`, `\u202e`), so
/// the file stays text and the documentation reads as Python's `repr` would show it.
pub(super) fn doc(text: &str) -> String {
    let text = text.replace("\r\n", "\n");
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '\\' | '"' => {
                out.push('\\');
                out.push(c);
            }
            '\n' | '\t' => out.push(c),
            '\r' => out.push_str("\\\\r"),
            c if crate::manifest::unprintable(c) && (c as u32) < 0x100 => {
                out.push_str(&format!("\\\\x{:02x}", c as u32))
            }
            c if crate::manifest::unprintable(c) => out.push_str(&format!("\\\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out
}

/// Hands out unique names in claim order.
#[derive(Default)]
pub(super) struct Namer {
    used: BTreeSet<String>,
}

impl Namer {
    /// `base` if free, else `base-2`, `base-3`, ...
    pub(super) fn claim(&mut self, base: &str) -> String {
        let mut name = base.to_owned();
        let mut n = 2;
        while self.used.contains(&name) {
            name = format!("{base}-{n}");
            n += 1;
        }
        self.used.insert(name.clone());
        name
    }

    /// `name` itself when free (then claimed), else `None`.
    pub(super) fn claim_exact(&mut self, name: &str) -> Option<String> {
        self.used.insert(name.to_owned()).then(|| name.to_owned())
    }
}

/// The Lisp variable for a Python parameter (kebab, CL constants and specials renamed).
pub(super) fn param(python: &str) -> String {
    let name = kebab(python);
    if is_cl_variable(&name) { format!("{name}-arg") } else { name }
}

/// The keyword (without the colon) a caller uses for a Python parameter: `:keep-dims`.
pub(super) fn keyword(python: &str) -> String {
    kebab(python)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kebab_names() {
        assert_eq!(kebab("array_equal"), "array-equal");
        assert_eq!(kebab("float64"), "float64");
        assert_eq!(kebab("FloatingPointError"), "floating-point-error");
        assert_eq!(kebab("log1p"), "log1p");
        assert_eq!(kebab("_"), "py");
    }

    #[test]
    fn cl_clashes() {
        assert!(is_cl_symbol("max") && is_cl_symbol("t") && !is_cl_symbol("float64"));
        assert_eq!(param("t"), "t-arg");
        assert_eq!(param("pi"), "pi-arg");
        assert_eq!(param("list"), "list");
        assert_eq!(keyword("t"), "t");
    }

    #[test]
    fn packages() {
        assert_eq!(package("numpy.random", "numpy", None), "NUMPY.RANDOM");
        assert_eq!(package("numpy.random", "numpy", Some("NP")), "NP.RANDOM");
        assert_eq!(package("math", "math", Some("M")), "M");
        assert_eq!(package("keyword", "keyword", None), "PY.KEYWORD");
        assert_eq!(package("cffi.api", "cffi", None), "PY.CFFI.API");
    }

    #[test]
    fn escapes() {
        assert_eq!(escape(r#"a "b" \c"#), r#"a \"b\" \\c"#);
        assert_eq!(doc("a\r\nb\rc\u{0}\u{202e}\"\t"), "a\nb\\\\rc\\\\x00\\\\u202e\\\"\t");
    }

    #[test]
    fn namer_is_deterministic() {
        let mut n = Namer::default();
        assert_eq!(n.claim("inf"), "inf");
        assert_eq!(n.claim("inf"), "inf-2");
        assert_eq!(n.claim("inf"), "inf-3");
    }
}
