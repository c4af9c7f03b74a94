//! Python types (the manifest's [`Type`] trees) → Rust types: the table of the book's
//! "Type tables" page (Rust).
//!
//! Returns are extracted by the runtime (`__private::returned`), so a typed return is sound
//! only when every value the stub allows converts: `float` takes an `int` (PEP 484's numeric
//! tower), `Sequence[T]` is any sequence, a class is checked with `isinstance`. Whatever has
//! no such mapping (a union of unrelated types, a protocol, an unbound `TypeVar`, `Any`)
//! stays `Bound<PyAny>`. Parameters are typed only with scalars and `Literal` enums; anything
//! else takes `impl IntoPyObject`, so every value Python accepts can still be passed.

use std::cell::RefCell;
use std::collections::BTreeMap;

use proc_macro2::TokenStream;
use quote::quote;

use super::names::{Case, Scope, ident};
use crate::manifest::{Literal, Type};

/// A Rust type a Python value converts to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum R {
    /// `Bound<PyAny>`: anything.
    Any,
    /// `i64` (`int`, `bool`, numpy's signed integers).
    Int,
    /// `f64` (`float`, `int`).
    Float,
    Bool,
    /// `String` (`str`).
    Str,
    /// `Vec<u8>` (`bytes`, `bytearray`).
    Bytes,
    /// A primitive for a numpy scalar type (`f32`, `u8`, ...).
    Prim(&'static str),
    Option(Box<R>),
    /// `Vec<T>` (`list[T]`, `Sequence[T]`, `tuple[T, ...]`).
    List(Box<R>),
    Tuple(Vec<R>),
    /// `HashMap<K, V>` (`dict[K, V]` with a hashable `K`).
    Map(Box<R>, Box<R>),
    /// `HashSet<T>` (`set[T]`, `frozenset[T]`).
    Set(Box<R>),
    /// `Bound<'py, pyo3::types::X>` (`dict`, `list`, `tuple`, iterators).
    Py(&'static str),
    /// A generated `Literal` enum, by its path from the current module.
    Enum(Vec<String>),
    /// A generated class wrapper, by its path from the root; `true` for a subclass of
    /// `numpy.ndarray` (which joins with arrays).
    Wrapper(Vec<String>, bool),
    /// A numpy array (`NDArray[float64]` → `PyArrayDyn<f64>`); `None`: any dtype
    /// (`PyUntypedArray`).
    Array(Option<&'static str>),
}

/// numpy scalar types and the Rust type of each, as an array element (`numpy.dtype[X]` →
/// `PyArrayDyn<T>`, the types rust-numpy has) and as a scalar (the complex ones stay Python
/// objects: see [`numpy_scalar`]).
const NUMPY_ELEMENTS: &[(&str, &str)] = &[
    ("numpy.float64", "f64"),
    ("numpy.float32", "f32"),
    ("numpy.int8", "i8"),
    ("numpy.int16", "i16"),
    ("numpy.int32", "i32"),
    ("numpy.int64", "i64"),
    ("numpy.intp", "isize"),
    ("numpy.uint8", "u8"),
    ("numpy.uint16", "u16"),
    ("numpy.uint32", "u32"),
    ("numpy.uint64", "u64"),
    ("numpy.uintp", "usize"),
    ("numpy.bool", "bool"),
    ("numpy.complex128", "Complex64"),
    ("numpy.complex64", "Complex32"),
];

/// The Rust primitive a numpy scalar type converts to without loss of range.
fn numpy_scalar(name: &str) -> Option<&'static str> {
    match name {
        "numpy.float16" => Some("f32"),
        "numpy.bool_" => Some("bool"),
        _ => NUMPY_ELEMENTS.iter().find(|(n, e)| *n == name && !e.starts_with("Complex")).map(|(_, e)| *e),
    }
}

/// The Rust type of `numpy.floating[_64Bit]`, `numpy.signedinteger[_32Bit]`, ... (numpy's
/// stubs spell the sized aliases this way), or of the unsized abstract types that still fit
/// one Rust type (`floating` → `f64`).
fn numpy_sized(name: &str, args: &[Type]) -> Option<&'static str> {
    let bits = match args {
        [] => None,
        [Type::Class { name, args }] if args.is_empty() => Some(name.strip_prefix("numpy._typing._")?),
        _ => return None,
    };
    Some(match (name, bits) {
        ("numpy.floating", None | Some("64Bit")) => "f64",
        ("numpy.floating", Some("32Bit" | "16Bit")) => "f32",
        ("numpy.signedinteger", None | Some("64Bit")) => "i64",
        ("numpy.signedinteger", Some("32Bit")) => "i32",
        ("numpy.signedinteger", Some("16Bit")) => "i16",
        ("numpy.signedinteger", Some("8Bit")) => "i8",
        ("numpy.unsignedinteger", None | Some("64Bit")) => "u64",
        ("numpy.unsignedinteger", Some("32Bit")) => "u32",
        ("numpy.unsignedinteger", Some("16Bit")) => "u16",
        ("numpy.unsignedinteger", Some("8Bit")) => "u8",
        _ => return None,
    })
}

/// The `Literal` enums of one module: values → Rust name, in the order first used.
#[derive(Default)]
pub(crate) struct Enums {
    by_values: BTreeMap<Vec<String>, usize>,
    pub(crate) list: Vec<LiteralEnum>,
}

/// A generated enum for a `Literal` of strings.
pub(crate) struct LiteralEnum {
    pub(crate) name: String,
    pub(crate) values: Vec<String>,
}

/// Maps types in one module. `classes` are the wrappers of the whole output (Python qualname
/// → path from the root), `here` the current module's path.
pub(crate) struct Typer<'a> {
    pub(crate) rt: TokenStream,
    pub(crate) classes: &'a BTreeMap<String, Vec<String>>,
    /// The qualnames of the classes that derive from `numpy.ndarray`.
    arrays: &'a std::collections::BTreeSet<String>,
    pub(crate) here: Vec<String>,
    /// Map `numpy.ndarray` to rust-numpy types (`RustOptions::numpy_arrays`).
    pub(crate) numpy: bool,
    /// The module's `Literal` enums, made as they are first used.
    enums: RefCell<Enums>,
    /// The module's type namespace (classes, builders, enums).
    scope: RefCell<Scope>,
    /// Whether a numpy array type was used.
    pub(crate) uses_numpy: std::cell::Cell<bool>,
}

/// Where a type is used, to name an enum made for it.
#[derive(Clone, Copy)]
pub(crate) struct Site<'s> {
    /// The function (`mode`, `Vec.scaled`).
    pub(crate) function: &'s str,
    /// The parameter, or `None` for the return value.
    pub(crate) param: Option<&'s str>,
}

impl<'a> Typer<'a> {
    pub(crate) fn new(
        rt: TokenStream,
        classes: &'a BTreeMap<String, Vec<String>>,
        arrays: &'a std::collections::BTreeSet<String>,
        here: Vec<String>,
        numpy: bool,
        scope: Scope,
    ) -> Self {
        Typer {
            rt,
            classes,
            arrays,
            here,
            numpy,
            enums: RefCell::default(),
            scope: RefCell::new(scope),
            uses_numpy: std::cell::Cell::new(false),
        }
    }

    /// A new unique name in the module's type namespace (a builder type).
    pub(crate) fn type_name(&self, name: &str, case: Case) -> String {
        self.scope.borrow_mut().name(name, case)
    }

    /// The enums made, in the order they were first used.
    pub(crate) fn into_enums(self) -> Vec<LiteralEnum> {
        self.enums.into_inner().list
    }

    /// The Rust type of a parameter of type `t`, or `None` for `impl IntoPyObject`.
    pub(crate) fn param(&self, t: Option<&Type>, site: Site<'_>) -> Option<TokenStream> {
        let r = match t? {
            Type::Class { name, args } if args.is_empty() => match name.as_str() {
                "builtins.int" => R::Int,
                "builtins.float" => R::Float,
                "builtins.bool" => R::Bool,
                "builtins.str" => return Some(quote!(&::core::primitive::str)),
                "builtins.bytes" => return Some(quote!(&[u8])),
                _ => return None,
            },
            Type::Literal { values } => match self.literal(values, site)? {
                r @ (R::Int | R::Bool | R::Enum(_)) => r,
                _ => return None,
            },
            _ => return None,
        };
        Some(self.tokens(&r))
    }

    /// The Rust type of a return (or attribute) of type `t`: `None` for `Bound<PyAny>`.
    /// `class` is the wrapper `Self` means, in a method.
    pub(crate) fn out(&self, t: Option<&Type>, class: Option<&[String]>, site: Site<'_>) -> Option<R> {
        match self.map(t?, class, site) {
            R::Any => None,
            r => Some(r),
        }
    }

    fn map(&self, t: &Type, class: Option<&[String]>, site: Site<'_>) -> R {
        match t {
            Type::Class { name, args } => self.class(name, args, class, site),
            Type::Union { of } => {
                let none = of.iter().any(|t| matches!(t, Type::None));
                // `NoReturn | T` is `T`: no value has type NoReturn.
                let mut rest = of.iter().filter(|t| !matches!(t, Type::None) && !is_never(t));
                let Some(first) = rest.next() else { return R::Any };
                let joined = rest.fold(self.map(first, class, site), |acc, t| join(acc, self.map(t, class, site)));
                match joined {
                    R::Any => R::Any,
                    r if none => R::Option(Box::new(r)),
                    r => r,
                }
            }
            Type::Literal { values } => self.literal(values, site).unwrap_or(R::Any),
            Type::Typevar { bound: Some(bound), .. } => self.map(bound, class, site),
            Type::Typevar { constraints, .. } if !constraints.is_empty() => {
                self.map(&Type::Union { of: constraints.clone() }, class, site)
            }
            Type::SelfType => class.map_or(R::Any, |c| {
                let array = self.arrays.iter().any(|q| self.classes.get(q).is_some_and(|p| p == c));
                R::Wrapper(c.to_vec(), array)
            }),
            _ => R::Any,
        }
    }

    fn class(&self, name: &str, args: &[Type], class: Option<&[String]>, site: Site<'_>) -> R {
        let arg = |i: usize| args.get(i).map_or(R::Any, |t| self.map(t, class, site));
        match (name, args.len()) {
            ("builtins.int", _) => R::Int,
            ("builtins.float", _) => R::Float,
            ("builtins.bool", _) => R::Bool,
            ("builtins.str", _) => R::Str,
            ("builtins.bytes" | "builtins.bytearray", _) => R::Bytes,
            ("builtins.list", 0) => R::Py("PyList"),
            ("builtins.dict", 0) => R::Py("PyDict"),
            ("builtins.tuple", 0) => R::Py("PyTuple"),
            ("builtins.list" | "collections.abc.Sequence" | "collections.abc.MutableSequence", 1) => {
                R::List(Box::new(arg(0)))
            }
            ("builtins.tuple", 2) if matches!(args[1], Type::Ellipsis) => R::List(Box::new(arg(0))),
            ("builtins.tuple", 1..=12) if !args.iter().any(|a| matches!(a, Type::Ellipsis)) => {
                R::Tuple((0..args.len()).map(arg).collect())
            }
            ("builtins.dict", 2) => {
                let key = arg(0);
                if hashable(&key) { R::Map(Box::new(key), Box::new(arg(1))) } else { R::Py("PyDict") }
            }
            ("builtins.set", 1) | ("builtins.frozenset", 1) => {
                let item = arg(0);
                match (hashable(&item), name) {
                    (true, _) => R::Set(Box::new(item)),
                    (false, "builtins.set") => R::Py("PySet"),
                    (false, _) => R::Py("PyFrozenSet"),
                }
            }
            ("collections.abc.Iterator" | "collections.abc.Generator", _) => R::Py("PyIterator"),
            ("numpy.ndarray", _) if self.numpy => {
                self.uses_numpy.set(true);
                R::Array(array_element(args))
            }
            _ => {
                if let Some(prim) = numpy_scalar(name) {
                    return prim_r(prim);
                }
                if let Some(prim) = numpy_sized(name, args) {
                    return prim_r(prim);
                }
                match self.classes.get(name) {
                    Some(path) => R::Wrapper(path.clone(), self.numpy && self.arrays.contains(name)),
                    None => R::Any,
                }
            }
        }
    }

    /// `Literal[...]`: strings → an enum, integers → `i64`, booleans → `bool`.
    fn literal(&self, values: &[Literal], site: Site<'_>) -> Option<R> {
        if values.iter().all(|v| matches!(v, Literal::Int(_))) {
            return values.iter().all(|v| matches!(v, Literal::Int(s) if s.parse::<i64>().is_ok())).then_some(R::Int);
        }
        if values.iter().all(|v| matches!(v, Literal::Bool(_))) {
            return Some(R::Bool);
        }
        if values.iter().any(|v| matches!(v, Literal::Int(_)))
            && values.iter().all(|v| matches!(v, Literal::Int(_) | Literal::Bool(_)))
        {
            return Some(R::Int);
        }
        let strings: Vec<String> = values
            .iter()
            .map(|v| match v {
                Literal::Str(s) => Some(s.clone()),
                _ => None,
            })
            .collect::<Option<_>>()?;
        let mut key = strings.clone();
        key.sort();
        key.dedup();
        let mut enums = self.enums.borrow_mut();
        if let Some(&i) = enums.by_values.get(&key) {
            return Some(R::Enum(vec![enums.list[i].name.clone()]));
        }
        let name = enum_name(&mut self.scope.borrow_mut(), site);
        let mut values = Vec::new();
        for s in strings {
            if !values.contains(&s) {
                values.push(s);
            }
        }
        let i = enums.list.len();
        enums.list.push(LiteralEnum { name: name.clone(), values });
        enums.by_values.insert(key, i);
        Some(R::Enum(vec![name]))
    }

    /// The Rust type, with `'py` for Python objects.
    pub(crate) fn tokens(&self, r: &R) -> TokenStream {
        let rt = &self.rt;
        let bound = |inner: TokenStream| quote!(#rt::pyo3::Bound<'py, #inner>);
        match r {
            R::Any => bound(quote!(#rt::pyo3::PyAny)),
            R::Int => quote!(i64),
            R::Float => quote!(f64),
            R::Bool => quote!(bool),
            R::Str => quote!(::std::string::String),
            R::Bytes => quote!(::std::vec::Vec<u8>),
            R::Prim(p) => {
                let p = ident(p);
                quote!(#p)
            }
            R::Option(t) => {
                let t = self.tokens(t);
                quote!(::core::option::Option<#t>)
            }
            R::List(t) => {
                let t = self.tokens(t);
                quote!(::std::vec::Vec<#t>)
            }
            R::Tuple(items) => {
                let items = items.iter().map(|t| self.tokens(t));
                quote!((#(#items,)*))
            }
            R::Map(k, v) => {
                let (k, v) = (self.tokens(k), self.tokens(v));
                quote!(::std::collections::HashMap<#k, #v>)
            }
            R::Set(t) => {
                let t = self.tokens(t);
                quote!(::std::collections::HashSet<#t>)
            }
            R::Py(name) => {
                let name = ident(name);
                bound(quote!(#rt::pyo3::types::#name))
            }
            R::Enum(path) => {
                let segs = path.iter().map(|s| ident(s));
                quote!(#(#segs)::*)
            }
            R::Wrapper(path, _) => {
                let path = super::relative_path(&self.here, path);
                quote!(#path<'py>)
            }
            R::Array(Some(elem)) => {
                let elem = match *elem {
                    "Complex64" | "Complex32" => {
                        let e = ident(elem);
                        quote!(#rt::numpy::#e)
                    }
                    e => {
                        let e = ident(e);
                        quote!(#e)
                    }
                };
                bound(quote!(#rt::numpy::PyArrayDyn<#elem>))
            }
            R::Array(None) => bound(quote!(#rt::numpy::PyUntypedArray)),
        }
    }
}

fn prim_r(prim: &'static str) -> R {
    match prim {
        "i64" => R::Int,
        "f64" => R::Float,
        "bool" => R::Bool,
        p => R::Prim(p),
    }
}

/// The element type of `numpy.ndarray[shape, numpy.dtype[X]]`, when rust-numpy has one.
fn array_element(args: &[Type]) -> Option<&'static str> {
    let Some(Type::Class { name, args }) = args.get(1) else { return None };
    if name != "numpy.dtype" {
        return None;
    }
    let Some(Type::Class { name, args }) = args.first() else { return None };
    if let Some((_, e)) = NUMPY_ELEMENTS.iter().find(|(n, _)| n == name) {
        return Some(e);
    }
    // `floating[_64Bit]`, but not the unsized `floating` (any width).
    if args.is_empty() {
        return None;
    }
    numpy_sized(name, args)
}

/// Whether `t` is `typing.NoReturn` / `typing.Never`.
pub(crate) fn is_never(t: &Type) -> bool {
    matches!(t, Type::Class { name, .. } if name == "typing.NoReturn" || name == "typing.Never")
}

/// The one Rust type that holds values of both `a` and `b`, else `Any`. Containers join
/// item by item (`list[str] | list[bytes]` → `Vec<Bound<PyAny>>`).
fn join(a: R, b: R) -> R {
    match (a, b) {
        (a, b) if a == b => a,
        (R::List(a), R::List(b)) => R::List(Box::new(join(*a, *b))),
        (R::Tuple(a), R::Tuple(b)) if a.len() == b.len() => {
            R::Tuple(a.into_iter().zip(b).map(|(a, b)| join(a, b)).collect())
        }
        (R::Int | R::Bool, R::Int | R::Bool) => R::Int,
        (R::Int | R::Bool | R::Float, R::Int | R::Bool | R::Float) => R::Float,
        (R::Array(_) | R::Wrapper(_, true), R::Array(_) | R::Wrapper(_, true)) => R::Array(None),
        (R::Option(a), b) | (b, R::Option(a)) => match join(*a, b) {
            R::Any => R::Any,
            r => R::Option(Box::new(r)),
        },
        _ => R::Any,
    }
}

/// Whether the Rust type is `Eq + Hash` (a map key, a set item).
fn hashable(r: &R) -> bool {
    match r {
        R::Int | R::Bool | R::Str | R::Bytes | R::Enum(_) => true,
        R::Prim(p) => !p.starts_with('f'),
        R::Tuple(items) => items.iter().all(hashable),
        R::Option(t) => hashable(t),
        _ => false,
    }
}

/// A name for a new enum: the parameter's (`Order`), else `{function}{param}`
/// (`SortOrder`), `{function}Result` for a return, then numbered.
fn enum_name(scope: &mut Scope, site: Site<'_>) -> String {
    let function = site.function.replace('.', "_");
    let candidates = match site.param {
        Some(p) => vec![p.to_owned(), format!("{function}_{p}")],
        None => vec![format!("{function}_result")],
    };
    for c in &candidates {
        let name = super::names::base(c, Case::Camel);
        if !scope.contains(&name) {
            scope.reserve(&name);
            return name;
        }
    }
    scope.name(candidates.last().expect("one candidate"), Case::Camel)
}

/// The items of one `Literal` enum.
pub(crate) fn enum_items(rt: &TokenStream, private: &TokenStream, module: &str, e: &LiteralEnum) -> TokenStream {
    let name = ident(&e.name);
    let mut variants = Scope::new();
    let idents: Vec<_> = e.values.iter().map(|v| ident(&variants.name(&variant_text(v), Case::Camel))).collect();
    let docs = e
        .values
        .iter()
        .map(|v| super::docs::attr(&format!(" `{}`", Literal::Str(v.clone()).python().replace('`', "'"))));
    let values = &e.values;
    let n = proc_macro2::Literal::usize_unsuffixed(values.len());
    let text: Vec<String> = e.values.iter().map(|v| Literal::Str(v.clone()).python()).collect();
    let doc = super::docs::attr(&format!(
        " The Python values `Literal[{}]` (a type of `{module}`'s stubs), as an enum: it converts to and from Python's `str`.",
        text.join(", ").replace('`', "'")
    ));
    quote! {
        #[doc = #doc]
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum #name {
            #(#[doc = #docs] #idents,)*
        }
        impl #name {
            /// Every variant, in the stub's order.
            pub const ALL: [Self; #n] = [#(Self::#idents),*];
            /// The Python strings, in the order of [`Self::ALL`].
            pub const VALUES: [&'static str; #n] = [#(#values),*];
            /// The Python string.
            #[inline]
            pub const fn as_str(self) -> &'static str {
                Self::VALUES[self as usize]
            }
        }
        impl ::core::fmt::Display for #name {
            fn fmt(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                f.write_str(self.as_str())
            }
        }
        // `Self::Error` and `Self::Output` are not used: a variant may be named `Error`.
        impl<'py> #rt::pyo3::IntoPyObject<'py> for #name {
            type Target = #rt::pyo3::types::PyString;
            type Output = #rt::pyo3::Bound<'py, #rt::pyo3::types::PyString>;
            type Error = ::core::convert::Infallible;
            #[inline]
            fn into_pyobject(
                self,
                py: #rt::pyo3::Python<'py>,
            ) -> ::core::result::Result<#rt::pyo3::Bound<'py, #rt::pyo3::types::PyString>, ::core::convert::Infallible> {
                ::core::result::Result::Ok(#rt::pyo3::types::PyString::new(py, self.as_str()))
            }
        }
        impl<'a, 'py> #rt::pyo3::FromPyObject<'a, 'py> for #name {
            type Error = #rt::pyo3::PyErr;
            #[inline]
            fn extract(obj: #rt::pyo3::Borrowed<'a, 'py, #rt::pyo3::PyAny>) -> #rt::pyo3::PyResult<Self> {
                #private::literal_index(obj, &Self::VALUES).map(|i| Self::ALL[i])
            }
        }
    }
}

/// Text for a variant name: `'C'` → `C`, `'same_kind'` → `SameKind`, `''` → `Empty`,
/// `'<b1'` → `Lt_b1`-like names made of what is left.
fn variant_text(value: &str) -> String {
    if value.is_empty() {
        return "empty".into();
    }
    let mut out = String::new();
    for c in value.chars() {
        match c {
            c if c.is_ascii_alphanumeric() || c == '_' => out.push(c),
            '<' => out.push_str("_lt_"),
            '>' => out.push_str("_gt_"),
            '=' => out.push_str("_eq_"),
            '|' => out.push_str("_bar_"),
            '?' => out.push_str("_q_"),
            ' ' | '-' | '.' => out.push('_'),
            // The characters a value is likely to hold by a name a reader knows (`"\r\n"`
            // is `CrLf`); any other by its code point (`U00e9`).
            '\t' => out.push_str("_tab_"),
            '\n' => out.push_str("_lf_"),
            '\r' => out.push_str("_cr_"),
            '+' => out.push_str("_plus_"),
            '*' => out.push_str("_star_"),
            '/' => out.push_str("_slash_"),
            '%' => out.push_str("_percent_"),
            ',' => out.push_str("_comma_"),
            ':' => out.push_str("_colon_"),
            '&' => out.push_str("_amp_"),
            '!' => out.push_str("_bang_"),
            '~' => out.push_str("_tilde_"),
            '^' => out.push_str("_caret_"),
            c => out.push_str(&format!("_u{:04x}_", c as u32)),
        }
    }
    // Case matters in Python (`'C'` and `'c'` are two values): keep it visible.
    out
}

/// The Python type of a return for messages: the stub's text, with what a `TypeVar` or
/// `Self` stands for (`_S (int | float)`, `Self (pymodgen_typed.Vec)`).
pub(crate) fn expected_text(t: &Type, class: Option<&str>) -> String {
    match t {
        Type::Typevar { name, bound: Some(bound), .. } => format!("{name} (bound {})", bound.python()),
        Type::Typevar { name, constraints, .. } if !constraints.is_empty() => {
            let of: Vec<String> = constraints.iter().map(Type::python).collect();
            format!("{name} ({})", of.join(" | "))
        }
        Type::SelfType => class.map_or_else(|| "Self".to_owned(), |c| format!("Self ({c})")),
        t => t.python(),
    }
}

/// The qualnames of the classes of `manifests` that derive from `numpy.ndarray`.
pub(crate) fn array_classes(manifests: &[crate::manifest::Manifest]) -> std::collections::BTreeSet<String> {
    let bases: BTreeMap<&str, &[String]> =
        manifests.iter().flat_map(|m| &m.classes).map(|c| (c.qualname.as_str(), c.bases.as_slice())).collect();
    let mut arrays = std::collections::BTreeSet::from(["numpy.ndarray".to_owned()]);
    loop {
        let before = arrays.len();
        for (q, bs) in &bases {
            if bs.iter().any(|b| arrays.contains(b)) {
                arrays.insert((*q).to_owned());
            }
        }
        if arrays.len() == before {
            return arrays;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn class(name: &str, args: Vec<Type>) -> Type {
        Type::Class { name: name.into(), args }
    }

    fn out(t: &Type) -> Option<R> {
        let classes = BTreeMap::from([("m.C".to_owned(), vec!["C".to_owned()])]);
        let arrays = std::collections::BTreeSet::new();
        let typer = Typer::new(quote!(::rt), &classes, &arrays, vec![], true, Scope::new());
        typer.out(Some(t), None, Site { function: "f", param: None })
    }

    /// The numeric tower and the soundness rules of the table.
    #[test]
    fn unions_join_to_one_rust_type_or_stay_dynamic() {
        let (int, float, str_) =
            (class("builtins.int", vec![]), class("builtins.float", vec![]), class("builtins.str", vec![]));
        assert_eq!(out(&Type::Union { of: vec![int.clone(), float.clone()] }), Some(R::Float));
        assert_eq!(out(&Type::Union { of: vec![class("builtins.bool", vec![]), int.clone()] }), Some(R::Int));
        assert_eq!(out(&Type::Union { of: vec![int.clone(), str_.clone()] }), None);
        assert_eq!(out(&Type::Union { of: vec![str_.clone(), Type::None] }), Some(R::Option(Box::new(R::Str))));
        let never = class("typing.NoReturn", vec![]);
        assert_eq!(out(&Type::Union { of: vec![never, int.clone()] }), Some(R::Int));
        let lists = Type::Union {
            of: vec![
                class("builtins.list", vec![str_.clone()]),
                class("builtins.list", vec![class("builtins.bytes", vec![])]),
            ],
        };
        assert_eq!(out(&lists), Some(R::List(Box::new(R::Any))));
        // A dict whose keys Rust cannot hash stays a Python dict.
        assert_eq!(out(&class("builtins.dict", vec![float.clone(), int.clone()])), Some(R::Py("PyDict")));
        assert_eq!(
            out(&class("builtins.dict", vec![str_.clone(), int.clone()])),
            Some(R::Map(Box::new(R::Str), Box::new(R::Int)))
        );
        // An unbound TypeVar is anything; a constrained one is the union of its constraints.
        assert_eq!(out(&Type::Typevar { name: "T".into(), bound: None, constraints: vec![] }), None);
        let constrained =
            Type::Typevar { name: "S".into(), bound: None, constraints: vec![int.clone(), float.clone()] };
        assert_eq!(out(&constrained), Some(R::Float));
        assert_eq!(out(&class("m.C", vec![int.clone()])), Some(R::Wrapper(vec!["C".into()], false)));
        assert_eq!(out(&class("m.Unknown", vec![])), None);
        assert_eq!(out(&Type::SelfType), None, "Self outside a class");
        let ndarray =
            |dtype: &str| class("numpy.ndarray", vec![Type::Any, class("numpy.dtype", vec![class(dtype, vec![])])]);
        assert_eq!(out(&ndarray("numpy.float64")), Some(R::Array(Some("f64"))));
        assert_eq!(out(&ndarray("numpy.floating")), Some(R::Array(None)));
        assert_eq!(
            out(&Type::Union { of: vec![ndarray("numpy.float64"), ndarray("numpy.int32")] }),
            Some(R::Array(None))
        );
        let sized = class("numpy.signedinteger", vec![class("numpy._typing._32Bit", vec![])]);
        assert_eq!(out(&sized), Some(R::Prim("i32")));
    }

    #[test]
    fn literal_enums_are_named_after_their_use_and_shared() {
        let classes = BTreeMap::new();
        let arrays = std::collections::BTreeSet::new();
        let mut scope = Scope::new();
        scope.reserve("Order");
        let typer = Typer::new(quote!(::rt), &classes, &arrays, vec![], false, scope);
        let lit = |v: &[&str]| Type::Literal { values: v.iter().map(|s| Literal::Str((*s).into())).collect() };
        let site = |p| Site { function: "sort", param: Some(p) };
        assert!(typer.param(Some(&lit(&["C", "F"])), site("order")).is_some());
        assert!(typer.param(Some(&lit(&["F", "C"])), site("layout")).is_some(), "same values, same enum");
        assert!(typer.param(Some(&lit(&["quick", "stable"])), site("kind")).is_some());
        let ints = Type::Literal { values: vec![Literal::Int("0".into()), Literal::Int("1".into())] };
        assert_eq!(typer.param(Some(&ints), site("axis")).map(|t| t.to_string()), Some("i64".into()));
        let names: Vec<(String, Vec<String>)> = typer.into_enums().into_iter().map(|e| (e.name, e.values)).collect();
        assert_eq!(
            names,
            [
                ("SortOrder".into(), vec!["C".into(), "F".into()]),
                ("Kind".into(), vec!["quick".into(), "stable".into()])
            ]
        );
        assert_eq!(variant_text("<b1"), "_lt_b1");
        assert_eq!(variant_text(""), "empty");
        assert_eq!(variant_text("\r\n"), "_cr__lf_");
        assert_eq!(variant_text("é+"), "_u00e9__plus_");
    }
}
