//! Golden output of the Lisp emitter over real modules (insta snapshots in `snapshots/`).
//!
//! Each generated file is one snapshot. The module version hash (it covers file mtimes)
//! is replaced by a fixed string before emitting. Review changes with `cargo insta review`.

use pymodgen::{EmitOptions, Lang, Manifest, Options};

fn manifests(module: &str, submodules: bool) -> Vec<Manifest> {
    let options = Options { use_cache: false, submodules, ..Options::default() };
    let mut manifests = pymodgen::load(module, &options).expect("module introspects").manifests;
    for m in &mut manifests {
        m.hash = "0123456789abcdef0123456789abcdef".into();
    }
    manifests
}

fn check(module: &str, name: &str, options: &EmitOptions) {
    let manifests = manifests(module, false);
    let output = pymodgen::emit(&manifests, Lang::Lisp, options).expect("emits");
    for (path, text) in &output.files {
        insta::assert_snapshot!(format!("lisp__{name}__{}", path.display()), text);
    }
    let again = pymodgen::emit(&manifests, Lang::Lisp, options).expect("emits");
    assert_eq!(output, again, "emitting twice gives the same bytes");
}

#[test]
fn json() {
    check("json", "json", &EmitOptions::default());
}

#[test]
fn math() {
    check("math", "math", &EmitOptions::default());
}
