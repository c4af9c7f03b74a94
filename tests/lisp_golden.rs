//! Golden output of the Lisp emitter over real modules (insta snapshots in `snapshots/`).
//!
//! Each generated file is one snapshot. The module version hash (it covers file mtimes)
//! and the interpreter's patch version are replaced by fixed strings before emitting, the
//! generator tag (it digests the introspection script) after. Review changes with `cargo insta review`.

use std::path::Path;

use pymodgen::emit::lisp::LispOptions;
use pymodgen::{EmitOptions, Lang, Manifest, Options};

fn manifests(module: &str, submodules: bool) -> Vec<Manifest> {
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/python");
    let options = Options { use_cache: false, submodules, pythonpath: vec![fixtures], ..Options::default() };
    let mut manifests = pymodgen::load(module, &options).expect("module introspects").manifests;
    for m in &mut manifests {
        m.hash = "0123456789abcdef0123456789abcdef".into();
        m.python.version = "3.x".into();
    }
    manifests
}

fn check(module: &str, name: &str, submodules: bool, options: &EmitOptions) {
    let manifests = manifests(module, submodules);
    let output = pymodgen::emit(&manifests, Lang::Lisp, options).expect("emits");
    // The generator tag digests the introspection script: not what these snapshots are about.
    let tag = pymodgen::hash::generator_tag();
    for (path, text) in &output.files {
        insta::assert_snapshot!(format!("lisp__{name}__{}", path.display()), text.replace(&tag, "[generator]"));
    }
    let again = pymodgen::emit(&manifests, Lang::Lisp, options).expect("emits");
    assert_eq!(output, again, "emitting twice gives the same bytes");
}

/// The fixture package and its submodule: every parameter kind, CL clashes, classes, constants.
#[test]
fn fixture() {
    check("pymodgen_fixture", "fixture", true, &EmitOptions::default());
}

#[test]
fn json() {
    check("json", "json", false, &EmitOptions::default());
}

/// `(defpymodule "math" nil :lisp-package "M")` and `--lisp-package M`.
#[test]
fn math_as_m() {
    let mut options = EmitOptions::default();
    options.lisp = LispOptions::default().with_lisp_package("M");
    check("math", "math_as_m", false, &options);
}

/// numpy with its submodules: a package per module, CL clashes shadowed, readable names.
#[test]
fn numpy_packages() {
    let manifests = manifests("numpy", true);
    let output = pymodgen::emit(&manifests, Lang::Lisp, &EmitOptions::default()).expect("emits");
    let file = |name: &str| {
        &output.files.iter().find(|(p, _)| p.to_str() == Some(name)).unwrap_or_else(|| panic!("{name} is written")).1
    };
    assert!(file("pymodgen-numpy.asd").contains("(:file \"numpy.random\")"));
    let packages = file("pymodgen-packages.lisp");
    assert!(packages.contains("(cl:defpackage \"NUMPY.RANDOM\""));
    let numpy = packages.split("(cl:defpackage").nth(1).expect("the NUMPY package comes first");
    for clash in ["#:max", "#:min", "#:round", "#:sort", "#:abs", "#:exp"] {
        let shadow = numpy.lines().find(|l| l.trim_start().starts_with("(:shadow")).expect("a :shadow list");
        assert!(shadow.contains(&format!("{clash} ")) || shadow.contains(&format!("{clash})")), "{clash} is shadowed");
    }
    assert!(numpy.contains("#:float64 "), "numpy.float64 is FLOAT64");
    assert!(numpy.contains("#:array-equal "), "numpy.array_equal is ARRAY-EQUAL");
    let code = file("numpy.lisp");
    // `a` is positional-or-keyword: taken from `%args` (so `:a` works), shown as required,
    // with the stub's types (SLIME prints `a: _ArrayLike[_ScalarT] | ArrayLike`).
    assert!(code.contains("(pymodgen::%define-python-function sum (&rest %args)"));
    assert!(code.contains(
        r#":arglist (#:|A: _ArrayLike[_ScalarT] \| ArrayLike| &optional (#:|AXIS: None \| _ShapeLike| pymodgen:+py-none+)"#
    ));
    assert!(code.contains("(pymodgen:%callable-cell \"numpy\" \"sum\")"));
    let random = file("numpy.random.lisp");
    assert!(random.contains("(cl:in-package \"NUMPY.RANDOM\")"));
}

/// The names of the runtime that generated code may use: the list at the top of
/// `runtime/lisp/src/generated.lisp` (its comment block, before `in-package`).
fn contract() -> std::collections::BTreeSet<String> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../runtime/lisp/src/generated.lisp");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let header = &text[..text.find("(in-package").expect("generated.lisp has an in-package")];
    pymodgen_symbols(header).into_iter().map(|s| s.trim_start_matches(':').to_owned()).collect()
}

/// Every `pymodgen:NAME` / `pymodgen::NAME` in TEXT, as `NAME` (one colon dropped: `:NAME`
/// for an internal symbol), lower case.
fn pymodgen_symbols(text: &str) -> Vec<String> {
    let lower = text.to_lowercase();
    let mut out = Vec::new();
    let mut rest = lower.as_str();
    while let Some(i) = rest.find("pymodgen:") {
        let before = rest[..i].chars().next_back();
        rest = &rest[i + "pymodgen:".len()..];
        if before.is_some_and(|c| c.is_alphanumeric() || c == '-' || c == '/') {
            continue; // part of another name (`pymodgen-numpy:`, `pymodgen/config:`)
        }
        let end = rest.find(|c: char| c.is_whitespace() || "()'\"|`,;".contains(c)).unwrap_or(rest.len());
        if end > 0 {
            out.push(rest[..end].to_owned());
        }
    }
    out
}

/// Generated code uses only the runtime names `generated.lisp` lists as its contract (the
/// fixture with its submodule and CL clashes, the typed and adversarial fixtures, json, numpy
/// with submodules): a template that starts calling something else of the runtime fails here
/// until the contract says so.
#[test]
fn generated_code_uses_only_the_contract() {
    let contract = contract();
    assert!(contract.contains("%call-cell") && contract.contains("%define-python-function"), "{contract:?}");
    for (module, submodules) in [
        ("pymodgen_fixture", true),
        ("pymodgen_typed", false),
        ("pymodgen_adversarial", false),
        ("json", false),
        ("numpy", true),
    ] {
        let output =
            pymodgen::emit(&manifests(module, submodules), Lang::Lisp, &EmitOptions::default()).expect("emits");
        for (path, text) in &output.files {
            // Comments may mention anything (`see pymodgen:*on-module-change*`).
            let code: String =
                text.lines().filter(|l| !l.trim_start().starts_with(';')).map(|l| format!("{l}\n")).collect();
            let text = &code;
            let mut used = pymodgen_symbols(text);
            // A file in package PYMODGEN itself (the load-time check) names them unqualified.
            if text.contains("(cl:in-package \"PYMODGEN\")") {
                used.extend(text.split('(').skip(1).filter_map(|form| {
                    let head = form.split(|c: char| c.is_whitespace() || c == ')').next()?;
                    (head.starts_with('%')).then(|| head.to_lowercase())
                }));
            }
            for name in used {
                let name = name.trim_start_matches(':');
                // the builtin exception conditions, one per builtin class (conditions.lisp)
                let builtin_condition = name.starts_with("python-") && contract.contains("python-*");
                assert!(
                    contract.contains(name) || builtin_condition,
                    "{module}: {} uses pymodgen::{name}, which runtime/lisp/src/generated.lisp does not list \
                     as part of the generated-code contract",
                    path.display()
                );
            }
        }
    }
}
