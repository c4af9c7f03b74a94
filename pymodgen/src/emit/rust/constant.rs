//! Module-level values: literal constants become Rust `const`s; anything else (and
//! `objects` such as `sys.stdout`) becomes a getter that reads the attribute when called.

use proc_macro2::{Literal as Lit, TokenStream};
use quote::quote;

use super::names::ident;
use super::{Ctx, docs};
use crate::manifest::{Constant, Literal};

/// A Rust constant for `c`, if its value is a literal Rust can hold exactly.
pub(crate) fn constant(c: &Constant, rust_name: &str) -> Option<TokenStream> {
    let name = ident(rust_name);
    let (ty, value) = match c.literal.as_ref()? {
        Literal::Bool(b) => (quote!(bool), quote!(#b)),
        Literal::Int(s) => {
            let v: i64 = s.parse().ok()?;
            (quote!(i64), Lit::i64_unsuffixed(v).into_token_stream_signed(v))
        }
        Literal::Float(s) => {
            let v: f64 = match s.as_str() {
                "inf" => return Some(float_const(&name, quote!(::core::primitive::f64::INFINITY), &c.name, &c.repr)),
                "-inf" => {
                    return Some(float_const(&name, quote!(::core::primitive::f64::NEG_INFINITY), &c.name, &c.repr));
                }
                "nan" => return Some(float_const(&name, quote!(::core::primitive::f64::NAN), &c.name, &c.repr)),
                other => other.parse().ok()?,
            };
            if !v.is_finite() {
                return None;
            }
            let lit = Lit::f64_unsuffixed(v.abs());
            (quote!(f64), if v.is_sign_negative() { quote!(-#lit) } else { quote!(#lit) })
        }
        Literal::Str(s) => (quote!(&::core::primitive::str), quote!(#s)),
        Literal::Bytes(b) => {
            let lit = Lit::byte_string(b);
            (quote!(&[u8]), quote!(#lit))
        }
        Literal::None | Literal::Tuple(_) => return None,
    };
    let doc = docs::attr(&format!(" Python constant `{}` = `{}`.", c.name, c.repr.replace('`', "'")));
    Some(quote! {
        #[doc = #doc]
        pub const #name: #ty = #value;
    })
}

fn float_const(name: &proc_macro2::Ident, value: TokenStream, py: &str, repr: &str) -> TokenStream {
    let doc = docs::attr(&format!(" Python constant `{py}` = `{repr}`."));
    quote! {
        #[doc = #doc]
        pub const #name: f64 = #value;
    }
}

trait SignedLit {
    fn into_token_stream_signed(self, v: i64) -> TokenStream;
}

impl SignedLit for Lit {
    fn into_token_stream_signed(self, v: i64) -> TokenStream {
        if v < 0 {
            let abs = Lit::u64_unsuffixed(v.unsigned_abs());
            quote!(-#abs)
        } else {
            quote!(#self)
        }
    }
}

/// A getter `fn name(py) -> PyResult<Bound<PyAny>>` reading module attribute `attr`.
pub(crate) fn getter(ctx: &Ctx, attr: &str, rust_name: &str, what: &str) -> TokenStream {
    let rt = &ctx.rt;
    let private = &ctx.private;
    let module = &ctx.module;
    let pyver = &ctx.python_version;
    let name = ident(rust_name);
    let doc = docs::attr(&format!(" Reads `{module}.{attr}` ({what})."));
    quote! {
        #[doc = #doc]
        #[inline]
        pub fn #name<'py>(py: #rt::pyo3::Python<'py>) -> #rt::pyo3::PyResult<#rt::pyo3::Bound<'py, #rt::pyo3::PyAny>> {
            static __PYMODGEN_MODULE: #private::Callable = #private::Callable::new(#module, "", #pyver);
            #private::getattr(&__PYMODGEN_MODULE, py, #attr)
        }
    }
}
