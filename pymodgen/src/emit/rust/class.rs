//! Classes → wrapper types over `Bound<'py, PyAny>`, with constructor, methods and
//! properties. A subclass wraps its (first, generated) base and derefs to it, so base
//! methods apply and `From<Sub> for Base` converts where the base is expected.

use proc_macro2::TokenStream;
use quote::quote;

use super::function::{self, Names, Ret, Target, needs_builder};
use super::names::{Case, Scope, ident};
use super::types::{Site, Typer, expected_text};
use super::{Ctx, docs, protocol};
use crate::manifest::{AttributeKind, Class, FunctionKind};

/// Emits one class. `rust_name` was allocated in the module's type scope, which `typer`
/// holds (for builder types); `path` is the wrapper's path from the root (what `Self` means
/// in the stubs). `bases` are paths to generated base wrappers, first one is wrapped.
/// `exception`: the class derives from `BaseException` (`emit::exceptions`): its wrapper
/// matches `PyErr`s (`is_instance`, `from_err`).
pub(crate) fn emit(
    ctx: &Ctx,
    typer: &Typer<'_>,
    class: &Class,
    rust_name: &str,
    path: &[String],
    bases: &[TokenStream],
    exception: bool,
) -> TokenStream {
    let rt = &ctx.rt;
    let private = &ctx.private;
    let pyver = &ctx.python_version;
    let module = &ctx.module;
    let name = ident(rust_name);
    let py_name = &class.name;
    let bound = quote!(#rt::pyo3::Bound<'py, #rt::pyo3::PyAny>);

    let mut inherent = Scope::new();
    for r in ["type_object", "as_bound", "into_bound", "new", "new_with", "is_instance", "from_err"] {
        inherent.reserve(r);
    }

    let mut fns = Vec::new();
    let mut module_items = Vec::new();
    let self_ret = Ret::Wrapper(quote!(#name));

    // Constructor.
    if let Some(ctor) = &class.constructor {
        let with = needs_builder(ctor)
            .then(|| ("new_with".to_owned(), typer.type_name(&format!("{rust_name}New"), Case::Camel)));
        let names = Names { python: py_name.clone(), func: "new".into(), with };
        let target = Target::Static { module: module.clone(), path: class.name.clone() };
        let e = function::emit(ctx, typer, ctor, &target, &names, &self_ret, true);
        fns.push(e.fns);
        module_items.push(e.types);
    }

    // Methods.
    for m in &class.methods {
        let func = inherent.name(&m.name, Case::Snake);
        let with = needs_builder(m).then(|| {
            let w = inherent.unique(format!("{}_with", func.trim_end_matches('_')));
            let b = typer.type_name(&format!("{rust_name}_{}_call", m.name), Case::Camel);
            (w, b)
        });
        let names = Names { python: format!("{py_name}.{}", m.name), func, with };
        let target = match m.kind {
            FunctionKind::Staticmethod | FunctionKind::Classmethod => {
                Target::Static { module: module.clone(), path: format!("{}.{}", class.name, m.name) }
            }
            _ => Target::Method { name: m.name.clone() },
        };
        let python_name = format!("{py_name}.{}", m.name);
        let ret = function::ret_for(typer, m, Some((path, &class.qualname)), &python_name);
        let e = function::emit(ctx, typer, m, &target, &names, &ret, true);
        fns.push(e.fns);
        module_items.push(e.types);
    }

    // Properties and class attributes.
    for a in &class.attributes {
        let getter = ident(&inherent.name(&a.name, Case::Snake));
        let attr = &a.name;
        let what = match a.kind {
            AttributeKind::Property | AttributeKind::Descriptor => "attribute",
            AttributeKind::Data => "class attribute",
        };
        let site = Site { function: py_name, param: Some(attr) };
        let typed = typer.out(a.type_.as_ref(), Some(path), site);
        let extra: Vec<String> = a.type_.iter().map(|t| format!("{attr}: {}", t.python())).collect();
        let lines = docs::doc_lines(&format!("Reads the {what} `{attr}`."), a.doc.as_deref(), &extra);
        let doc = docs::outer(&lines);
        let read = quote! {
            #rt::pyo3::types::PyAnyMethods::getattr(__pymodgen_self, #rt::pyo3::intern!(__pymodgen_self.py(), #attr))
        };
        let (ty, body) = match typed {
            Some(r) => {
                let expected = a.type_.as_ref().map(|t| expected_text(t, Some(&class.qualname))).unwrap_or_default();
                let ret = Ret::Typed { ty: typer.tokens(&r), expected };
                let ty = typer.tokens(&r);
                (ty, function::convert(ctx, &ret, &format!("{module}.{py_name}.{attr}"), read))
            }
            None => (bound.clone(), read),
        };
        fns.push(quote! {
            #doc
            #[inline]
            pub fn #getter(&self) -> #rt::pyo3::PyResult<#ty> {
                let __pymodgen_self = self.as_bound();
                #body
            }
        });
        if !a.readonly && a.kind != AttributeKind::Data {
            let setter = ident(&inherent.unique(format!("set_{}", getter.to_string().trim_start_matches("r#"))));
            let doc = docs::attr(&format!(" Sets the attribute `{attr}`."));
            let value =
                typer.param(a.type_.as_ref(), site).unwrap_or_else(|| quote!(impl #rt::pyo3::IntoPyObject<'py>));
            fns.push(quote! {
                #[doc = #doc]
                #[inline]
                pub fn #setter(&self, value: #value) -> #rt::pyo3::PyResult<()> {
                    let __pymodgen_self = self.as_bound();
                    #rt::pyo3::types::PyAnyMethods::setattr(__pymodgen_self, #rt::pyo3::intern!(__pymodgen_self.py(), #attr), value)
                }
            });
        }
    }

    // Protocols (`__eq__` → PartialEq, `__len__` → len(), ...), named after the methods.
    let protocols = protocol::emit(ctx, typer, class, path, &quote!(#name), &mut inherent);
    fns.extend(protocols.fns);
    let protocol_impls = protocols.impls;
    let derive = if protocols.debug { quote!(#[derive(Clone)]) } else { quote!(#[derive(Clone, Debug)]) };

    let mut extra = vec![format!("Python class {}.", class.qualname)];
    if !class.bases.is_empty() {
        extra.push(format!("Bases: {}.", class.bases.join(", ")));
    }
    if let Some(c) = &class.constructor {
        extra.push(format!("{}{}", class.name, c.python_signature()));
    }
    let doc =
        docs::outer(&docs::doc_lines(&format!("Python class `{}.{py_name}`.", module), class.doc.as_deref(), &extra));

    let (inner, as_bound, into_bound, wrap_bound) = match bases.first() {
        Some(base) => (
            quote!(#base<'py>),
            quote!(self.0.as_bound()),
            quote!(self.0.into_bound()),
            quote!(<#base<'py>>::from(value)),
        ),
        None => (bound.clone(), quote!(&self.0), quote!(self.0), quote!(value)),
    };
    let base_froms = bases.iter().enumerate().map(|(i, base)| {
        let body = if i == 0 { quote!(value.0) } else { quote!(<#base<'py>>::from(value.into_bound())) };
        quote! {
            impl<'py> ::core::convert::From<#name<'py>> for #base<'py> {
                #[inline]
                fn from(value: #name<'py>) -> Self {
                    #body
                }
            }
        }
    });
    let type_doc = docs::attr(&format!(" The Python class `{module}.{py_name}` itself."));
    let matching = exception.then(|| {
        let is_doc = docs::attr(&format!(
            " Whether `err` is a `{module}.{py_name}` (or an instance of a subclass): match a \
             `PyErr` by type, e.g. `Err(e) if {rust_name}::is_instance(py, &e) => ...`. False when \
             the class cannot be looked up."
        ));
        let from_doc = docs::attr(&format!(
            " The exception object of `err` when it is a `{module}.{py_name}` (or a subclass), \
             to read its attributes; `None` otherwise."
        ));
        quote! {
            #[doc = #is_doc]
            pub fn is_instance(py: #rt::pyo3::Python<'py>, err: &#rt::pyo3::PyErr) -> bool {
                match Self::type_object(py) {
                    ::core::result::Result::Ok(ty) => err.is_instance(py, &ty),
                    ::core::result::Result::Err(_) => false,
                }
            }
            #[doc = #from_doc]
            pub fn from_err(py: #rt::pyo3::Python<'py>, err: &#rt::pyo3::PyErr) -> ::core::option::Option<Self> {
                if Self::is_instance(py, err) {
                    ::core::option::Option::Some(Self::from(::core::clone::Clone::clone(err.value(py).as_any())))
                } else {
                    ::core::option::Option::None
                }
            }
        }
    });
    quote! {
        #doc
        #derive
        #[repr(transparent)]
        pub struct #name<'py>(#inner);

        impl<'py> #name<'py> {
            #[doc = #type_doc]
            pub fn type_object(py: #rt::pyo3::Python<'py>) -> #rt::pyo3::PyResult<#bound> {
                static __PYMODGEN_CLASS: #private::Callable = #private::Callable::new(#module, #py_name, #pyver);
                __PYMODGEN_CLASS.get(py).cloned()
            }
            /// The Python object.
            #[inline]
            pub fn as_bound(&self) -> &#bound {
                #as_bound
            }
            /// The Python object.
            #[inline]
            pub fn into_bound(self) -> #bound {
                #into_bound
            }
            #matching
            #(#fns)*
        }

        impl<'py> ::core::ops::Deref for #name<'py> {
            type Target = #inner;
            #[inline]
            fn deref(&self) -> &Self::Target {
                &self.0
            }
        }

        impl<'py> ::core::fmt::Display for #name<'py> {
            /// Python's `str()` of the object.
            fn fmt(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                ::core::fmt::Display::fmt(self.as_bound(), f)
            }
        }

        impl<'py> ::core::convert::From<#bound> for #name<'py> {
            /// Wraps an object without checking its type (see `extract` for a checked conversion).
            #[inline]
            fn from(value: #bound) -> Self {
                Self(#wrap_bound)
            }
        }

        impl<'py> ::core::convert::From<#name<'py>> for #bound {
            #[inline]
            fn from(value: #name<'py>) -> Self {
                value.into_bound()
            }
        }

        #(#base_froms)*

        #protocol_impls

        impl<'py> #rt::pyo3::IntoPyObject<'py> for #name<'py> {
            type Target = #rt::pyo3::PyAny;
            type Output = #bound;
            type Error = ::core::convert::Infallible;
            #[inline]
            fn into_pyobject(self, _py: #rt::pyo3::Python<'py>) -> ::core::result::Result<Self::Output, Self::Error> {
                ::core::result::Result::Ok(self.into_bound())
            }
        }

        impl<'a, 'py> #rt::pyo3::IntoPyObject<'py> for &'a #name<'py> {
            type Target = #rt::pyo3::PyAny;
            type Output = #rt::pyo3::Borrowed<'a, 'py, #rt::pyo3::PyAny>;
            type Error = ::core::convert::Infallible;
            #[inline]
            fn into_pyobject(self, _py: #rt::pyo3::Python<'py>) -> ::core::result::Result<Self::Output, Self::Error> {
                ::core::result::Result::Ok(#rt::pyo3::Bound::as_borrowed(self.as_bound()))
            }
        }

        impl<'a, 'py> #rt::pyo3::FromPyObject<'a, 'py> for #name<'py> {
            type Error = #rt::pyo3::PyErr;
            fn extract(obj: #rt::pyo3::Borrowed<'a, 'py, #rt::pyo3::PyAny>) -> #rt::pyo3::PyResult<Self> {
                static __PYMODGEN_CLASS: #private::Callable = #private::Callable::new(#module, #py_name, #pyver);
                #private::instance_of(obj, &__PYMODGEN_CLASS).map(Self::from)
            }
        }

        #(#module_items)*
    }
}
