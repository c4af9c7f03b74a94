//! The manifest: pymodgen's intermediate representation of one Python module.
//!
//! The introspection script (`python/introspect.py`) prints it as JSON; the emitters read
//! only this, never Python. Field order here is the key order of the JSON, and every list is
//! sorted by name by the script, so the same module gives byte-identical output.
//!
//! Bump [`SCHEMA`] on any change that an older reader would misread.

use serde::{Deserialize, Serialize};

/// Version of the manifest format (the `schema` key).
pub const SCHEMA: u32 = 2;

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
    #[serde(default)]
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
    #[serde(default, rename = "type")]
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
    #[serde(default, rename = "type")]
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
            Literal::Str(v) => format!("'{}'", v.replace('\\', "\\\\").replace('\'', "\\'")),
            Literal::Bytes(v) => format!("b{:?}", String::from_utf8_lossy(v)),
            Literal::Tuple(items) => {
                let inner: Vec<String> = items.iter().map(Literal::python).collect();
                if inner.len() == 1 { format!("({},)", inner[0]) } else { format!("({})", inner.join(", ")) }
            }
        }
    }
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
        self.annotation.clone().or_else(|| self.stub_annotation.clone()).or_else(|| self.type_.as_ref().map(Type::python))
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

#[cfg(test)]
mod tests {
    use super::{Literal, Type};

    /// The JSON shape of types is a contract (design.md, "Types"): check it key by key.
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
