//! Callables: module functions, constructors, static/class methods and instance methods.
//!
//! Each gets a short function taking the required parameters (`json::dumps(py, &obj)`) and,
//! when it has optional or variadic parameters, a `*_with` function returning a call
//! builder whose setters name the optional parameters; omitted ones are not passed.

use proc_macro2::TokenStream;
use quote::quote;

use super::Ctx;
use super::docs;
use super::names::{Case, Scope, ident};
use super::types::{Site, Typer, expected_text, is_never};
use crate::manifest::{Function, Literal, Param, ParamKind, Type};

/// What is called.
pub(crate) enum Target {
    /// `module.path`, cached once (functions, constructors, static and class methods).
    Static { module: String, path: String },
    /// A method of `self`, looked up by name on the instance.
    Method { name: String },
}

/// How the result is returned.
#[derive(Clone)]
pub(crate) enum Ret {
    Any,
    /// A wrapper type, given as a path from the current module, wrapped unchecked (what a
    /// constructor returns).
    Wrapper(TokenStream),
    /// A Rust type extracted from the result; `expected` is the Python type, for errors.
    Typed {
        ty: TokenStream,
        expected: String,
    },
    /// `-> None`.
    Unit,
    /// `-> NoReturn`: `Infallible`, every outcome is an error.
    Never,
    /// `-> Iterator[T]` with a typed `T`: a `TypedIter<T>`; `expected` is `T` in Python.
    Iter {
        item: TokenStream,
        expected: String,
    },
}

/// The names of one callable: its Python name, for docs and errors (`dumps`,
/// `JSONEncoder.encode`), and its Rust names, allocated by the caller in the right scopes.
pub(crate) struct Names {
    pub(crate) python: String,
    pub(crate) func: String,
    /// `*_with` and its builder type, when the callable has optional parameters.
    pub(crate) with: Option<(String, String)>,
}

/// Whether a `*_with` builder is generated for `f`.
pub(crate) fn needs_builder(f: &Function) -> bool {
    f.params.iter().any(|p| !p.required)
}

/// Items for one callable: `fns` go where the function lives (module or impl block),
/// `types` at module level (the builder).
pub(crate) struct Emitted {
    pub(crate) fns: TokenStream,
    pub(crate) types: TokenStream,
}

/// The Rust type of a parameter: typed where its type maps (README, "Types"), else
/// `impl IntoPyObject`.
pub(crate) fn param_type(ctx: &Ctx, typer: &Typer<'_>, p: &Param, function: &str) -> TokenStream {
    let rt = &ctx.rt;
    match typer.param(p.type_.as_ref(), Site { function, param: Some(&p.name) }) {
        Some(ty) => ty,
        None => quote!(impl #rt::pyo3::IntoPyObject<'py>),
    }
}

/// How a callable's result is returned: `class` is the wrapper `Self` means in a method,
/// and its Python qualname.
pub(crate) fn ret_for(typer: &Typer<'_>, f: &Function, class: Option<(&[String], &str)>, function: &str) -> Ret {
    match &f.return_type {
        Some(Type::None) => Ret::Unit,
        Some(t) if is_never(t) => Ret::Never,
        Some(Type::Class { name, args })
            if matches!(name.as_str(), "collections.abc.Iterator" | "collections.abc.Generator")
                && let Some(item) = args.first()
                && let Some(r) = typer.out(Some(item), class.map(|c| c.0), Site { function, param: None }) =>
        {
            Ret::Iter { item: typer.tokens(&r), expected: expected_text(item, class.map(|c| c.1)) }
        }
        Some(t) => match typer.out(Some(t), class.map(|c| c.0), Site { function, param: None }) {
            Some(r) => Ret::Typed { ty: typer.tokens(&r), expected: expected_text(t, class.map(|c| c.1)) },
            None => Ret::Any,
        },
        None => Ret::Any,
    }
}

fn ret_type(ctx: &Ctx, ret: &Ret) -> TokenStream {
    let rt = &ctx.rt;
    match ret {
        Ret::Any => quote!(#rt::pyo3::Bound<'py, #rt::pyo3::PyAny>),
        Ret::Wrapper(path) => quote!(#path<'py>),
        Ret::Typed { ty, .. } => ty.clone(),
        Ret::Unit => quote!(()),
        Ret::Never => quote!(::core::convert::Infallible),
        Ret::Iter { item, .. } => quote!(#rt::TypedIter<'py, #item>),
    }
}

/// The conversion of a call's result; `function` names it in errors (`json.dumps`).
pub(crate) fn convert(ctx: &Ctx, ret: &Ret, function: &str, expr: TokenStream) -> TokenStream {
    let p = &ctx.private;
    match ret {
        Ret::Any => expr,
        Ret::Wrapper(_) => quote!(#p::wrap(#expr)),
        Ret::Typed { expected, .. } => quote!(#p::returned(#expr, #function, #expected)),
        Ret::Unit => quote!(#p::returned_none(#expr, #function)),
        Ret::Never => quote!(#p::returned_never(#expr, #function)),
        Ret::Iter { expected, .. } => quote!(#p::returned_iter(#expr, #function, #expected)),
    }
}

/// `name(signature)` with the types of the stubs, then each overload, for the doc block.
fn signature_lines(python_name: &str, f: &Function) -> Vec<String> {
    let mut lines = vec![format!("{python_name}{}", f.typed_signature())];
    if !f.overloads.is_empty() {
        lines.push(format!("Overloads ({}):", f.overloads.len()));
        lines.extend(f.overloads.iter().map(|o| format!("    {python_name}{}", o.typed_signature())));
    }
    lines
}

fn literal_text(l: &Literal) -> String {
    match l {
        Literal::None => "None".into(),
        Literal::Bool(b) => if *b { "True" } else { "False" }.into(),
        Literal::Int(s) | Literal::Float(s) => s.clone(),
        Literal::Str(s) => format!("{s:?}"),
        Literal::Bytes(b) => format!("b{:?}", String::from_utf8_lossy(b)),
        Literal::Tuple(items) => {
            let inner: Vec<String> = items.iter().map(literal_text).collect();
            if inner.len() == 1 { format!("({},)", inner[0]) } else { format!("({})", inner.join(", ")) }
        }
    }
}

struct P<'a> {
    param: &'a Param,
    rust: String,
    /// Index of its positional slot, if Python accepts it positionally.
    slot: Option<usize>,
}

/// Emits one callable.
pub(crate) fn emit(
    ctx: &Ctx,
    typer: &Typer<'_>,
    f: &Function,
    target: &Target,
    names: &Names,
    ret: &Ret,
    in_impl: bool,
) -> Emitted {
    let python_name = names.python.as_str();
    let rt = &ctx.rt;
    let private = &ctx.private;
    let pyver = &ctx.python_version;
    let is_method = matches!(target, Target::Method { .. });

    // Parameter names: unique among themselves and never `py`/`self`.
    let mut scope = Scope::new();
    scope.reserve("py");
    scope.reserve("self");
    let mut params = Vec::new();
    let mut slot_names = Vec::new();
    let mut positional_only = 0usize;
    for p in &f.params {
        let rust = scope.name(&p.name, Case::Snake);
        let slot = match p.kind {
            ParamKind::PositionalOnly | ParamKind::PositionalOrKeyword => {
                if p.kind == ParamKind::PositionalOnly {
                    positional_only = slot_names.len() + 1;
                }
                slot_names.push(p.name.clone());
                Some(slot_names.len() - 1)
            }
            _ => None,
        };
        params.push(P { param: p, rust, slot });
    }
    let nslots = proc_macro2::Literal::usize_unsuffixed(slot_names.len());
    let required: Vec<&P<'_>> = params.iter().filter(|p| p.param.required).collect();
    let req_idents: Vec<_> = required.iter().map(|p| ident(&p.rust)).collect();
    let req_types: Vec<_> = required.iter().map(|p| param_type(ctx, typer, p.param, python_name)).collect();
    let full_name = format!("{}.{python_name}", ctx.module);
    // pyo3 calls with Rust tuples of up to 12 elements; longer ones go through `Call`.
    let simple = required.len() <= 12 && required.iter().all(|p| p.slot.is_some());

    let doc = docs::outer(&docs::doc_lines(
        &format!("Calls Python's `{}.{python_name}`.", ctx.module),
        f.doc.as_deref(),
        &signature_lines(python_name, f),
    ));
    let ret_ty = ret_type(ctx, ret);
    let func = ident(&names.func);
    let (self_arg, py_arg, py_expr) = if is_method {
        (quote!(&self,), quote!(), quote!(#rt::pyo3::Bound::py(self.as_bound())))
    } else {
        (quote!(), quote!(py: #rt::pyo3::Python<'py>,), quote!(py))
    };
    let fn_generics = if in_impl { quote!() } else { quote!(<'py>) };

    // How to get the callable, and the start of a builder.
    let lookup = match target {
        Target::Static { module, path } => quote! {
            static __PYMODGEN_CALLABLE: #private::Callable = #private::Callable::new(#module, #path, #pyver);
        },
        Target::Method { .. } => quote!(),
    };
    let slot_lits: Vec<&str> = slot_names.iter().map(String::as_str).collect();
    let positional_only = proc_macro2::Literal::usize_unsuffixed(positional_only);
    let start_builder = match target {
        Target::Static { .. } => quote! {
            __PYMODGEN_CALLABLE.start(#py_expr, &[#(#slot_lits),*], #positional_only)
        },
        Target::Method { name } => quote! {
            #private::Call::method(self.as_bound(), #name, &[#(#slot_lits),*], #positional_only)
        },
    };
    let set_required: Vec<TokenStream> = required
        .iter()
        .map(|p| {
            let id = ident(&p.rust);
            match p.slot {
                Some(i) => {
                    let i = proc_macro2::Literal::usize_unsuffixed(i);
                    quote!(.arg(#i, #id))
                }
                None => {
                    let name = &p.param.name;
                    quote!(.kw(#rt::pyo3::intern!(#py_expr, #name), #id))
                }
            }
        })
        .collect();

    // The short function.
    let body = if simple {
        let call = match target {
            Target::Static { .. } => {
                if req_idents.is_empty() {
                    quote!(#rt::pyo3::types::PyAnyMethods::call0(__PYMODGEN_CALLABLE.get(#py_expr)?))
                } else {
                    quote!(#rt::pyo3::types::PyAnyMethods::call1(__PYMODGEN_CALLABLE.get(#py_expr)?, (#(#req_idents,)*)))
                }
            }
            Target::Method { name } => {
                if req_idents.is_empty() {
                    quote!(#rt::pyo3::types::PyAnyMethods::call_method0(self.as_bound(), #rt::pyo3::intern!(#py_expr, #name)))
                } else {
                    quote!(#rt::pyo3::types::PyAnyMethods::call_method1(self.as_bound(), #rt::pyo3::intern!(#py_expr, #name), (#(#req_idents,)*)))
                }
            }
        };
        convert(ctx, ret, &full_name, call)
    } else {
        convert(ctx, ret, &full_name, quote!({ #start_builder #(#set_required)* .call() }))
    };
    let short = quote! {
        #doc
        #[inline]
        pub fn #func #fn_generics(#self_arg #py_arg #(#req_idents: #req_types),*) -> #rt::pyo3::PyResult<#ret_ty> {
            #lookup
            #body
        }
    };

    let Some((with_name, builder_name)) = &names.with else {
        return Emitted { fns: short, types: quote!() };
    };

    // The builder.
    let with_fn = ident(with_name);
    let builder = ident(builder_name);
    let link = if in_impl { format!("Self::{}", names.func) } else { format!("fn@{}", names.func) };
    let with_doc = format!(
        " Like [`{}`]({link}), with optional arguments set by name on the returned builder; finish with `.call()`.",
        names.func
    );
    let fns = quote! {
        #short
        #[doc = #with_doc]
        #[inline]
        pub fn #with_fn #fn_generics(#self_arg #py_arg #(#req_idents: #req_types),*) -> #builder<'py> {
            #lookup
            #builder(#start_builder #(#set_required)*)
        }
    };
    let mut setter_scope = Scope::new();
    setter_scope.reserve("call");
    let mut setters = Vec::new();
    for p in params.iter().filter(|p| !p.param.required) {
        let setter = ident(&setter_scope.name(&p.param.name, Case::Snake));
        let arg = ident(&p.rust);
        let name = &p.param.name;
        let (ty, set, what) = match p.param.kind {
            ParamKind::VarPositional => (
                quote!(impl #rt::pyo3::IntoPyObject<'py>),
                quote!(self.0.varargs(#arg)),
                format!(" Appends to `*{name}`: any iterable (a Rust tuple or `Vec`, a Python list)."),
            ),
            // A type whose Python form is a dict (`HashMap`, `BTreeMap`, `Bound<PyDict>`):
            // a list of pairs, which `**` refuses, does not compile.
            ParamKind::VarKeyword => (
                quote!(impl #rt::pyo3::IntoPyObject<'py, Target = #rt::pyo3::types::PyDict>),
                quote!(self.0.varkw(#arg)),
                format!(" Adds to `**{name}`: a map (`HashMap`, `BTreeMap`, a Python dict) from names to values."),
            ),
            _ => {
                let set = match p.slot {
                    Some(i) => {
                        let i = proc_macro2::Literal::usize_unsuffixed(i);
                        quote!(self.0.arg(#i, #arg))
                    }
                    None => quote!({
                        let __pymodgen_py = self.0.py();
                        self.0.kw(#rt::pyo3::intern!(__pymodgen_py, #name), #arg)
                    }),
                };
                let default = match (&p.param.literal, &p.param.default) {
                    (Some(l), _) => format!(" (Python's default: `{}`)", literal_text(l).replace('`', "'")),
                    (None, Some(d)) if d.len() <= 60 && !d.contains('`') => format!(" (Python's default: `{d}`)"),
                    _ => String::new(),
                };
                (param_type(ctx, typer, p.param, python_name), set, format!(" Sets `{name}`{default}."))
            }
        };
        let what_doc = super::docs::attr(&what);
        setters.push(quote! {
            #[doc = #what_doc]
            #[inline]
            pub fn #setter(self, #arg: #ty) -> Self {
                #builder(#set)
            }
        });
    }
    let call_expr = convert(ctx, ret, &full_name, quote!(self.0.call()));
    let struct_doc = if in_impl {
        format!(" A pending call of `{}.{python_name}`, from `{with_name}`.", ctx.module)
    } else {
        format!(" A pending call of `{}.{python_name}`, from [`{with_name}`](fn@{with_name}).", ctx.module)
    };
    let struct_doc_text = super::docs::attr(&struct_doc);
    let types = quote! {
        #[doc = #struct_doc_text]
        #[must_use = "a call builder does nothing until `.call()`"]
        pub struct #builder<'py>(#private::Call<'py, #nslots>);
        impl<'py> #builder<'py> {
            #(#setters)*
            /// Makes the call.
            #[inline]
            pub fn call(self) -> #rt::pyo3::PyResult<#ret_ty> {
                #call_expr
            }
        }
    };
    Emitted { fns, types }
}
