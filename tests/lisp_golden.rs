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
