//! `bind_pymodule!`: pymodgen bindings expanded inline, a thin shell over the `pymodgen`
//! library (which does the work: find Python, introspect or read the cache, emit).
//!
//! ```ignore
//! pymodgen_macros::bind_pymodule!("json");              // pub mod json { ... }
//! pymodgen_macros::bind_pymodule!("os.path");            // pub mod path { ... }
//! pymodgen_macros::bind_pymodule!("os.path" as os_path); // pub mod os_path { ... }
//! pymodgen_macros::bind_pymodule!("numpy", submodules);  // numpy::linalg::svd, ...
//! pymodgen_macros::bind_pymodule!("numpy", numpy_arrays); // NDArray[float64] → PyArrayDyn<f64>
//! ```
//!
//! The expansion reads every file the module version hash covers with `include_bytes!`
//! and every environment variable the interpreter choice read with `option_env!`, so cargo
//! recompiles the crate when (and only when) the module or the interpreter changes.
//!
//! # The manual
//! The pymodgen book is `docs/` in the source repository (`scripts/docs` builds it into
//! `target/book`): getting started in Rust and in Common Lisp, guides by task, the reference
//! (command line, manifest schema, type tables, options, environment variables, the C ABI)
//! and the design. Which of the three ways in (the CLI's crate, this macro, a
//! `build.rs`) to choose: its guide "Rust: a crate, the macro or build.rs".

use proc_macro::TokenStream;
use proc_macro2::{Span, TokenStream as TokenStream2};
use quote::quote;
use syn::parse::{Parse, ParseStream};
use syn::{Ident, LitStr, Token};

struct Args {
    module: LitStr,
    rename: Option<Ident>,
    submodules: bool,
    numpy_arrays: bool,
}

impl Parse for Args {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let module: LitStr = input.parse()?;
        let mut rename = None;
        if input.peek(Token![as]) {
            input.parse::<Token![as]>()?;
            rename = Some(input.parse()?);
        }
        let (mut submodules, mut numpy_arrays) = (false, false);
        while input.peek(Token![,]) {
            input.parse::<Token![,]>()?;
            if input.is_empty() {
                break;
            }
            let option: Ident = input.parse()?;
            match option.to_string().as_str() {
                "submodules" => submodules = true,
                "numpy_arrays" => numpy_arrays = true,
                other => {
                    return Err(syn::Error::new(
                        option.span(),
                        format!("unknown option `{other}`; the options are `submodules` and `numpy_arrays`"),
                    ));
                }
            }
        }
        Ok(Args { module, rename, submodules, numpy_arrays })
    }
}

/// Binds a Python module: `bind_pymodule!("json")` expands to `pub mod json { ... }`.
///
/// Forms: `bind_pymodule!("MODULE")`, `bind_pymodule!("MODULE" as name)`,
/// `bind_pymodule!("MODULE", submodules)`, and `numpy_arrays` to type numpy arrays with
/// rust-numpy (`RustOptions::numpy_arrays`: the runtime's `numpy` feature must be on). The
/// crate needs a `pymodgen-runtime` dependency.
#[proc_macro]
pub fn bind_pymodule(input: TokenStream) -> TokenStream {
    let args = syn::parse_macro_input!(input as Args);
    expand(&args).unwrap_or_else(|e| e.to_compile_error()).into()
}

fn expand(args: &Args) -> syn::Result<TokenStream2> {
    let module = args.module.value();
    let span = args.module.span();
    let options = pymodgen::Options { submodules: args.submodules, ..Default::default() };
    let loaded = pymodgen::load(&module, &options).map_err(|e| syn::Error::new(span, e))?;
    let mut rust = pymodgen::emit::rust::RustOptions::default();
    rust.numpy_arrays = Some(args.numpy_arrays);
    rust.module_name = Some(match &args.rename {
        Some(name) => name.to_string(),
        None => pymodgen::emit::rust::default_module_name(&module),
    });
    let tokens = pymodgen::emit::rust::module_tokens(&loaded.manifests, &rust).map_err(|e| syn::Error::new(span, e))?;
    let files = loaded
        .tracked
        .files
        .iter()
        .filter(|f| f.is_file())
        .filter_map(|f| f.to_str().map(|s| LitStr::new(s, Span::call_site())));
    let envs = loaded.tracked.env.iter().map(|v| LitStr::new(v, Span::call_site()));
    Ok(quote! {
        #tokens
        const _: () = {
            #(const _: &[u8] = include_bytes!(#files);)*
            #(const _: ::core::option::Option<&str> = option_env!(#envs);)*
        };
    })
}
