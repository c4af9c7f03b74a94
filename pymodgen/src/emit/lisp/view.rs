//! Language-ready views of the manifest: every name, lambda list and escaped string the
//! templates print is computed here (uniffi's rule: templates compute nothing).

use std::collections::BTreeSet;

use askama::Template;

use super::names::{self, Namer};
use super::types;
use crate::manifest::{Class, Function, FunctionKind, Literal, Manifest, Param, ParamKind, SignatureSource};

/// `<system>.asd`.
#[derive(Template)]
#[template(path = "lisp/system.asd", escape = "none")]
pub(super) struct SystemView {
    pub header: String,
    pub system: String,
    pub description: String,
    /// An ASDF-valid version (dotted integers), when the module has one.
    pub version: Option<String>,
    /// File components, in load order.
    pub files: Vec<String>,
}

/// `pymodgen-packages.lisp`: every package of the system.
#[derive(Template)]
#[template(path = "lisp/packages.lisp", escape = "none")]
pub(super) struct PackagesView {
    pub header: String,
    pub packages: Vec<PackageView>,
}

pub(super) struct PackageView {
    pub name: String,
    pub module: String,
    pub doc: String,
    /// Exported names that are external symbols of COMMON-LISP, sorted.
    pub shadow: Vec<String>,
    pub exports: Vec<String>,
}

/// `<module>.lisp`: one Python module.
#[derive(Template)]
#[template(path = "lisp/module.lisp", escape = "none")]
pub(super) struct ModuleView {
    pub header: String,
    pub package: String,
    pub module: String,
    /// The module's exception classes as condition classes (`conditions.rs`).
    pub conditions: Vec<super::conditions::ConditionView>,
    /// The module's other classes as Lisp classes (`classes.rs`).
    pub classes: Vec<super::classes::ClassView>,
    pub functions: Vec<FunctionView>,
    pub attributes: Vec<AttributeView>,
    pub constants: Vec<ConstantView>,
    pub objects: Vec<ObjectView>,
    /// Inherited methods served by the base's function (`classes.rs`).
    pub inherited: Vec<InheritedView>,
}

/// `(pymodgen::%define-inherited-method NAME FROM)`: NAME is the generated function FROM.
pub(super) struct InheritedView {
    pub name: String,
    pub from: String,
}

/// A property or other attribute of a class: a reader `(class-attr object)` and, unless
/// read-only, a writer `(setf (class-attr object) value)`.
pub(super) struct AttributeView {
    pub name: String,
    pub attribute: String,
    pub doc: String,
    pub writable: bool,
}

/// One `defun` calling a Python callable.
pub(super) struct FunctionView {
    pub name: String,
    /// Python module and attribute path of the callable (`ndarray.tolist`).
    pub module: String,
    pub path: String,
    pub doc: String,
    /// `true`: only required positional-only parameters, called directly.
    pub simple: bool,
    /// `true`: only positional-only parameters, some optional: a real `&optional` lambda
    /// list whose supplied-p variables say what is passed.
    pub positional: bool,
    /// The positional-arguments form, for `simple` and `positional` functions.
    pub args: String,
    /// The lambda list of the `defun`.
    pub lambda_list: String,
    /// The Python-faithful lambda list shown by SLIME/SLY (SBCL's `sb-c::lambda-list`).
    pub display: String,
    /// The argument spec for `pymodgen::%call-python-style`.
    pub spec: String,
    /// `module.path(signature) -> returns`, escaped: what compile-time warnings show.
    pub signature: String,
    /// The calling convention the compiler macro checks calls against: `(:simple N)`,
    /// `(:positional N M)` or `(:rest N SPEC)` (N Lisp-required parameters).
    pub call: String,
    /// The Lisp type every result has, when it is narrower than T (see `types.rs`).
    pub returns: Option<String>,
}

/// A module-level constant: a symbol macro for its literal value (or a lookup).
pub(super) struct ConstantView {
    pub name: String,
    /// A Lisp form: the literal, or `(pymodgen::%module-attribute ...)`.
    pub value: String,
    pub python: String,
}

/// A module-level object: a getter function.
pub(super) struct ObjectView {
    pub name: String,
    pub module: String,
    pub attribute: String,
    pub doc: String,
}

/// `pymodgen-check.lisp`: the load-time module version check.
#[derive(Template)]
#[template(path = "lisp/check.lisp", escape = "none")]
pub(super) struct CheckView {
    pub header: String,
    pub system: String,
    pub module: String,
    pub version: String,
    /// The interpreter's version at generation (`3.11.7`), to say what changed.
    pub python: String,
    pub hash: String,
    pub generator: String,
    pub submodules: bool,
    pub package: String,
    pub packages: Vec<String>,
}

/// One module: its package definition and its code.
pub(super) struct ModuleViews {
    pub package: PackageView,
    pub module: ModuleView,
}

/// Builds the views of one manifest.
pub(super) fn module(manifest: &Manifest, package: String, header: &str) -> ModuleViews {
    let m = &manifest.module;
    let mut namer = Namer::default();
    let mut functions = Vec::new();
    let mut constants = Vec::new();
    let mut objects = Vec::new();

    for f in &manifest.functions {
        let name = namer.claim(&names::kebab(&f.name));
        functions.push(function(m, name, &f.name, f, None));
    }
    let mut class_names = Vec::with_capacity(manifest.classes.len());
    for c in &manifest.classes {
        let name = namer.claim(&names::kebab(&c.name));
        class_names.push(name.clone());
        functions.push(constructor(m, name, c));
    }
    let conditions = super::conditions::views(manifest, &class_names);
    let exceptions: BTreeSet<String> = conditions.iter().map(|c| c.name.clone()).collect();
    let classes = super::classes::views(manifest, &class_names, &exceptions);
    let mut method_names = Vec::with_capacity(manifest.classes.len());
    for c in &manifest.classes {
        let class = names::kebab(&c.name);
        let mut own = Vec::with_capacity(c.methods.len());
        for meth in &c.methods {
            let name = namer.claim(&format!("{class}-{}", names::kebab(&meth.name)));
            own.push(name.clone());
            let path = format!("{}.{}", c.name, meth.name);
            let self_param = (meth.kind == FunctionKind::Method).then_some("self");
            functions.push(function(m, name, &path, meth, self_param));
        }
        method_names.push(own);
    }
    let mut attributes = Vec::new();
    for c in &manifest.classes {
        let class = names::kebab(&c.name);
        for a in &c.attributes {
            let name = namer.claim(&format!("{class}-{}", names::kebab(&a.name)));
            let what = if a.readonly { "read-only" } else { "settable with SETF" };
            let doc = match &a.doc {
                Some(d) if !d.trim().is_empty() => {
                    format!("{d}\n\nPython: the attribute {} of a {m}.{} ({what}).", a.name, c.name)
                }
                _ => format!("Python: the attribute {} of a {m}.{} ({what}).", a.name, c.name),
            };
            attributes.push(AttributeView {
                name,
                attribute: names::escape(&a.name),
                doc: names::doc(&doc),
                writable: !a.readonly,
            });
        }
    }
    for c in &manifest.constants {
        let name = namer.claim(&format!("+{}+", names::kebab(&c.name)));
        let value = c.literal.as_ref().and_then(literal).unwrap_or_else(|| {
            format!("(pymodgen::%module-attribute \"{}\" \"{}\")", names::escape(m), names::escape(&c.name))
        });
        constants.push(ConstantView { name, value, python: one_line(&format!("{m}.{} = {}", c.name, c.repr)) });
    }
    for o in &manifest.objects {
        let name = namer.claim(&names::kebab(&o.name));
        objects.push(ObjectView {
            name,
            module: names::escape(m),
            attribute: names::escape(&o.name),
            doc: names::doc(&format!("The current value of {m}.{} (a {}).", o.name, o.type_)),
        });
    }

    // Inherited methods last: their names never rename another definition (a name taken
    // already leaves the inherited method out).
    let mut inherited = Vec::new();
    for h in super::classes::inherited(manifest) {
        let c = &manifest.classes[h.class];
        let meth = &manifest.classes[h.from].methods[h.method];
        let Some(name) = namer.claim_exact(&format!("{}-{}", names::kebab(&c.name), names::kebab(&meth.name)))
        else {
            continue;
        };
        if h.alias {
            inherited.push(InheritedView { name, from: method_names[h.from][h.method].clone() });
        } else {
            let path = format!("{}.{}", c.name, meth.name);
            let self_param = (meth.kind == FunctionKind::Method).then_some("self");
            functions.push(function(m, name, &path, meth, self_param));
        }
    }

    let exports: BTreeSet<String> = functions
        .iter()
        .map(|f| f.name.clone())
        .chain(inherited.iter().map(|i| i.name.clone()))
        .chain(attributes.iter().map(|a| a.name.clone()))
        .chain(constants.iter().map(|c| c.name.clone()))
        .chain(objects.iter().map(|o| o.name.clone()))
        .collect();
    let shadow = exports.iter().filter(|n| names::is_cl_symbol(n)).cloned().collect();
    ModuleViews {
        package: PackageView {
            name: package.clone(),
            module: m.clone(),
            doc: names::doc(manifest.doc.as_deref().unwrap_or("")),
            shadow,
            exports: exports.into_iter().collect(),
        },
        module: ModuleView {
            header: header.to_owned(),
            package,
            module: m.clone(),
            conditions,
            classes,
            functions,
            attributes,
            constants,
            objects,
            inherited,
        },
    }
}

fn constructor(module: &str, name: String, class: &Class) -> FunctionView {
    let fallback;
    let f = match &class.constructor {
        Some(f) => f,
        None => {
            fallback = Function {
                name: class.name.clone(),
                doc: None,
                signature_source: SignatureSource::Fallback,
                kind: FunctionKind::Callable,
                params: vec![
                    Param {
                        name: "args".into(),
                        kind: ParamKind::VarPositional,
                        required: false,
                        default: None,
                        literal: None,
                        annotation: None,
                        type_: None,
                        stub_annotation: None,
                    },
                    Param {
                        name: "kwargs".into(),
                        kind: ParamKind::VarKeyword,
                        required: false,
                        default: None,
                        literal: None,
                        annotation: None,
                        type_: None,
                        stub_annotation: None,
                    },
                ],
                returns: None,
                return_type: None,
                stub_returns: None,
                overloads: Vec::new(),
                type_source: None,
            };
            &fallback
        }
    };
    let mut view = function(module, name, &class.name, f, None);
    // An instance of the class: a wrapper, or what a DEFINE-LISPIFIER makes of it.
    view.returns = None;
    if f.doc.is_none() || f.doc == class.doc {
        view.doc = names::doc(&doc_text(class.doc.as_deref(), module, &class.name, f));
    }
    view
}

fn doc_text(doc: Option<&str>, module: &str, path: &str, f: &Function) -> String {
    // With the types of the stubs; then the stub's overloads, each a signature of its own.
    let mut sig = format!("Python: {module}.{path}{}", f.typed_signature());
    for o in &f.overloads {
        sig.push_str(&format!("\n  overload: {module}.{path}{}", o.typed_signature()));
    }
    match doc {
        Some(d) if !d.trim().is_empty() => format!("{d}\n\n{sig}"),
        _ => sig,
    }
}

/// The view of one callable; `self_param` adds a leading required `self` for methods.
fn function(module: &str, name: String, path: &str, f: &Function, self_param: Option<&str>) -> FunctionView {
    let mut vars = Namer::default();
    let mut keywords = Namer::default();
    // Private locals (`%args`) cannot clash: Python names never start with `%`.
    // `required`: the Lisp-required parameters (`self`, then the leading required
    // positional-only ones); `required_kw`: the required parameters after them (normally
    // positional-or-keyword), which `%call-python-style` takes from `&rest %args` so that
    // they can also be given by keyword. Both show as required in the displayed lambda list.
    let mut required = Vec::new();
    // What the displayed lambda list shows for `required` and `required_kw`: the variables,
    // typed (see `arglist_var`).
    let mut required_display = Vec::new();
    if let Some(s) = self_param {
        required.push(vars.claim(&names::param(s)));
        required_display.push(required[0].clone());
    }
    let mut required_kw = Vec::new();
    let mut required_kw_display = Vec::new();
    // The positional slots of `%args`, in order: `:keyword` when the parameter can also be
    // given by keyword, its quoted Python name when it is positional-only.
    let mut slots = Vec::new();
    let mut deferred = Vec::new(); // (slot index, parameter) of required_kw
    let mut optional = Vec::new(); // (display entry)
    let mut optional_vars = Vec::new(); // (variable, lambda-list entry with supplied-p)
    let mut n_optional = 0usize;
    let mut rest: Option<String> = None;
    let mut rest_display: Option<String> = None;
    let mut kwargs = false;
    let mut key_only = Vec::new(); // display entries
    let mut keys = Vec::new(); // (keyword, python name)

    for p in &f.params {
        match p.kind {
            ParamKind::PositionalOnly if p.required && optional.is_empty() && required_kw.is_empty() => {
                let var = vars.claim(&names::param(&p.name));
                required_display.push(arglist_var(&var, p));
                required.push(var);
            }
            ParamKind::PositionalOnly | ParamKind::PositionalOrKeyword if p.required && optional.is_empty() => {
                let var = vars.claim(&names::param(&p.name));
                required_kw_display.push(arglist_var(&var, p));
                required_kw.push(var);
                // Keyword claimed after the loop (see below).
                deferred.push((slots.len(), p));
                slots.push(String::new());
            }
            ParamKind::PositionalOnly | ParamKind::PositionalOrKeyword => {
                let var = vars.claim(&names::param(&p.name));
                optional.push(display_entry(&var, p));
                let default = p.literal.as_ref().and_then(literal).unwrap_or_else(|| "cl:nil".to_owned());
                optional_vars.push((var.clone(), format!("({var} {default} %{var}-p)")));
                n_optional += 1;
                slots.push(slot(&mut keywords, &mut keys, p));
            }
            ParamKind::VarPositional => {
                let var = vars.claim(&names::param(&p.name));
                rest_display = Some(arglist_var(&var, p));
                rest = Some(var);
            }
            ParamKind::KeywordOnly => {
                let var = vars.claim(&names::param(&p.name));
                key_only.push(display_entry(&var, p));
                keys.push((keywords.claim(&names::keyword(&p.name)), p.name.clone()));
            }
            ParamKind::VarKeyword => kwargs = true,
        }
    }

    // The keywords of required parameters are claimed last, so that adding them did not
    // rename the keyword of any other parameter (`self_(self, Self=None)`: `:self` stays
    // `Self`'s, `self` gets `:self-2`). They lead KEYS, in parameter order.
    let mut required_keys = Vec::new();
    for (i, p) in deferred {
        slots[i] = slot(&mut keywords, &mut required_keys, p);
    }
    keys.splice(0..0, required_keys);

    // A signature read from a docstring is a hint (`int([x]) -> integer` leaves out
    // `int(x, base=10)`): such functions also take further positional and keyword arguments.
    let permissive = f.signature_source == SignatureSource::Docstring;
    let simple = !permissive
        && required_kw.is_empty()
        && optional.is_empty()
        && rest.is_none()
        && key_only.is_empty()
        && keys.is_empty()
        && !kwargs;
    let positional = !simple && !permissive && keys.is_empty() && rest.is_none() && key_only.is_empty() && !kwargs;
    let req = required.join(" ");
    let args = if positional {
        // (cl:list* req... (cl:and %o1-p (cl:cons o1 (cl:and %o2-p (cl:cons o2 cl:nil)))))
        let mut tail = "cl:nil".to_owned();
        for (var, _) in optional_vars.iter().rev() {
            tail = format!("(cl:and %{var}-p (cl:cons {var} {tail}))");
        }
        if req.is_empty() { tail } else { format!("(cl:list* {req} {tail})") }
    } else {
        format!("(cl:list{}{req})", if req.is_empty() { "" } else { " " })
    };
    let lambda_list = if simple {
        format!("({req})")
    } else if positional {
        let opts: Vec<&str> = optional_vars.iter().map(|(_, entry)| entry.as_str()).collect();
        format!("({req}{}&optional {})", if req.is_empty() { "" } else { " " }, opts.join(" "))
    } else if req.is_empty() {
        "(&rest %args)".to_owned()
    } else {
        format!("({req} &rest %args)")
    };
    let mut display = required_display.iter().chain(&required_kw_display).cloned().collect::<Vec<_>>().join(" ");
    let mut push = |s: &str| {
        if !display.is_empty() {
            display.push(' ');
        }
        display.push_str(s);
    };
    if !optional.is_empty() {
        push("&optional");
        optional.iter().for_each(|o| push(o));
    }
    if let Some(r) = &rest_display {
        push("&rest");
        push(r);
    }
    if !key_only.is_empty() || kwargs {
        push("&key");
        key_only.iter().for_each(|k| push(k));
        if kwargs {
            push("&allow-other-keys");
        }
    }
    let keys_text: Vec<String> = keys.iter().map(|(k, py)| format!(":{k} \"{}\"", names::escape(py))).collect();
    let spec = format!(
        "#({n_optional} {} {} ({}) {} ({}))",
        lisp_bool(rest.is_some() || permissive),
        lisp_bool(kwargs || permissive),
        keys_text.join(" "),
        required_kw.len(),
        slots.join(" ")
    );
    let call = if simple {
        format!("(:simple {})", required.len())
    } else if positional {
        format!("(:positional {} {n_optional})", required.len())
    } else {
        format!("(:rest {} {spec})", required.len())
    };
    FunctionView {
        name,
        module: names::escape(module),
        path: names::escape(path),
        doc: names::doc(&doc_text(f.doc.as_deref(), module, path, f)),
        simple,
        positional,
        args,
        lambda_list,
        display: format!("({display})"),
        spec,
        signature: names::escape(&one_line_full(&format!("{module}.{path}{}", f.typed_signature()))),
        call,
        returns: types::result_type(f),
    }
}

/// The `%call-python-style` slot entry of a positional parameter: `:keyword` (registered
/// in `keys`) when it can also be given by keyword, else its quoted Python name.
fn slot(keywords: &mut Namer, keys: &mut Vec<(String, String)>, p: &Param) -> String {
    if p.kind == ParamKind::PositionalOrKeyword {
        let k = keywords.claim(&names::keyword(&p.name));
        keys.push((k.clone(), p.name.clone()));
        format!(":{k}")
    } else {
        format!("\"{}\"", names::escape(&p.name))
    }
}

/// `text` on one line (control characters as spaces), whole.
fn one_line_full(text: &str) -> String {
    text.chars().map(|c| if c.is_control() { ' ' } else { c }).collect()
}

/// A comment-safe single line of at most 100 characters.
fn one_line(text: &str) -> String {
    let line: String = text.chars().map(|c| if c.is_control() { ' ' } else { c }).take(100).collect();
    if text.chars().count() > 100 { format!("{line}...") } else { line }
}

fn lisp_bool(b: bool) -> &'static str {
    if b { "cl:t" } else { "cl:nil" }
}

/// `var` or `(var default)` when the default is a literal Lisp can restate; `var` typed
/// (see [`arglist_var`]).
fn display_entry(var: &str, p: &Param) -> String {
    let var = arglist_var(var, p);
    match p.literal.as_ref().and_then(literal) {
        Some(value) => format!("({var} {value})"),
        None => var,
    }
}

/// Longest type text an arglist shows (longer ones end in `...`; the docstring has them whole).
const ARGLIST_TYPE_CHARS: usize = 48;

/// The variable as the displayed lambda list (SLIME's arglist) shows it: with the Python type
/// when the parameter has one, as an uninterned symbol named `VAR: type` (`#:|TEXT: str|`,
/// which SLIME prints as `text: str`); else the variable itself.
fn arglist_var(var: &str, p: &Param) -> String {
    let Some(text) = p.type_text() else { return var.to_owned() };
    let text: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    let text = if text.chars().count() > ARGLIST_TYPE_CHARS {
        let cut: String = text.chars().take(ARGLIST_TYPE_CHARS - 3).collect();
        format!("{}...", cut.trim_end())
    } else {
        text
    };
    let name = format!("{}: {text}", var.to_uppercase());
    format!("#:|{}|", name.replace('\\', "\\\\").replace('|', "\\|"))
}

/// A Python literal as Lisp source, as the runtime lispifies it: `None` → `pymodgen:+py-none+`,
/// `False` → `cl:nil`, `True` → `cl:t`, floats as double-floats, bytes as a vector, tuples
/// as lists. `None` when Lisp cannot restate it (`inf`, `nan`).
pub(super) fn literal(l: &Literal) -> Option<String> {
    Some(match l {
        Literal::None => "pymodgen:+py-none+".to_owned(),
        Literal::Bool(false) => "cl:nil".to_owned(),
        Literal::Bool(true) => "cl:t".to_owned(),
        Literal::Int(digits) => digits.clone(),
        Literal::Float(repr) => float(repr)?,
        Literal::Str(s) => format!("\"{}\"", names::escape(s)),
        Literal::Bytes(b) => {
            let items: Vec<String> = b.iter().map(|x| x.to_string()).collect();
            format!("#({})", items.join(" "))
        }
        Literal::Tuple(items) if items.is_empty() => "cl:nil".to_owned(),
        Literal::Tuple(items) => {
            let inner: Option<Vec<String>> = items.iter().map(literal).collect();
            format!("(cl:list {})", inner?.join(" "))
        }
    })
}

/// Python's float repr as a Lisp double-float (`1e-05` → `1d-05`, `0.5` → `0.5d0`).
fn float(repr: &str) -> Option<String> {
    let ok = repr.chars().all(|c| c.is_ascii_digit() || matches!(c, '.' | 'e' | '-' | '+'))
        && repr.chars().any(|c| c.is_ascii_digit());
    if !ok {
        return None;
    }
    Some(if repr.contains('e') { repr.replace('e', "d") } else { format!("{repr}d0") })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats() {
        assert_eq!(float("1e-05").as_deref(), Some("1d-05"));
        assert_eq!(float("0.5").as_deref(), Some("0.5d0"));
        assert_eq!(float("inf"), None);
        assert_eq!(float("nan"), None);
    }

    #[test]
    fn tuples() {
        let t = Literal::Tuple(vec![Literal::Int("1".into()), Literal::None, Literal::Str("a\"".into())]);
        assert_eq!(literal(&t).as_deref(), Some("(cl:list 1 pymodgen:+py-none+ \"a\\\"\")"));
    }
}
