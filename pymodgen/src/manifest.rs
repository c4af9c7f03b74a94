//! The manifest: pymodgen's intermediate representation of one Python module.
//!
//! The introspection script (`python/introspect.py`) prints it as JSON; the emitters read
//! only this, never Python. Field order here is the key order of the JSON, and every list is
//! sorted by name by the script, so the same module gives byte-identical output.
//!
//! Bump [`SCHEMA`] on any change that an older reader would misread.

use serde::{Deserialize, Serialize};

/// Version of the manifest format (the `schema` key).
pub const SCHEMA: u32 = 3;

/// Everything pymodgen knows about one Python module.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub schema: u32,
    /// Dotted module name, e.g. `numpy.linalg`.
    pub module: String,
    /// The distribution's version, else the module's `__version__`, else `null`.
    pub version: Option<String>,
    /// The module version hash (see `hash.rs`); keys the cache and the recompile checks.
    pub hash: String,
    pub python: PythonInfo,
    pub doc: Option<String>,
    pub functions: Vec<Function>,
    pub classes: Vec<Class>,
    pub constants: Vec<Constant>,
    /// Module-level values that are neither callables nor simple constants
    /// (`sys.stdout`, `os.environ`): bindings expose them as getters.
    #[serde(default)]
    pub objects: Vec<Object>,
    /// Public submodules, as full dotted names, sorted.
    pub submodules: Vec<String>,
    /// Public names that could not be described, with the reason (an attribute that raised
    /// on access, a submodule that failed to import, ...).
    #[serde(default)]
    pub skipped: Vec<Skipped>,
}

/// The interpreter the manifest was taken with.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PythonInfo {
    /// `platform.python_version()`, e.g. `3.11.7`.
    pub version: String,
    /// `sys.executable`.
    pub executable: String,
    /// Full path of the interpreter's own shared libpython (sysconfig `LIBDIR` + `INSTSONAME`),
    /// when it has one. Runtimes load exactly this file.
    #[serde(default)]
    pub libpython: Option<String>,
}

/// A module-level callable (or a method when inside a [`Class`]).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Function {
    /// The attribute name under which the module exposes it.
    pub name: String,
    pub doc: Option<String>,
    pub signature_source: SignatureSource,
    /// What kind of Python object this is.
    #[serde(default)]
    pub kind: FunctionKind,
    pub params: Vec<Param>,
    /// The return annotation, as source text (`"str"`, `"list[int]"`), if any.
    pub returns: Option<String>,
    /// The return type as a tree (see [`Type`]), when any type source gives one.
    #[serde(default, serialize_with = "interned::ser", deserialize_with = "interned::de")]
    pub return_type: Option<Type>,
    /// The stub's text of the return type (`NDArray[np.float64]`, its aliases unexpanded;
    /// the distinct texts of the overloads joined with ` | `), when a stub typed it. Only
    /// present when set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stub_returns: Option<String>,
    /// The `@overload` signatures of the stub, in stub order (empty when it has none).
    /// `params`/`returns` above then hold the runtime signature, typed when it agrees.
    #[serde(default)]
    pub overloads: Vec<Overload>,
    /// Where the types of this callable came from; `null` when it has none.
    #[serde(default)]
    pub type_source: Option<TypeSource>,
}

/// One `@overload` of a stub: a signature of its own.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Overload {
    pub params: Vec<Param>,
    /// The return annotation as source text.
    pub returns: Option<String>,
    #[serde(serialize_with = "interned::ser", deserialize_with = "interned::de")]
    pub return_type: Option<Type>,
}

/// Where the types of a callable or attribute came from, in PEP 561 order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TypeSource {
    /// Annotations on the runtime object (`__annotations__`).
    Inline,
    /// A `.pyi` file beside the module's source, in the package itself.
    Stub,
    /// A `<package>-stubs` distribution (`pandas-stubs`, ...).
    StubPackage,
    /// typeshed's stdlib or third-party stubs, read through `typeshed_client`.
    Typeshed,
}

/// A type, as a tree. Names are where they are defined (`builtins.str`, `numpy.float64`,
/// `collections.abc.Sequence`); aliases are expanded. JSON: an object tagged by `kind`,
/// e.g. `{"kind": "union", "of": [{"kind": "class", "name": "builtins.int"}, {"kind": "none"}]}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", try_from = "RawType")]
pub enum Type {
    /// A class, with its type arguments when generic: `list[int]` is
    /// `{"kind": "class", "name": "builtins.list", "args": [int]}`. `tuple[int, ...]` has the
    /// args `[int, ellipsis]`; `Callable[[A, B], R]` has `[params [A, B], R]` and
    /// `Callable[..., R]` has `[ellipsis, R]`; `NDArray[np.float64]` is
    /// `numpy.ndarray` with args `[any, numpy.dtype[numpy.float64]]` as numpy defines it.
    Class {
        name: String,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        args: Vec<Type>,
    },
    /// `A | B | ...` (`Optional[A]` is `A | None`), flattened, in source order.
    Union { of: Vec<Type> },
    /// `None` as a type.
    None,
    /// `Literal[...]`: the values, in source order.
    Literal { values: Vec<Literal> },
    /// A `TypeVar`, with its bound or its constraints (at most one of the two is set).
    Typevar {
        name: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        bound: Option<Box<Type>>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        constraints: Vec<Type>,
    },
    /// `typing.Self`: the class the method belongs to (or its subclass).
    #[serde(rename = "self")]
    SelfType,
    /// `typing.Any` (and `object` where it means "anything" is a class `builtins.object`).
    Any,
    /// `...` inside `tuple[T, ...]` and `Callable[..., R]`.
    Ellipsis,
    /// The parameter list of a `Callable`.
    Params { of: Vec<Type> },
    /// A type pymodgen could not resolve, with its source text.
    Unknown {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        text: Option<String>,
    },
}

/// Where a signature came from, best first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SignatureSource {
    /// `inspect.signature`.
    Inspect,
    /// `__text_signature__` of a builtin, parsed.
    TextSignature,
    /// A numpy ufunc, from `nin`/`nout`.
    Ufunc,
    /// The first line of the docstring, parsed.
    Docstring,
    /// The stub's `def` (its overloads merged into one signature that accepts each), when
    /// the runtime gives none (`datetime.date.today`). Since schema 3.
    Stub,
    /// Nothing known: `(*args, **kwargs)`.
    Fallback,
}

/// The Python type of a callable.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FunctionKind {
    /// A `def` (or `lambda`) function.
    #[default]
    Function,
    /// A function implemented in C (`builtin_function_or_method`, ...).
    Builtin,
    /// A numpy ufunc.
    Ufunc,
    /// A `functools.partial`.
    Partial,
    /// Any other callable object (an instance with `__call__`, a numpy array function
    /// dispatcher, ...).
    Callable,
    /// An instance method (only inside [`Class::methods`]).
    Method,
    /// A `staticmethod` (only inside [`Class::methods`]).
    Staticmethod,
    /// A `classmethod` (only inside [`Class::methods`]).
    Classmethod,
}

/// One parameter, as `inspect.Parameter` describes it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Param {
    pub name: String,
    pub kind: ParamKind,
    /// No default and not variadic.
    pub required: bool,
    /// `repr()` of the default, if there is one.
    pub default: Option<String>,
    /// The default as a value a binding can restate, when it is a literal
    /// (None, bool, int, float, str, bytes, or a tuple of these).
    #[serde(default)]
    pub literal: Option<Literal>,
    /// The annotation as source text, if any.
    pub annotation: Option<String>,
    /// The annotation as a tree, when any type source gives one.
    #[serde(default, rename = "type", serialize_with = "interned::ser", deserialize_with = "interned::de")]
    pub type_: Option<Type>,
    /// The stub's text of the type (`_ArrayLikeFloat_co`, its aliases unexpanded; the
    /// distinct texts of the overloads joined with ` | `), when a stub typed it. Only present
    /// when set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stub_annotation: Option<String>,
}

/// `inspect.Parameter.kind`, in snake case.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ParamKind {
    PositionalOnly,
    PositionalOrKeyword,
    VarPositional,
    KeywordOnly,
    VarKeyword,
}

/// A default value that a binding can restate in its own language.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", content = "value", rename_all = "snake_case")]
pub enum Literal {
    None,
    Bool(bool),
    /// Decimal digits, any size.
    Int(String),
    /// Python's `repr()` of the float (`1e-05`, `inf`, `nan`).
    Float(String),
    Str(String),
    /// The bytes, one number per byte.
    Bytes(Vec<u8>),
    Tuple(Vec<Literal>),
}

/// A class exposed by the module.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Class {
    /// The attribute name under which the module exposes it.
    pub name: String,
    /// Where Python defines it: `module.qualname` (`collections.OrderedDict`).
    pub qualname: String,
    /// Direct bases, as `module.qualname` (`builtins.object` is left out).
    pub bases: Vec<String>,
    pub doc: Option<String>,
    /// The constructor (`Class(...)`), parameters without `self`.
    pub constructor: Option<Function>,
    /// Methods defined in this class itself (not inherited ones), parameters without
    /// `self`/`cls`; `kind` says instance, static or class method.
    pub methods: Vec<Function>,
    /// Properties and other data attributes defined in this class itself.
    pub attributes: Vec<Attribute>,
    /// The protocol methods it defines or inherits from a base other than `object`, of
    /// `__contains__ __eq__ __ge__ __getitem__ __gt__ __hash__ __iter__ __le__ __len__ __lt__
    /// __repr__` (in that order; a `__hash__` set to `None` is left out). Generated Rust
    /// maps them to traits and methods.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub protocols: Vec<String>,
    /// Its `__iter__` (parameters without `self`), when an annotation or a stub types what it
    /// returns (`Iterator[int]`): generated Rust yields items of that type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iter: Option<Function>,
}

/// A property or other attribute of a class.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Attribute {
    pub name: String,
    pub kind: AttributeKind,
    /// `true` when it cannot be set (a property without setter, a read-only descriptor).
    pub readonly: bool,
    pub doc: Option<String>,
    /// For class-level constants: type name and literal value.
    #[serde(default)]
    pub literal: Option<Literal>,
    /// The declared type as source text (a property's return annotation, a stub's
    /// `name: T`), if any.
    #[serde(default)]
    pub annotation: Option<String>,
    /// The declared type as a tree.
    #[serde(default, rename = "type", serialize_with = "interned::ser", deserialize_with = "interned::de")]
    pub type_: Option<Type>,
    /// Where `annotation`/`type` came from.
    #[serde(default)]
    pub type_source: Option<TypeSource>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AttributeKind {
    /// A `property`.
    Property,
    /// A C-level getset or member descriptor.
    Descriptor,
    /// A plain class attribute (a constant).
    Data,
}

/// A simple module-level value.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Constant {
    pub name: String,
    /// The Python type name (`int`, `str`, `tuple`, ...).
    #[serde(rename = "type")]
    pub type_: String,
    pub repr: String,
    pub literal: Option<Literal>,
}

/// Any other module-level value.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Object {
    pub name: String,
    /// `module.qualname` of its type.
    #[serde(rename = "type")]
    pub type_: String,
}

/// A public name that introspection could not describe.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Skipped {
    pub name: String,
    pub reason: String,
}

impl Manifest {
    /// Parses a manifest, refusing other schema versions.
    pub fn from_json(text: &str) -> Result<Self, serde_json::Error> {
        serde_json::from_str(text)
    }

    /// The canonical JSON text: pretty, keys in field order, ending with a newline.
    pub fn to_json(&self) -> String {
        let mut text = serde_json::to_string_pretty(self).expect("a manifest always serializes");
        text.push('\n');
        text
    }

    /// Looks a function up by its Python name.
    pub fn function(&self, name: &str) -> Option<&Function> {
        self.functions.iter().find(|f| f.name == name)
    }

    /// Looks a class up by its Python name.
    pub fn class(&self, name: &str) -> Option<&Class> {
        self.classes.iter().find(|c| c.name == name)
    }
}

/// The JSON form of [`Type`], read as one flat struct: serde's derive for an internally tagged
/// enum buffers every nested level before reading it, which is slow for numpy's deep trees.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawType {
    kind: String,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    args: Vec<Type>,
    #[serde(default)]
    of: Option<Vec<Type>>,
    #[serde(default)]
    values: Option<Vec<Literal>>,
    #[serde(default)]
    bound: Option<Box<Type>>,
    #[serde(default)]
    constraints: Vec<Type>,
    #[serde(default)]
    text: Option<String>,
}

impl TryFrom<RawType> for Type {
    type Error = String;

    fn try_from(raw: RawType) -> Result<Self, String> {
        let kind = raw.kind;
        let missing = |key: &str| format!("type of kind `{kind}` without `{key}`");
        Ok(match kind.as_str() {
            "class" => Type::Class { name: raw.name.ok_or_else(|| missing("name"))?, args: raw.args },
            "union" => Type::Union { of: raw.of.ok_or_else(|| missing("of"))? },
            "none" => Type::None,
            "literal" => Type::Literal { values: raw.values.ok_or_else(|| missing("values"))? },
            "typevar" => Type::Typevar {
                name: raw.name.ok_or_else(|| missing("name"))?,
                bound: raw.bound,
                constraints: raw.constraints,
            },
            "self" => Type::SelfType,
            "any" => Type::Any,
            "ellipsis" => Type::Ellipsis,
            "params" => Type::Params { of: raw.of.ok_or_else(|| missing("of"))? },
            "unknown" => Type::Unknown { text: raw.text },
            other => return Err(format!("unknown type kind `{other}`")),
        })
    }
}

impl Type {
    /// The type as Python source text, names as resolved (`builtins.` left out):
    /// `list[str] | None`, `numpy.ndarray[tuple[Any, ...], numpy.dtype[numpy.float64]]`.
    pub fn python(&self) -> String {
        let mut out = String::new();
        self.write_python(&mut out);
        out
    }

    fn write_python(&self, out: &mut String) {
        let list = |out: &mut String, items: &[Type]| {
            for (i, t) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                t.write_python(out);
            }
        };
        match self {
            Type::Class { name, args } => {
                out.push_str(name.strip_prefix("builtins.").unwrap_or(name));
                if !args.is_empty() {
                    out.push('[');
                    list(out, args);
                    out.push(']');
                }
            }
            Type::Union { of } => {
                for (i, t) in of.iter().enumerate() {
                    if i > 0 {
                        out.push_str(" | ");
                    }
                    t.write_python(out);
                }
            }
            Type::None => out.push_str("None"),
            Type::Literal { values } => {
                out.push_str("Literal[");
                for (i, v) in values.iter().enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    out.push_str(&v.python());
                }
                out.push(']');
            }
            Type::Typevar { name, .. } => out.push_str(name),
            Type::SelfType => out.push_str("Self"),
            Type::Any => out.push_str("Any"),
            Type::Ellipsis => out.push_str("..."),
            Type::Params { of } => {
                out.push('[');
                list(out, of);
                out.push(']');
            }
            Type::Unknown { text } => out.push_str(text.as_deref().unwrap_or("?")),
        }
    }
}

impl Literal {
    /// The value as Python source text (`'a'`, `1`, `True`, `None`, `b'x'`).
    pub fn python(&self) -> String {
        match self {
            Literal::None => "None".into(),
            Literal::Bool(b) => if *b { "True" } else { "False" }.into(),
            Literal::Int(v) | Literal::Float(v) => v.clone(),
            Literal::Str(v) => python_str_repr(v),
            Literal::Bytes(v) => python_bytes_repr(v),
            Literal::Tuple(items) => {
                let inner: Vec<String> = items.iter().map(Literal::python).collect();
                if inner.len() == 1 { format!("({},)", inner[0]) } else { format!("({})", inner.join(", ")) }
            }
        }
    }
}

/// Whether Python's `repr` shows `c` escaped: control characters, and the format, line and
/// paragraph separators that would change how the text around them reads (bidi overrides,
/// zero-width characters, `U+2028`).
pub fn unprintable(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{ad}' | '\u{200b}'..='\u{200f}' | '\u{2028}'..='\u{202e}' | '\u{2060}'..='\u{206f}'
            | '\u{feff}' | '\u{fff9}'..='\u{fffb}')
}

/// `'text'` as Python's `repr` writes a `str`: `\\`, `\'`, `\n`, `\r`, `\t`, `\x00`, `\u2028`.
pub fn python_str_repr(v: &str) -> String {
    let mut out = String::with_capacity(v.len() + 2);
    out.push('\'');
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if unprintable(c) && (c as u32) < 0x100 => out.push_str(&format!("\\x{:02x}", c as u32)),
            c if unprintable(c) => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('\'');
    out
}

/// `b'...'` as Python's `repr` writes `bytes`.
pub fn python_bytes_repr(v: &[u8]) -> String {
    let mut out = String::from("b'");
    for &b in v {
        match b {
            b'\\' => out.push_str("\\\\"),
            b'\'' => out.push_str("\\'"),
            b'\n' => out.push_str("\\n"),
            b'\r' => out.push_str("\\r"),
            b'\t' => out.push_str("\\t"),
            0x20..=0x7e => out.push(b as char),
            _ => out.push_str(&format!("\\x{b:02x}")),
        }
    }
    out.push('\'');
    out
}

impl Function {
    /// The parameter list as Python would show it: `(obj, /, *, indent=None)`.
    pub fn python_signature(&self) -> String {
        signature_text(&self.params, self.returns.as_deref(), None)
    }

    /// Like [`Function::python_signature`], with the types of the stubs where the runtime
    /// has no annotation, as the stub writes them (else as the tree reads):
    /// `(obj: Any, /, *, indent: None | int | str = None) -> str`.
    pub fn typed_signature(&self) -> String {
        let returns = self.returns.as_deref().or(self.stub_returns.as_deref());
        signature_text(&self.params, returns, Some(self.return_type.as_ref()))
    }
}

impl Overload {
    /// The overload's signature, as the stub writes it.
    pub fn typed_signature(&self) -> String {
        signature_text(&self.params, self.returns.as_deref(), Some(self.return_type.as_ref()))
    }
}

impl Param {
    /// The type as text: the runtime's annotation, else the stub's text, else the tree's
    /// [`Type::python`]; `None` when untyped.
    pub fn type_text(&self) -> Option<String> {
        self.annotation
            .clone()
            .or_else(|| self.stub_annotation.clone())
            .or_else(|| self.type_.as_ref().map(Type::python))
    }
}

/// `(a, /, b: int = 1, *args, c, **kw) -> R`; with `typed`, a parameter or return without
/// annotation text shows its type tree instead.
fn signature_text(params: &[Param], returns: Option<&str>, typed: Option<Option<&Type>>) -> String {
    let mut out = String::from("(");
    let mut first = true;
    let mut push = |out: &mut String, s: &str| {
        if !first {
            out.push_str(", ");
        }
        first = false;
        out.push_str(s);
    };
    let mut seen_star = false;
    for (i, p) in params.iter().enumerate() {
        if p.kind == ParamKind::KeywordOnly && !seen_star {
            push(&mut out, "*");
            seen_star = true;
        }
        let mut text = match p.kind {
            ParamKind::VarPositional => {
                seen_star = true;
                format!("*{}", p.name)
            }
            ParamKind::VarKeyword => format!("**{}", p.name),
            _ => p.name.clone(),
        };
        let ann = if typed.is_some() { p.type_text() } else { p.annotation.clone() };
        if let Some(ann) = &ann {
            text.push_str(": ");
            text.push_str(ann);
        }
        if let Some(default) = &p.default {
            text.push_str(if ann.is_some() { " = " } else { "=" });
            text.push_str(default);
        }
        push(&mut out, &text);
        let next_is_positional_only = params.get(i + 1).is_some_and(|n| n.kind == ParamKind::PositionalOnly);
        if p.kind == ParamKind::PositionalOnly && !next_is_positional_only {
            push(&mut out, "/");
        }
    }
    out.push(')');
    let ret = match (returns, typed) {
        (Some(ret), _) => Some(ret.to_owned()),
        (None, Some(Some(t))) => Some(t.python()),
        _ => None,
    };
    if let Some(ret) = ret {
        out.push_str(" -> ");
        out.push_str(&ret);
    }
    out
}

/// Type trees shared by reference, for the files only pymodgen reads: the cache and the
/// introspection script's reply. numpy's manifests repeat a few thousand distinct trees (its
/// aliases expanded, once per use and per overload) about 60,000 times: 12.9 MB of its 21 MB.
/// There they are written once, in a table, and every `type` / `return_type` is an index
/// into it: `{"types": [tree, ...], "body": ...}` where the body's types are numbers. The
/// manifest JSON that pymodgen prints (`inspect --json`, saved manifests) keeps whole trees.
pub(crate) mod interned {
    use std::cell::RefCell;
    use std::collections::HashMap;
    use std::fmt;

    use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, Visitor};
    use serde::{Deserialize, Serialize, Serializer};

    use super::Type;

    thread_local! {
        /// While reading a body: the table its indices refer to.
        static TABLE: RefCell<Option<Vec<Type>>> = const { RefCell::new(None) };
        /// While writing a body: each distinct tree's JSON text and its index.
        static INTERNER: RefCell<Option<Interner>> = const { RefCell::new(None) };
    }

    #[derive(Default)]
    struct Interner {
        index: HashMap<String, usize>,
        texts: Vec<String>,
    }

    /// `value` as `{"types": [...], "body": value}`, each type tree written once.
    pub(crate) fn to_json<T: Serialize>(value: &T) -> serde_json::Result<String> {
        struct Reset;
        impl Drop for Reset {
            fn drop(&mut self) {
                INTERNER.with(|i| i.borrow_mut().take());
            }
        }
        INTERNER.with(|i| *i.borrow_mut() = Some(Interner::default()));
        let _reset = Reset;
        let body = serde_json::to_string(value)?;
        let texts = INTERNER.with(|i| i.borrow_mut().take()).unwrap_or_default().texts;
        let mut out = String::with_capacity(body.len() + texts.iter().map(|t| t.len() + 1).sum::<usize>() + 32);
        out.push_str("{\"types\":[");
        out.push_str(&texts.join(","));
        out.push_str("],\"body\":");
        out.push_str(&body);
        out.push('}');
        Ok(out)
    }

    /// Reads what [`to_json`] writes (also when the body has whole trees instead of indices).
    pub(crate) fn from_json<T: de::DeserializeOwned>(text: &str) -> serde_json::Result<T> {
        struct Reset;
        impl Drop for Reset {
            fn drop(&mut self) {
                TABLE.with(|t| t.borrow_mut().take());
            }
        }
        let _reset = Reset;
        let mut de = serde_json::Deserializer::from_str(text);
        let value = de.deserialize_map(WithTypes::<T>(std::marker::PhantomData))?;
        de.end()?;
        Ok(value)
    }

    struct WithTypes<T>(std::marker::PhantomData<T>);

    impl<'de, T: Deserialize<'de>> Visitor<'de> for WithTypes<T> {
        type Value = T;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str(r#"{"types": [...], "body": ...}"#)
        }

        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<T, A::Error> {
            let mut body = None;
            while let Some(key) = map.next_key::<String>()? {
                match key.as_str() {
                    // The table comes first, so that the body can refer to it.
                    "types" => {
                        let types: Vec<Type> = map.next_value()?;
                        TABLE.with(|t| *t.borrow_mut() = Some(types));
                    }
                    "body" => body = Some(map.next_value_seed(std::marker::PhantomData::<T>)?),
                    other => return Err(de::Error::unknown_field(other, &["types", "body"])),
                }
            }
            body.ok_or_else(|| de::Error::missing_field("body"))
        }
    }

    /// Writes an optional type: an index while [`to_json`] runs, else the tree.
    pub(crate) fn ser<S: Serializer>(t: &Option<Type>, s: S) -> Result<S::Ok, S::Error> {
        let Some(t) = t else { return s.serialize_none() };
        let index = INTERNER.with(|i| {
            let mut i = i.borrow_mut();
            let interner = i.as_mut()?;
            let text = serde_json::to_string(t).expect("a type always serializes");
            if let Some(&index) = interner.index.get(&text) {
                return Some(index);
            }
            let index = interner.texts.len();
            interner.texts.push(text.clone());
            interner.index.insert(text, index);
            Some(index)
        });
        match index {
            Some(index) => s.serialize_u64(index as u64),
            None => t.serialize(s),
        }
    }

    /// Reads an optional type: `null`, a tree, or an index into the table [`from_json`] read.
    pub(crate) fn de<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Type>, D::Error> {
        d.deserialize_any(OptionalType)
    }

    struct OptionalType;

    impl<'de> Visitor<'de> for OptionalType {
        type Value = Option<Type>;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a type, null, or the index of a type")
        }

        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }

        fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }

        fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
            d.deserialize_any(self)
        }

        fn visit_u64<E: de::Error>(self, index: u64) -> Result<Self::Value, E> {
            TABLE.with(|t| match &*t.borrow() {
                Some(table) => table
                    .get(index as usize)
                    .cloned()
                    .map(Some)
                    .ok_or_else(|| E::custom(format!("type index {index} out of range ({} types)", table.len()))),
                None => Err(E::custom(format!("type index {index} outside a file with a type table"))),
            })
        }

        fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
            std::marker::PhantomData::<Type>.deserialize(de::value::MapAccessDeserializer::new(map)).map(Some)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{Literal, Param, Type};

    /// The cache's form writes each tree once and reads back what was written; an index
    /// outside such a file is an error, never a panic.
    #[test]
    fn interned_types_round_trip() {
        let int = Type::Class { name: "builtins.int".into(), args: vec![] };
        let param = |t: Option<Type>| -> Param {
            let mut p: Param = serde_json::from_str(
                r#"{"name": "x", "kind": "positional_only", "required": true, "default": null, "annotation": null}"#,
            )
            .unwrap();
            p.type_ = t;
            p
        };
        let union = Type::Union { of: vec![int.clone(), Type::None] };
        let params = vec![param(Some(union.clone())), param(None), param(Some(int.clone())), param(Some(union))];
        let text = super::interned::to_json(&params).unwrap();
        assert!(text.starts_with(r#"{"types":[{"kind":"union","#), "{text}");
        assert_eq!(text.matches(r#""kind":"union""#).count(), 1, "{text}");
        assert_eq!(super::interned::from_json::<Vec<Param>>(&text).unwrap(), params);
        // Outside `to_json`, the trees are whole.
        assert!(serde_json::to_string(&params).unwrap().matches(r#""kind":"union""#).count() == 2);
        let bad = r#"{"types":[],"body":[{"name":"x","kind":"positional_only","required":true,"default":null,"annotation":null,"type":3}]}"#;
        let err = super::interned::from_json::<Vec<Param>>(bad).unwrap_err().to_string();
        assert!(err.contains("type index 3 out of range"), "{err}");
        let plain =
            r#"{"name":"x","kind":"positional_only","required":true,"default":null,"annotation":null,"type":0}"#;
        let err = serde_json::from_str::<Param>(plain).unwrap_err().to_string();
        assert!(err.contains("outside a file with a type table"), "{err}");
    }

    /// The JSON shape of types is a contract (the book's "The manifest": "Types"): check it key by key.
    #[test]
    fn type_json_shape() {
        let int = Type::Class { name: "builtins.int".into(), args: vec![] };
        let t = Type::Union {
            of: vec![
                Type::Class { name: "builtins.list".into(), args: vec![int.clone()] },
                Type::Literal { values: vec![Literal::Str("a".into()), Literal::Int("1".into())] },
                Type::Typevar { name: "T".into(), bound: Some(Box::new(int.clone())), constraints: vec![] },
                Type::Typevar { name: "S".into(), bound: None, constraints: vec![int.clone(), Type::None] },
                Type::SelfType,
                Type::Any,
                Type::Class { name: "builtins.tuple".into(), args: vec![int.clone(), Type::Ellipsis] },
                Type::Params { of: vec![int] },
                Type::Unknown { text: Some("Foo".into()) },
                Type::Unknown { text: None },
                Type::None,
            ],
        };
        let json = serde_json::to_string(&t).unwrap();
        assert_eq!(
            json,
            concat!(
                r#"{"kind":"union","of":[{"kind":"class","name":"builtins.list","args":[{"kind":"class","name":"builtins.int"}]},"#,
                r#"{"kind":"literal","values":[{"type":"str","value":"a"},{"type":"int","value":"1"}]},"#,
                r#"{"kind":"typevar","name":"T","bound":{"kind":"class","name":"builtins.int"}},"#,
                r#"{"kind":"typevar","name":"S","constraints":[{"kind":"class","name":"builtins.int"},{"kind":"none"}]},"#,
                r#"{"kind":"self"},{"kind":"any"},"#,
                r#"{"kind":"class","name":"builtins.tuple","args":[{"kind":"class","name":"builtins.int"},{"kind":"ellipsis"}]},"#,
                r#"{"kind":"params","of":[{"kind":"class","name":"builtins.int"}]},"#,
                r#"{"kind":"unknown","text":"Foo"},{"kind":"unknown"},{"kind":"none"}]}"#
            )
        );
        assert_eq!(serde_json::from_str::<Type>(&json).unwrap(), t);
    }
}
