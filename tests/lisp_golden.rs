//! Golden output of the Lisp emitter over real modules (insta snapshots in `snapshots/`).
//!
//! Each generated file is one snapshot. The module version hash (it covers file mtimes)
//! and the interpreter's patch version are replaced by fixed strings before emitting. Review changes with `cargo insta review`.

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
    for (path, text) in &output.files {
        insta::assert_snapshot!(format!("lisp__{name}__{}", path.display()), text);
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
