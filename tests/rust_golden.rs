//! Golden files (insta) of the Rust emitter: every generated file of the crates for the
//! fixture package (with submodules) and for `json`. Review changes with `cargo insta
//! review`. The hash in the header and this checkout's path in `Cargo.toml` are redacted.

use std::path::{Path, PathBuf};

use pymodgen::{EmitOptions, Lang, Options};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/python")
}

fn snapshot_crate(module: &str, submodules: bool) {
    let options = Options { submodules, pythonpath: vec![fixtures()], ..Options::default() };
    let loaded = pymodgen::load(module, &options).unwrap_or_else(|e| panic!("{module}: {e}"));
    let output = pymodgen::emit(&loaded.manifests, Lang::Rust, &EmitOptions::default()).unwrap();
    let runtime = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().join("runtime");
    for (path, text) in &output.files {
        let mut text = text.replace(&runtime.display().to_string(), "[runtime]");
        if let Some(start) = text.find("(hash ") {
            let end = text[start..].find(')').map_or(text.len(), |e| start + e + 1);
            text.replace_range(start..end, "(hash [hash])");
        }
        let name = format!("rust__{module}__{}", path.display().to_string().replace(['/', '.'], "_"));
        insta::assert_snapshot!(name, text);
    }
}

#[test]
fn fixture_package() {
    snapshot_crate("pymodgen_fixture", true);
}

#[test]
fn json() {
    snapshot_crate("json", false);
}
