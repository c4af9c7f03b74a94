//! Python protocols of a class as Rust traits and methods on its wrapper type:
//!
//! | Python | Rust |
//! |---|---|
//! | `__eq__` (or any ordering method) | `PartialEq` (Python's `==`) |
//! | `__eq__` and `__hash__` | also `Eq` and `Hash` (Python's `hash()`) |
//! | `__lt__`, `__le__`, `__gt__`, `__ge__` | `PartialOrd` (`<` … `>=` are Python's own) |
//! | `__len__` | `len(&self) -> PyResult<usize>` |
//! | `__iter__` | `iter(&self) -> PyResult<Bound<PyIterator>>`, an iterator of `PyResult<Bound<PyAny>>`; with `__iter__ -> Iterator[T]` in the stubs and `T` typed (README, "Types"), `PyResult<TypedIter<T>>`, items `PyResult<T>` |
//! | `__contains__` | `contains(&self, value) -> PyResult<bool>` |
//! | `__getitem__` | `get_item(&self, key) -> PyResult<Bound<PyAny>>` |
//! | `__repr__` | `Debug` (Python's `repr()`) |
//!
//! The methods return `PyResult`. The traits cannot fail by signature, so they never panic
//! either: an exception raised by `__eq__`, an ordering method or `__hash__` makes `eq`
//! `false`, `partial_cmp` `None`, `hash` hash -1, and goes to `sys.unraisablehook` (Python's
//! own route for exceptions it cannot raise; by default, a message on stderr).

use proc_macro2::TokenStream;
use quote::quote;

use super::Ctx;
use super::function::{self, Ret};
use super::names::{Case, Scope, ident};
use super::types::Typer;
use crate::manifest::Class;

/// What a class's protocols add: inherent methods, trait impls, and whether `Debug` is
/// written out (else the wrapper derives it).
pub(crate) struct Protocols {
    pub fns: Vec<TokenStream>,
    pub impls: TokenStream,
    pub debug: bool,
}

/// The protocol items of `class`, wrapped as `name`. Method names are allocated in
/// `inherent` after the class's own methods, so a Python method named `len` keeps its name
/// and the protocol method gets a suffix.
/// `typer` and `path` (the wrapper's path, for `Self`) type the items of `__iter__` where the
/// class's `iter` record says what it returns.
pub(crate) fn emit(
    ctx: &Ctx,
    typer: &Typer<'_>,
    class: &Class,
    path: &[String],
    name: &TokenStream,
    inherent: &mut Scope,
) -> Protocols {
    let rt = &ctx.rt;
    let private = &ctx.private;
    let has = |p: &str| class.protocols.iter().any(|x| x == p);
    let bound = quote!(#rt::pyo3::Bound<'py, #rt::pyo3::PyAny>);
    let any = quote!(#rt::pyo3::types::PyAnyMethods);
    let mut fns = Vec::new();

    if has("__len__") {
        let f = ident(&inherent.name("len", Case::Snake));
        fns.push(quote! {
            /// Python's `len(self)`.
            #[inline]
            pub fn #f(&self) -> #rt::pyo3::PyResult<usize> {
                #any::len(self.as_bound())
            }
        });
    }
    if has("__iter__") {
        let f = ident(&inherent.name("iter", Case::Snake));
        let function = format!("{}.__iter__", class.qualname);
        let typed =
            class.iter.as_ref().map(|it| function::ret_for(typer, it, Some((path, &class.qualname)), &function));
        match typed {
            Some(Ret::Iter { item, expected }) => fns.push(quote! {
                /// Python's `iter(self)`: an iterator of `PyResult<T>`, one item per value
                /// Python yields, typed as the stub says (an exception while iterating, or an
                /// item of another type, a `TypeError` naming `__iter__`, is an `Err` item).
                #[inline]
                pub fn #f(&self) -> #rt::pyo3::PyResult<#rt::TypedIter<'py, #item>> {
                    #private::returned_iter(
                        #any::try_iter(self.as_bound()).map(#rt::pyo3::Bound::into_any),
                        #function,
                        #expected,
                    )
                }
            }),
            _ => fns.push(quote! {
                /// Python's `iter(self)`: an iterator of `PyResult<Bound<PyAny>>`, one item per
                /// value Python yields (an exception while iterating is an `Err` item).
                #[inline]
                pub fn #f(&self) -> #rt::pyo3::PyResult<#rt::pyo3::Bound<'py, #rt::pyo3::types::PyIterator>> {
                    #any::try_iter(self.as_bound())
                }
            }),
        }
    }
    if has("__contains__") {
        let f = ident(&inherent.name("contains", Case::Snake));
        fns.push(quote! {
            /// Python's `value in self`.
            #[inline]
            pub fn #f(&self, value: impl #rt::pyo3::IntoPyObject<'py>) -> #rt::pyo3::PyResult<bool> {
                #any::contains(self.as_bound(), value)
            }
        });
    }
    if has("__getitem__") {
        let f = ident(&inherent.name("get_item", Case::Snake));
        fns.push(quote! {
            /// Python's `self[key]`.
            #[inline]
            pub fn #f(&self, key: impl #rt::pyo3::IntoPyObject<'py>) -> #rt::pyo3::PyResult<#bound> {
                #any::get_item(self.as_bound(), key)
            }
        });
    }

    let mut impls = Vec::new();
    let ordered = ["__lt__", "__le__", "__gt__", "__ge__"].iter().any(|p| has(p));
    if has("__eq__") || ordered {
        impls.push(quote! {
            impl<'py> ::core::cmp::PartialEq for #name<'py> {
                /// Python's `self == other`. An exception gives `false` and goes to
                /// `sys.unraisablehook`.
                #[inline]
                fn eq(&self, other: &Self) -> bool {
                    #private::compare(self.as_bound(), other.as_bound(), #rt::pyo3::basic::CompareOp::Eq)
                }
            }
        });
    }
    if has("__eq__") && has("__hash__") {
        impls.push(quote! {
            /// Python objects that define `__eq__` and `__hash__` promise that equal objects
            /// hash alike.
            impl<'py> ::core::cmp::Eq for #name<'py> {}

            impl<'py> ::core::hash::Hash for #name<'py> {
                /// Python's `hash(self)`. An exception gives -1 and goes to `sys.unraisablehook`.
                #[inline]
                fn hash<H: ::core::hash::Hasher>(&self, state: &mut H) {
                    state.write_isize(#private::hash(self.as_bound()));
                }
            }
        });
    }
    if ordered {
        let ops = [("lt", quote!(Lt)), ("le", quote!(Le)), ("gt", quote!(Gt)), ("ge", quote!(Ge))].map(|(f, op)| {
            let f = ident(f);
            quote! {
                #[inline]
                fn #f(&self, other: &Self) -> bool {
                    #private::compare(self.as_bound(), other.as_bound(), #rt::pyo3::basic::CompareOp::#op)
                }
            }
        });
        impls.push(quote! {
            impl<'py> ::core::cmp::PartialOrd for #name<'py> {
                /// `Some(Equal)` if Python says `self == other`, else `Some(Less)` if
                /// `self < other`, else `Some(Greater)` if `self > other`, else `None`
                /// (unordered). `<`, `<=`, `>` and `>=` are Python's own operators. An
                /// exception gives `None` (or `false`) and goes to `sys.unraisablehook`.
                #[inline]
                fn partial_cmp(&self, other: &Self) -> ::core::option::Option<::core::cmp::Ordering> {
                    #private::partial_cmp(self.as_bound(), other.as_bound())
                }
                #(#ops)*
            }
        });
    }
    let debug = has("__repr__");
    if debug {
        impls.push(quote! {
            impl<'py> ::core::fmt::Debug for #name<'py> {
                /// Python's `repr()` of the object.
                fn fmt(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                    ::core::fmt::Debug::fmt(self.as_bound(), f)
                }
            }
        });
    }
    Protocols { fns, impls: quote!(#(#impls)*), debug }
}
