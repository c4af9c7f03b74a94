//! Rust emitter: manifests → a crate (CLI), one formatted file (build.rs [`crate::Builder`])
//! or tokens (`bind_pymodule!`). All three come from [`module_tokens`].
//!
//! Stages: plan (a module tree, every Rust name allocated in a `names::Scope`) → emit
//! each construct (`function.rs`, `class.rs`, `constant.rs`) with `quote!` → format with
//! prettyplease (`krate.rs` for the crate's files).

mod class;
mod constant;
mod docs;
mod function;
mod krate;
mod names;
mod protocol;
mod types;

use std::collections::BTreeMap;

use proc_macro2::TokenStream;
use quote::quote;

use super::Output;
use crate::manifest::Manifest;
use crate::{Error, Result};
use names::{Case, Scope, ident};

/// Options of the Rust emitter.
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub struct RustOptions {
    /// Path of the runtime crate in generated code; `None` means `::pymodgen_runtime`
    /// (pyo3's `crate = ...` convention, for re-exports).
    pub runtime_path: Option<String>,
    /// The `pymodgen-runtime` dependency written to a generated crate's `Cargo.toml`, as a
    /// TOML value (`"0.1"` or `{ path = "../runtime" }`); `None` means the checkout's
    /// `runtime/` when pymodgen runs from a checkout, else exactly pymodgen's own version
    /// (`"=0.1.0"`).
    pub runtime_dependency: Option<String>,
    /// Name of a generated crate; `None` means `py-<module>` (`py-os-path`).
    pub crate_name: Option<String>,
    /// Name of the outer Rust module of [`module_tokens`] / [`module_file`]; `None` means
    /// the last segment of the Python module name, in snake case (`os.path` → `path`).
    pub module_name: Option<String>,
    /// Skip the run-time check that the interpreter is the one the bindings were made with.
    pub no_version_check: bool,
    /// Type numpy arrays with rust-numpy (`NDArray[float64]` → `Bound<PyArrayDyn<f64>>`),
    /// which needs the runtime's `numpy` feature. `None` means on for a generated crate (its
    /// `Cargo.toml` then enables the feature) and off for [`module_tokens`] /
    /// [`module_file`] (`bind_pymodule!`, `Builder`), whose crate chooses the features.
    pub numpy_arrays: Option<bool>,
}

/// What every construct emitter needs.
pub(crate) struct Ctx {
    /// `::pymodgen_runtime`
    pub(crate) rt: TokenStream,
    /// `::pymodgen_runtime::__private`
    pub(crate) private: TokenStream,
    /// The interpreter version checked at run time (`""`: no check).
    pub(crate) python_version: String,
    /// The Python module being emitted.
    pub(crate) module: String,
}

/// One Rust module of the tree.
struct Node<'m> {
    /// Python module name (`json.decoder`).
    python: String,
    manifest: Option<&'m Manifest>,
    /// Rust name of this module in its parent.
    rust: String,
    children: BTreeMap<String, Node<'m>>,
    /// Rust module segments from the root.
    path: Vec<String>,
}

/// Names allocated for one module before anything is emitted.
struct Plan {
    scope: Scope,
    children: Vec<String>,
    classes: Vec<String>,
    functions: Vec<(String, Option<(String, String)>)>,
    constants: Vec<String>,
    objects: Vec<String>,
}

fn runtime_tokens(options: &RustOptions) -> Result<TokenStream> {
    let path = options.runtime_path.as_deref().unwrap_or("::pymodgen_runtime");
    syn::parse_str::<syn::Path>(path)
        .map(|p| quote!(#p))
        .map_err(|e| Error::Invalid(format!("invalid runtime path '{path}': {e}")))
}

fn build_tree(manifests: &[Manifest]) -> Result<Node<'_>> {
    let root = manifests.first().ok_or_else(|| Error::Invalid("no manifest to emit".into()))?;
    let mut tree = Node {
        python: root.module.clone(),
        manifest: Some(root),
        rust: String::new(),
        children: BTreeMap::new(),
        path: Vec::new(),
    };
    let prefix = format!("{}.", root.module);
    let mut rest: Vec<&Manifest> = manifests[1..].iter().filter(|m| m.module.starts_with(&prefix)).collect();
    rest.sort_by(|a, b| a.module.cmp(&b.module));
    for m in rest {
        let mut node = &mut tree;
        let mut python = root.module.clone();
        for seg in m.module[prefix.len()..].split('.') {
            python = format!("{python}.{seg}");
            node = node.children.entry(seg.to_owned()).or_insert_with(|| Node {
                python: python.clone(),
                manifest: None,
                rust: String::new(),
                children: BTreeMap::new(),
                path: Vec::new(),
            });
        }
        node.manifest = Some(m);
    }
    Ok(tree)
}

/// Pass 1: allocates names in every module, records where each class's wrapper lives.
fn plan(node: &mut Node<'_>, plans: &mut BTreeMap<Vec<String>, Plan>, classes: &mut BTreeMap<String, Vec<String>>) {
    let mut scope = Scope::new();
    let mut children = Vec::new();
    for child in node.children.values_mut() {
        child.rust = scope.name(child.python.rsplit('.').next().unwrap_or_default(), Case::Snake);
        let mut path = node.path.clone();
        path.push(child.rust.clone());
        child.path = path;
        children.push(child.rust.clone());
    }
    let mut p = Plan { scope, children, classes: vec![], functions: vec![], constants: vec![], objects: vec![] };
    if let Some(m) = node.manifest {
        for c in &m.classes {
            let name = p.scope.name(&c.name, Case::Camel);
            let mut path = node.path.clone();
            path.push(name.clone());
            classes.entry(c.qualname.clone()).or_insert(path);
            p.classes.push(name);
        }
        for f in &m.functions {
            let name = p.scope.name(&f.name, Case::Snake);
            let with = function::needs_builder(f).then(|| {
                let w = p.scope.unique(format!("{}_with", name.trim_end_matches('_')));
                let b = p.scope.name(&format!("{}_call", f.name), Case::Camel);
                (w, b)
            });
            p.functions.push((name, with));
        }
        for c in &m.constants {
            let upper = constant_is_const(c);
            p.constants.push(p.scope.name(&c.name, if upper { Case::Shouty } else { Case::Snake }));
        }
        for o in &m.objects {
            p.objects.push(p.scope.name(&o.name, Case::Snake));
        }
    }
    plans.insert(node.path.clone(), p);
    for child in node.children.values_mut() {
        plan(child, plans, classes);
    }
}

fn constant_is_const(c: &crate::manifest::Constant) -> bool {
    use crate::manifest::Literal;
    match &c.literal {
        Some(Literal::Bool(_) | Literal::Str(_) | Literal::Bytes(_)) => true,
        Some(Literal::Int(s)) => s.parse::<i64>().is_ok(),
        Some(Literal::Float(s)) => {
            matches!(s.as_str(), "inf" | "-inf" | "nan") || s.parse::<f64>().is_ok_and(f64::is_finite)
        }
        _ => false,
    }
}

/// The path from module `from` to item `to` (both as segments from the root).
fn relative_path(from: &[String], to: &[String]) -> TokenStream {
    let (module, item) = to.split_at(to.len() - 1);
    let common = from.iter().zip(module).take_while(|(a, b)| a == b).count();
    let supers = (common..from.len()).map(|_| quote!(super::));
    let segs = module[common..].iter().chain(item).map(|s| ident(s));
    quote!(#(#supers)* #(#segs)::*)
}

/// How a module's children are written: inline (`pub mod a { ... }`) or as files.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Layout {
    Inline,
    Files,
}

struct Emitter<'a> {
    options: &'a RustOptions,
    rt: TokenStream,
    plans: BTreeMap<Vec<String>, Plan>,
    classes: BTreeMap<String, Vec<String>>,
    /// Classes deriving from `numpy.ndarray` (qualnames).
    arrays: std::collections::BTreeSet<String>,
    layout: Layout,
    /// With [`Layout::Files`]: (segments, body tokens) of every module.
    files: Vec<(Vec<String>, TokenStream)>,
    /// Type numpy arrays ([`RustOptions::numpy_arrays`]).
    numpy: bool,
    /// Whether some module used a numpy array type.
    uses_numpy: bool,
}

impl Emitter<'_> {
    /// The items of one module (children inline or as `pub mod x;`).
    fn module_body(&mut self, node: &Node<'_>) -> TokenStream {
        let mut plan = self.plans.remove(&node.path).expect("every module is planned");
        let module = node.python.clone();
        let python_version = match (node.manifest, self.options.no_version_check) {
            (Some(m), false) => m.python.version.clone(),
            _ => String::new(),
        };
        let ctx = Ctx {
            rt: self.rt.clone(),
            private: {
                let rt = &self.rt;
                quote!(#rt::__private)
            },
            python_version,
            module: module.clone(),
        };
        let mut items = Vec::new();

        // Module docs.
        let summary = format!("Bindings to the Python module `{module}`.");
        let mut extra = Vec::new();
        if let Some(m) = node.manifest {
            extra.push(format!(
                "Python module {module}{}",
                m.version.as_deref().map(|v| format!(" {v}")).unwrap_or_default()
            ));
        }
        let lines = docs::module_doc_lines(&summary, node.manifest.and_then(|m| m.doc.as_deref()), &extra);
        let inner_docs = docs::inner(&lines);

        // Children.
        for (child, rust) in node.children.values().zip(plan.children.clone()) {
            let id = ident(&rust);
            match self.layout {
                Layout::Inline => {
                    let body = self.module_body(child);
                    items.push(quote! { pub mod #id { #body } });
                }
                Layout::Files => {
                    // Every module file is `src/py/<python name>.rs`: flat, so a submodule
                    // named `lib` cannot meet `src/lib.rs`. `#[path]` is relative to the
                    // declaring file's directory.
                    let body = self.module_body(child);
                    let file = format!("{}.rs", child.python);
                    let path = if node.path.is_empty() { format!("py/{file}") } else { file.clone() };
                    self.files.push((vec![format!("py/{file}")], body));
                    items.push(quote! { #[path = #path] pub mod #id; });
                }
            }
        }

        let typer = types::Typer::new(
            self.rt.clone(),
            &self.classes,
            &self.arrays,
            node.path.clone(),
            self.numpy,
            std::mem::take(&mut plan.scope),
        );
        if let Some(m) = node.manifest {
            let exceptions = crate::emit::exceptions::flags(m);
            for ((c, rust), &exception) in m.classes.iter().zip(&plan.classes).zip(&exceptions) {
                let path = [node.path.clone(), vec![rust.clone()]].concat();
                let bases: Vec<TokenStream> = c
                    .bases
                    .iter()
                    .filter_map(|b| self.classes.get(b))
                    .filter(|p| **p != path)
                    .map(|p| relative_path(&node.path, p))
                    .collect();
                items.push(class::emit(&ctx, &typer, c, rust, &path, &bases, exception));
            }
            for (f, (name, with)) in m.functions.iter().zip(&plan.functions) {
                let names = function::Names { python: f.name.clone(), func: name.clone(), with: with.clone() };
                let target = function::Target::Static { module: module.clone(), path: f.name.clone() };
                let ret = function::ret_for(&typer, f, None, &f.name);
                let e = function::emit(&ctx, &typer, f, &target, &names, &ret, false);
                items.push(e.fns);
                items.push(e.types);
            }
            for (c, rust) in m.constants.iter().zip(&plan.constants) {
                items.push(match constant::constant(c, rust) {
                    Some(t) => t,
                    None => constant::getter(
                        &ctx,
                        &c.name,
                        rust,
                        &format!("a `{}` constant, = `{}`", c.type_, c.repr.replace('`', "'")),
                    ),
                });
            }
            for (o, rust) in m.objects.iter().zip(&plan.objects) {
                items.push(constant::getter(&ctx, &o.name, rust, &format!("a `{}` object", o.type_)));
            }
        }
        let uses_numpy = typer.uses_numpy.get();
        let rt = &self.rt;
        let private = &ctx.private;
        let mut head: Vec<TokenStream> =
            typer.into_enums().iter().map(|e| types::enum_items(rt, private, &module, e)).collect();
        if uses_numpy {
            self.uses_numpy = true;
            head.insert(0, quote!(#rt::__pymodgen_requires_numpy!();));
        }
        // Python names make any method name possible (`add`, `to_string`, `len`, ...), and a
        // Python constant may equal a well-known one: clippy's style lints do not apply.
        quote! {
            #inner_docs
            #![allow(clippy::all)]
            #(#head)*
            #(#items)*
        }
    }
}

fn emitter<'a>(manifests: &'a [Manifest], options: &'a RustOptions, layout: Layout) -> Result<(Emitter<'a>, Node<'a>)> {
    let mut tree = build_tree(manifests)?;
    let mut plans = BTreeMap::new();
    let mut classes = BTreeMap::new();
    plan(&mut tree, &mut plans, &mut classes);
    let rt = runtime_tokens(options)?;
    let numpy = options.numpy_arrays.unwrap_or(layout == Layout::Files);
    let arrays = types::array_classes(manifests);
    Ok((Emitter { options, rt, plans, classes, arrays, layout, files: Vec::new(), numpy, uses_numpy: false }, tree))
}

/// How many callables of an output get a concrete Rust return type (not `Bound<PyAny>`):
/// what [`return_type_counts`] measures.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ReturnTypeCounts {
    /// Module-level functions.
    pub functions: usize,
    /// Module-level functions whose return is a Rust type (`()` included).
    pub functions_typed: usize,
    /// Methods (instance, static and class methods) of the classes.
    pub methods: usize,
    /// Methods whose return is a Rust type.
    pub methods_typed: usize,
}

/// Counts the callables of `manifests` (emitted as one output, as [`module_tokens`] would
/// with `options`) whose Rust return is a concrete type.
pub fn return_type_counts(manifests: &[Manifest], options: &RustOptions) -> Result<ReturnTypeCounts> {
    let (e, tree) = emitter(manifests, options, Layout::Inline)?;
    let mut counts = ReturnTypeCounts::default();
    let mut stack = vec![&tree];
    while let Some(node) = stack.pop() {
        stack.extend(node.children.values());
        let (Some(m), Some(plan)) = (node.manifest, e.plans.get(&node.path)) else { continue };
        let typer = types::Typer::new(e.rt.clone(), &e.classes, &e.arrays, node.path.clone(), e.numpy, Scope::new());
        let typed = |r: function::Ret| usize::from(!matches!(r, function::Ret::Any));
        for f in &m.functions {
            counts.functions += 1;
            counts.functions_typed += typed(function::ret_for(&typer, f, None, &f.name));
        }
        for (c, rust) in m.classes.iter().zip(&plan.classes) {
            let path = [node.path.clone(), vec![rust.clone()]].concat();
            for f in &c.methods {
                counts.methods += 1;
                counts.methods_typed += typed(function::ret_for(&typer, f, Some((&path, &c.qualname)), &f.name));
            }
        }
    }
    Ok(counts)
}

/// The outer module's Rust name.
fn outer_name(manifests: &[Manifest], options: &RustOptions) -> String {
    match &options.module_name {
        Some(n) => n.clone(),
        None => default_module_name(manifests.first().map(|m| m.module.as_str()).unwrap_or_default()),
    }
}

/// The default crate name for a Python module, as the user named it: `py-os-path` (the
/// manifest of `os.path` says `posixpath`, so front ends should set
/// [`RustOptions::crate_name`] from this).
pub fn default_crate_name(module: &str) -> String {
    krate::crate_name(module, &RustOptions::default())
}

/// The Rust module name for a Python module: its last segment in snake case, escaped
/// (`os.path` → `path`, `cProfile` → `c_profile`). Front ends pass the module as the user
/// named it, since `os.path`'s manifest says `posixpath`.
pub fn default_module_name(module: &str) -> String {
    Scope::new().name(module.rsplit('.').next().unwrap_or_default(), Case::Snake)
}

/// `pub mod <name> { ... }` with every submodule nested inline: what `bind_pymodule!`
/// expands to. `manifests` are the requested module first, then its submodules.
pub fn module_tokens(manifests: &[Manifest], options: &RustOptions) -> Result<TokenStream> {
    let (mut e, tree) = emitter(manifests, options, Layout::Inline)?;
    let body = e.module_body(&tree);
    let name = ident(&outer_name(manifests, options));
    Ok(quote! { pub mod #name { #body } })
}

/// [`module_tokens`] formatted, with a `// @generated` header: what [`crate::Builder`]
/// writes to `$OUT_DIR/<module>.rs` for `include!`.
pub fn module_file(manifests: &[Manifest], options: &RustOptions) -> Result<String> {
    let tokens = module_tokens(manifests, options)?;
    let root = &manifests[0];
    Ok(format!("{}{}", header(root), format(&root.module, tokens)?))
}

/// `// @generated by pymodgen X.Y from MODULE VERSION (hash ...)`
fn header(m: &Manifest) -> String {
    let version = m.version.as_deref().map(|v| format!(" {v}")).unwrap_or_default();
    let hash: String = m.hash.chars().take(16).collect();
    format!("// @generated by pymodgen {} from {}{version} (hash {hash})\n", crate::VERSION, m.module)
}

fn format(module: &str, tokens: TokenStream) -> Result<String> {
    let file: syn::File =
        syn::parse2(tokens).map_err(|e| Error::Syntax { module: module.to_owned(), message: e.to_string() })?;
    Ok(prettyplease::unparse(&file))
}

/// The files of a crate: `Cargo.toml`, `build.rs`, `src/lib.rs` and one file per submodule.
pub(crate) fn emit(manifests: &[Manifest], options: &RustOptions) -> Result<Output> {
    let (mut e, tree) = emitter(manifests, options, Layout::Files)?;
    let root_body = e.module_body(&tree);
    let root = &manifests[0];
    let head = header(root);
    let mut files = Vec::new();
    let lib = quote! {
        #root_body
    };
    files.push(("src/lib.rs".into(), format!("{head}{}", format(&root.module, lib)?)));
    for (path, body) in std::mem::take(&mut e.files) {
        let rel = format!("src/{}", path.join("/"));
        files.push((rel.into(), format!("{head}{}", format(&root.module, body)?)));
    }
    files.extend(krate::files(root, options, e.uses_numpy));
    Ok(Output { files })
}
