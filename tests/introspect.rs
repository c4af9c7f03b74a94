//! Introspection of real Python modules through the library API.

use pymodgen::manifest::{ParamKind, SignatureSource};
use pymodgen::Options;

fn options() -> Options {
    Options { use_cache: false, ..Options::default() }
}

#[test]
fn json_dumps_parameters() {
    let loaded = pymodgen::load("json", &options()).expect("json introspects");
    let json = &loaded.manifests[0];
    assert_eq!(json.module, "json");
    let dumps = json.function("dumps").expect("json.dumps is listed");
    assert_eq!(dumps.signature_source, SignatureSource::Inspect);
    let obj = &dumps.params[0];
    assert_eq!((obj.name.as_str(), obj.kind, obj.required), ("obj", ParamKind::PositionalOrKeyword, true));
    let indent = dumps.params.iter().find(|p| p.name == "indent").expect("indent");
    assert_eq!((indent.kind, indent.required), (ParamKind::KeywordOnly, false));
    assert_eq!(indent.default.as_deref(), Some("None"));
}
