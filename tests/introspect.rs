//! Introspection of real Python modules through the library API: the fixture package made
//! for these tests, the standard library, numpy, and modules that misbehave on purpose.

use std::path::{Path, PathBuf};

use pymodgen::manifest::{
    AttributeKind, FunctionKind, Literal, Manifest, ParamKind, SignatureSource, Type, TypeSource,
};
use pymodgen::{Error, Options};

mod common;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/python")
}

/// No cache: every test introspects for real.
fn options() -> Options {
    Options { use_cache: false, pythonpath: vec![fixtures()], ..Options::default() }
}

fn load(module: &str) -> Vec<Manifest> {
    pymodgen::load(module, &options()).unwrap_or_else(|e| panic!("{module}: {e}")).manifests
}

fn load_err(module: &str) -> Error {
    match pymodgen::load(module, &options()) {
        Ok(_) => panic!("{module} introspected, an error was expected"),
        Err(e) => e,
    }
}

#[test]
fn json_dumps_parameters() {
    let json = &load("json")[0];
    assert_eq!(json.module, "json");
    assert_eq!(json.version.as_deref(), Some("2.0.9"));
    let dumps = json.function("dumps").expect("json.dumps is listed");
    assert_eq!(dumps.signature_source, SignatureSource::Inspect);
    let obj = &dumps.params[0];
    assert_eq!((obj.name.as_str(), obj.kind, obj.required), ("obj", ParamKind::PositionalOrKeyword, true));
    let indent = dumps.params.iter().find(|p| p.name == "indent").expect("indent");
    assert_eq!((indent.kind, indent.required), (ParamKind::KeywordOnly, false));
    assert_eq!(indent.default.as_deref(), Some("None"));
    assert_eq!(indent.literal, Some(Literal::None));
    assert!(json.submodules.contains(&"json.decoder".to_owned()));
}

/// The fixture's manifest, checked in as a golden snapshot (machine-specific values redacted).
#[test]
fn fixture_manifest_golden() {
    let manifests = pymodgen::load("pymodgen_fixture", &Options { submodules: true, ..options() })
        .expect("fixture introspects")
        .manifests;
    assert_eq!(
        manifests.iter().map(|m| m.module.as_str()).collect::<Vec<_>>(),
        ["pymodgen_fixture", "pymodgen_fixture.shapes"]
    );
    insta::assert_json_snapshot!("pymodgen_fixture", manifests, {
        "[].hash" => "[hash]",
        "[].python" => "[python]",
    });
}

#[test]
fn fixture_parameter_kinds_and_defaults() {
    let m = &load("pymodgen_fixture")[0];
    let everything = m.function("everything").unwrap();
    let kinds: Vec<_> = everything.params.iter().map(|p| (p.name.as_str(), p.kind, p.required)).collect();
    use ParamKind::*;
    assert_eq!(
        kinds,
        [
            ("a", PositionalOnly, true),
            ("b", PositionalOnly, false),
            ("c", PositionalOrKeyword, false),
            ("args", VarPositional, false),
            ("d", KeywordOnly, true),
            ("e", KeywordOnly, false),
            ("kwargs", VarKeyword, false),
        ]
    );
    assert_eq!(everything.python_signature(), "(a, b=2, /, c=3, *args, d, e=5, **kwargs)");

    let literals = m.function("literal_defaults").unwrap();
    let lit = |name: &str| literals.params.iter().find(|p| p.name == name).unwrap().literal.clone();
    assert_eq!(lit("i"), Some(Literal::Int("-1".into())));
    assert_eq!(lit("f"), Some(Literal::Float("1e-05".into())));
    assert_eq!(lit("s"), Some(Literal::Str("it's \"quoted\"\n".into())));
    assert_eq!(lit("by"), Some(Literal::Bytes(vec![1])));
    assert_eq!(lit("n"), Some(Literal::None));
    assert_eq!(lit("big"), Some(Literal::Int("1000000000000000000000000000000".into())));
    assert_eq!(lit("yes"), Some(Literal::Bool(true)));
    assert_eq!(lit("inf"), Some(Literal::Float("inf".into())));
    assert_eq!(
        lit("t"),
        Some(Literal::Tuple(vec![Literal::Int("1".into()), Literal::Float("2.0".into()), Literal::Str("x".into())]))
    );

    // Non-literal defaults keep their repr (memory addresses scrubbed) and no literal.
    let nonlit = m.function("nonliteral_defaults").unwrap();
    for p in &nonlit.params[1..] {
        assert!(!p.required && p.literal.is_none(), "{}: {:?}", p.name, p.literal);
    }
    assert_eq!(nonlit.params[2].default.as_deref(), Some("<object object>"));

    let greet = m.function("greet").unwrap();
    assert_eq!(greet.params[0].annotation.as_deref(), Some("str"));
    assert_eq!(greet.returns.as_deref(), Some("str"));
}

#[test]
fn fixture_signature_sources_and_kinds() {
    let m = &load("pymodgen_fixture")[0];
    let f = |n: &str| m.function(n).unwrap_or_else(|| panic!("{n} missing"));
    assert_eq!(f("add").kind, FunctionKind::Function);
    assert_eq!(f("partial_add").kind, FunctionKind::Partial);
    assert_eq!(f("partial_add").python_signature(), "(b)");
    assert_eq!(f("no_signature").signature_source, SignatureSource::Fallback);
    assert_eq!(f("no_signature").python_signature(), "(*args, **kwargs)");
    let doc = f("doc_signature");
    assert_eq!(doc.signature_source, SignatureSource::Docstring);
    assert_eq!(doc.python_signature(), "(start, stop, step)");
    assert!(!doc.params[2].required && doc.params[2].default.is_none());
    // Names that clash with Rust keywords and Lisp symbols are recorded as Python has them.
    for name in ["type", "match", "list", "max", "self_", "clashing_params"] {
        f(name);
    }
    // An attribute that raises on access is skipped with its reason, not fatal.
    let skipped = m.skipped.iter().find(|s| s.name == "lazy_broken").expect("lazy_broken skipped");
    assert!(skipped.reason.contains("RuntimeError"), "{}", skipped.reason);
    // Private submodules are not listed.
    assert_eq!(m.submodules, ["pymodgen_fixture.shapes"]);
}

#[test]
fn fixture_classes_constants_objects() {
    let m = &load("pymodgen_fixture")[0];
    let counter = m.class("Counter").unwrap();
    let methods: Vec<_> = counter.methods.iter().map(|f| (f.name.as_str(), f.kind)).collect();
    assert_eq!(
        methods,
        [
            ("increment", FunctionKind::Method),
            ("starting_at", FunctionKind::Classmethod),
            ("zero", FunctionKind::Staticmethod)
        ]
    );
    // `self` and `cls` are not parameters.
    assert_eq!(counter.methods[0].python_signature(), "(by=None)");
    assert_eq!(counter.methods[1].python_signature(), "(value)");
    assert_eq!(counter.constructor.as_ref().unwrap().python_signature(), "(start=0, *, name=None)");
    let attrs: Vec<_> = counter.attributes.iter().map(|a| (a.name.as_str(), a.kind, a.readonly)).collect();
    assert_eq!(
        attrs,
        [
            ("current", AttributeKind::Property, false),
            ("doubled", AttributeKind::Property, true),
            ("label", AttributeKind::Data, false),
            ("step", AttributeKind::Data, false),
        ]
    );

    // Inherited methods are not copied into subclasses: bases say where to find them.
    let circle = m.class("Circle").unwrap();
    assert_eq!(circle.bases, ["pymodgen_fixture.shapes.Shape"]);
    assert_eq!(circle.qualname, "pymodgen_fixture.shapes.Circle");
    assert_eq!(circle.methods.iter().map(|f| f.name.as_str()).collect::<Vec<_>>(), ["area"]);
    assert!(m.class("Shape").unwrap().methods.iter().any(|f| f.name == "describe"));

    let constant = |n: &str| m.constants.iter().find(|c| c.name == n).unwrap_or_else(|| panic!("{n}"));
    assert_eq!(constant("ANSWER").literal, Some(Literal::Int("42".into())));
    assert_eq!(constant("BIG").literal, Some(Literal::Int("1267650600228229401496703205376".into())));
    assert_eq!(constant("NAME").literal, Some(Literal::Str("pymodgen ✓".into())));
    assert_eq!(constant("RAW").literal, Some(Literal::Bytes(vec![0, 255, b'r', b'a', b'w'])));
    assert_eq!(constant("NOTHING").type_, "NoneType");
    assert_eq!(
        m.objects.iter().map(|o| (o.name.as_str(), o.type_.as_str())).collect::<Vec<_>>(),
        [("REGISTRY", "builtins.dict")]
    );
    assert_eq!(m.version.as_deref(), Some("1.2.3"));
}

#[test]
fn module_printing_on_import_does_not_corrupt_the_manifest() {
    let m = &load("pymodgen_noisy")[0];
    assert_eq!(m.functions.iter().map(|f| f.name.as_str()).collect::<Vec<_>>(), ["quiet"]);
}

#[test]
fn bad_modules_are_clear_errors() {
    match load_err("pymodgen_raises") {
        Error::Import { module, exc_type, message, traceback } => {
            assert_eq!(module, "pymodgen_raises");
            assert_eq!(exc_type, "RuntimeError");
            assert_eq!(message, "boom: this module refuses to import");
            assert!(traceback.contains("pymodgen_raises.py"), "{traceback}");
        }
        other => panic!("unexpected error: {other}"),
    }
    let exits = load_err("pymodgen_exits");
    assert!(matches!(&exits, Error::Import { exc_type, .. } if exc_type == "SystemExit"), "{exits}");
    let unknown = load_err("pymodgen_no_such_module");
    assert!(matches!(unknown, Error::ModuleNotFound { .. }), "{unknown}");
    // A missing dependency inside an existing module is an import error, not "not found".
    let invalid = load_err("not a module");
    assert_eq!(invalid.to_string(), "'not a module' is not a Python module name");
    for err in [exits, unknown, invalid] {
        assert!(!err.to_string().contains('\n'), "one line: {err}");
    }
}

#[test]
fn introspection_has_a_time_limit() {
    let options = Options { timeout: Some(std::time::Duration::from_secs(2)), ..options() };
    let start = std::time::Instant::now();
    let err = pymodgen::load("pymodgen_hangs", &options).unwrap_err();
    assert!(matches!(err, Error::Timeout { seconds: 2, .. }), "{err}");
    assert!(start.elapsed().as_secs() < 30);
}

#[test]
fn bad_interpreter_is_a_clear_error() {
    let options = Options { python: Some("/nonexistent/python3".into()), ..options() };
    let err = pymodgen::load("json", &options).unwrap_err();
    assert!(matches!(err, Error::PythonNotFound { .. }), "{err}");
    assert!(err.to_string().contains("--python /nonexistent/python3"), "{err}");
}

#[test]
fn output_is_deterministic() {
    let run = || {
        let o = Options { submodules: true, ..options() };
        serde_json::to_string(&pymodgen::load("pymodgen_fixture", &o).unwrap().manifests).unwrap()
    };
    assert_eq!(run(), run());
    assert_eq!(serde_json::to_string(&load("json")).unwrap(), serde_json::to_string(&load("json")).unwrap());
}

#[test]
fn cache_hits_until_the_module_changes() {
    let cache = tempfile::tempdir().unwrap();
    let pkg = tempfile::tempdir().unwrap();
    let module = pkg.path().join("pymodgen_cache_probe.py");
    std::fs::write(&module, "def f(a):\n    return a\n").unwrap();
    let options = Options {
        use_cache: true,
        cache_dir: Some(cache.path().to_owned()),
        pythonpath: vec![pkg.path().to_owned()],
        ..Options::default()
    };
    let first = pymodgen::load("pymodgen_cache_probe", &options).unwrap();
    assert!(!first.cached);
    assert!(first.tracked.files.contains(&module), "the hash covers the module file");
    assert!(first.tracked.env.contains("PYMODGEN_PYTHON"));
    let second = pymodgen::load("pymodgen_cache_probe", &options).unwrap();
    assert!(second.cached);
    assert_eq!(first.manifests, second.manifests);

    // Changing the source changes the hash: introspected again, with the new signature.
    std::fs::write(&module, "def f(a, b=1):\n    return a + b\n").unwrap();
    let third = pymodgen::load("pymodgen_cache_probe", &options).unwrap();
    assert!(!third.cached);
    assert_ne!(third.manifests[0].hash, first.manifests[0].hash);
    assert_eq!(third.manifests[0].functions[0].python_signature(), "(a, b=1)");

    // Without the cache, the files the hash covers are tracked all the same (build.rs needs them).
    let uncached = pymodgen::load("pymodgen_cache_probe", &Options { use_cache: false, ..options.clone() }).unwrap();
    assert!(!uncached.cached && uncached.tracked.files.contains(&module));

    let entries = pymodgen::Cache::new(cache.path()).list().unwrap();
    assert_eq!(entries.len(), 1, "stale entries of a module are removed");
    assert_eq!(pymodgen::Cache::new(cache.path()).clear().unwrap(), 1);
}

#[test]
fn unwritable_cache_is_a_clear_error() {
    let file = tempfile::NamedTempFile::new().unwrap();
    let options = Options { use_cache: true, cache_dir: Some(file.path().join("cache")), ..options() };
    let err = pymodgen::load("json", &options).unwrap_err();
    assert!(matches!(err, Error::Io { .. }), "{err}");
    assert!(err.to_string().contains("cache"), "{err}");
}

/// Saved manifests load without Python, and refuse other schema versions.
#[test]
fn manifest_files_round_trip() {
    let manifests = load("json");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("json.json");
    std::fs::write(&path, manifests[0].to_json()).unwrap();
    assert_eq!(pymodgen::load_manifest_file(&path).unwrap(), manifests);
    std::fs::write(
        &path,
        manifests[0].to_json().replace(&format!("\"schema\": {}", pymodgen::manifest::SCHEMA), "\"schema\": 99"),
    )
    .unwrap();
    let err = pymodgen::load_manifest_file(&path).unwrap_err();
    assert!(matches!(err, Error::Schema { found: 99, .. }), "{err}");
}

/// Every importable standard-library module introspects.
#[test]
fn stdlib_sweep() {
    let common::Stdlib { modules, skipped, absent } = common::stdlib();
    assert!(modules.len() > 250, "only {} stdlib modules found", modules.len());
    let chunks: Vec<Vec<String>> = modules.chunks(modules.len().div_ceil(2)).map(|c| c.to_vec()).collect();
    // Also counts the module-level functions that get types (schema 2: typeshed, inline).
    let results: Vec<(Vec<String>, usize, usize)> = std::thread::scope(|s| {
        let handles: Vec<_> = chunks
            .iter()
            .map(|chunk| {
                s.spawn(move || {
                    let (mut failures, mut typed, mut functions) = (Vec::new(), 0, 0);
                    for m in chunk {
                        match pymodgen::load(m, &options()) {
                            Ok(loaded) => {
                                let fs = loaded.manifests.iter().flat_map(|m| &m.functions);
                                for f in fs {
                                    functions += 1;
                                    typed += usize::from(f.type_source.is_some());
                                }
                            }
                            Err(e) => failures.push(format!("{m}: {e}")),
                        }
                    }
                    (failures, typed, functions)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let failures: Vec<String> = results.iter().flat_map(|r| r.0.clone()).collect();
    let (typed, functions): (usize, usize) = (results.iter().map(|r| r.1).sum(), results.iter().map(|r| r.2).sum());
    let typed_pct = 100.0 * typed as f64 / functions.max(1) as f64;
    eprintln!("stdlib sweep types: {typed}/{functions} module-level functions typed ({typed_pct:.1} %)");
    eprintln!(
        "stdlib sweep: {} modules introspected, {} failures, {} skipped on purpose, {} not on this platform ({})",
        modules.len(),
        failures.len(),
        skipped.len(),
        absent.len(),
        absent.join(" ")
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(typed_pct >= 90.0, "{typed_pct:.1} % of the stdlib's module-level functions typed < 90 %");
}

/// numpy with its public submodules: how many callables get a real signature (target 98 %).
#[test]
fn numpy_signature_coverage() {
    let manifests = pymodgen::load("numpy", &Options { submodules: true, ..options() }).expect("numpy").manifests;
    let (mut total, mut real) = (0usize, 0usize);
    let mut fallbacks = Vec::new();
    // Types (schema 2), counted as scripts/type-coverage does: every parameter, and the returns
    // of everything but constructors.
    let (mut params, mut typed_params, mut returns, mut typed_returns) = (0usize, 0usize, 0usize, 0usize);
    for m in &manifests {
        for c in &m.classes {
            for p in c.constructor.iter().flat_map(|f| &f.params) {
                params += 1;
                typed_params += usize::from(p.type_.is_some());
            }
        }
        for f in m.functions.iter().chain(m.classes.iter().flat_map(|c| &c.methods)) {
            params += f.params.len();
            typed_params += f.params.iter().filter(|p| p.type_.is_some()).count();
            returns += 1;
            typed_returns += usize::from(f.return_type.is_some());
        }
        let callables = m.functions.iter().map(|f| (f.name.clone(), f)).chain(m.classes.iter().flat_map(|c| {
            c.constructor
                .iter()
                .map(move |f| (c.name.clone(), f))
                .chain(c.methods.iter().map(move |f| (format!("{}.{}", c.name, f.name), f)))
        }));
        for (name, f) in callables {
            total += 1;
            if f.signature_source == SignatureSource::Fallback {
                fallbacks.push(format!("{}.{name}", m.module));
            } else {
                real += 1;
            }
        }
    }
    let pct = 100.0 * real as f64 / total as f64;
    eprintln!(
        "numpy --submodules: {} modules, {real}/{total} callables with a real signature ({pct:.2} %); fallback: {}",
        manifests.len(),
        fallbacks.join(" ")
    );
    assert!(manifests.iter().any(|m| m.module == "numpy.linalg"));
    assert!(pct >= 98.0, "{pct:.2} % < 98 %");
    let (param_pct, return_pct) =
        (100.0 * typed_params as f64 / params as f64, 100.0 * typed_returns as f64 / returns as f64);
    eprintln!(
        "numpy --submodules types: {typed_params}/{params} parameters ({param_pct:.1} %), \
         {typed_returns}/{returns} returns ({return_pct:.1} %)"
    );
    assert!(param_pct >= 90.0, "{param_pct:.1} % of parameters typed < 90 %");
    assert!(return_pct >= 80.0, "{return_pct:.1} % of returns typed < 80 %");
}

// ---------------------------------------------------------------------------------------------
// Types (manifest schema 2): stubs, inline annotations, typeshed.

fn class(name: &str) -> Type {
    Type::Class { name: name.into(), args: vec![] }
}

fn generic(name: &str, args: Vec<Type>) -> Type {
    Type::Class { name: name.into(), args }
}

fn param_type<'a>(f: &'a pymodgen::manifest::Function, name: &str) -> Option<&'a Type> {
    f.params.iter().find(|p| p.name == name).unwrap_or_else(|| panic!("{}: no parameter {name}", f.name)).type_.as_ref()
}

/// The typed fixture's manifests (its own `.pyi` stubs and an inline-annotated submodule),
/// checked in as a golden snapshot.
#[test]
fn typed_fixture_manifest_golden() {
    let manifests = pymodgen::load("pymodgen_typed", &Options { submodules: true, ..options() })
        .expect("typed fixture introspects")
        .manifests;
    assert_eq!(
        manifests.iter().map(|m| m.module.as_str()).collect::<Vec<_>>(),
        ["pymodgen_typed", "pymodgen_typed.inline"]
    );
    insta::assert_json_snapshot!("pymodgen_typed", manifests, {
        "[].hash" => "[hash]",
        "[].python" => "[python]",
    });
}

/// Stub types: overloads in stub order, TypeVars with bound and constraints, Literal, Optional,
/// generic aliases expanded, Self, a property, positional-only names matched by position, and
/// no binding for a function that exists only in the stub.
#[test]
fn stub_types_of_the_typed_fixture() {
    let m = &load("pymodgen_typed")[0];
    let (int, float, str_) = (class("builtins.int"), class("builtins.float"), class("builtins.str"));
    assert!(m.function("ghost").is_none(), "a stub-only function is never bound");

    let scale = m.function("scale").unwrap();
    assert_eq!(scale.type_source, Some(TypeSource::Stub));
    let returns: Vec<_> = scale.overloads.iter().map(|o| o.return_type.clone().unwrap()).collect();
    assert_eq!(returns, [int.clone(), float.clone(), str_.clone()], "overloads in stub order");
    assert_eq!(scale.overloads[1].params[0].annotation.as_deref(), Some("float"));
    assert_eq!(scale.overloads[1].params[1].default.as_deref(), Some("2"));
    assert_eq!(scale.return_type, Some(Type::Union { of: vec![int.clone(), float.clone(), str_.clone()] }));
    assert_eq!(param_type(scale, "x"), Some(&Type::Union { of: vec![int.clone(), float.clone(), str_.clone()] }));
    assert!(scale.params[0].annotation.is_none(), "annotation keeps the runtime's text");

    let pick = m.function("pick").unwrap();
    let h = Type::Typevar {
        name: "_H".into(),
        bound: Some(Box::new(class("collections.abc.Hashable"))),
        constraints: vec![],
    };
    assert_eq!(pick.return_type.as_ref(), Some(&h));
    assert_eq!(param_type(pick, "items"), Some(&generic("collections.abc.Sequence", vec![h.clone()])));
    let key = generic("collections.abc.Callable", vec![Type::Params { of: vec![h.clone()] }, float.clone()]);
    assert_eq!(param_type(pick, "key"), Some(&Type::Union { of: vec![key, Type::None] }));

    let clamp = m.function("clamp").unwrap();
    let s = Type::Typevar { name: "_S".into(), bound: None, constraints: vec![int.clone(), float.clone()] };
    assert_eq!(clamp.return_type.as_ref(), Some(&s));

    let mode = m.function("mode").unwrap();
    let fast_slow = Type::Literal { values: vec![Literal::Str("fast".into()), Literal::Str("slow".into())] };
    assert_eq!(param_type(mode, "name"), Some(&fast_slow));
    assert_eq!(
        mode.return_type,
        Some(Type::Literal { values: vec![Literal::Int("0".into()), Literal::Int("1".into())] })
    );

    let maybe = m.function("maybe").unwrap();
    assert_eq!(param_type(maybe, "text"), Some(&Type::Union { of: vec![str_.clone(), Type::None] }));

    let apply = m.function("apply").unwrap();
    let r = Type::Typevar { name: "_R".into(), bound: None, constraints: vec![] };
    assert_eq!(param_type(apply, "f"), Some(&generic("collections.abc.Callable", vec![Type::Ellipsis, r.clone()])));
    assert_eq!(param_type(apply, "args"), Some(&class("builtins.object")));
    assert_eq!(param_type(apply, "kwargs"), Some(&Type::Any));

    let pairs = m.function("pairs").unwrap();
    let tuple = generic("builtins.tuple", vec![str_.clone(), int.clone()]);
    assert_eq!(pairs.return_type, Some(generic("collections.abc.Iterator", vec![tuple])));

    // Aliases from a private stub module, expanded; the generic one substituted.
    let row = generic("builtins.dict", vec![str_.clone(), generic("builtins.list", vec![float.clone()])]);
    assert_eq!(m.function("table").unwrap().return_type, Some(generic("builtins.list", vec![row])));
    let seq = |t: Type| generic("collections.abc.Sequence", vec![t]);
    let nested = Type::Union { of: vec![seq(float.clone()), seq(seq(float.clone()))] };
    assert_eq!(param_type(m.function("flatten").unwrap(), "x"), Some(&nested));

    let positional = m.function("positional").unwrap();
    assert_eq!((param_type(positional, "a"), param_type(positional, "b")), (Some(&int), Some(&str_)));
    assert_eq!(positional.return_type, Some(class("builtins.bytes")));

    let boxed = m.class("Box").unwrap();
    let t = Type::Typevar { name: "T".into(), bound: None, constraints: vec![] };
    assert_eq!(param_type(boxed.constructor.as_ref().unwrap(), "value"), Some(&t));
    let method = |name: &str| boxed.methods.iter().find(|f| f.name == name).unwrap();
    assert_eq!(method("get").return_type, Some(t));
    assert_eq!(method("replace").return_type, Some(Type::SelfType));
    let attr = |name: &str| boxed.attributes.iter().find(|a| a.name == name).unwrap();
    assert_eq!((attr("size").kind, attr("size").type_.clone()), (AttributeKind::Property, Some(int.clone())));
    assert_eq!(attr("size").type_source, Some(TypeSource::Stub));
    assert_eq!(attr("label").type_, Some(str_.clone()), "ClassVar[str] is str");

    let vec = m.class("Vec").unwrap();
    let method = |name: &str| vec.methods.iter().find(|f| f.name == name).unwrap();
    assert_eq!(method("zero").return_type, Some(Type::SelfType));
    assert_eq!(method("dot").kind, FunctionKind::Staticmethod);
    assert_eq!(param_type(method("dot"), "a"), Some(&class("pymodgen_typed.Vec")), "static: no self dropped");
    assert_eq!(param_type(method("scaled"), "k"), Some(&float));
}

/// Inline annotations, postponed as strings, are evaluated in the function's module; a name
/// only imported under TYPE_CHECKING stays `unknown` with its text.
#[test]
fn inline_types_of_the_typed_fixture() {
    let m = &load("pymodgen_typed.inline")[0];
    let (int, float) = (class("builtins.int"), class("builtins.float"));
    let area = m.function("area").unwrap();
    assert_eq!(area.type_source, Some(TypeSource::Inline));
    assert_eq!((param_type(area, "w"), area.return_type.as_ref()), (Some(&float), Some(&float)));
    let describe = m.function("describe").unwrap();
    assert_eq!(param_type(describe, "x"), Some(&Type::Union { of: vec![int.clone(), Type::None] }));
    assert_eq!(param_type(describe, "opts"), Some(&class("builtins.bool")));
    let later = m.function("later").unwrap();
    assert_eq!(param_type(later, "d"), Some(&Type::Unknown { text: Some("Decimal".into()) }));
    assert_eq!(
        later.return_type,
        Some(Type::Union { of: vec![Type::Unknown { text: Some("Decimal".into()) }, Type::None] })
    );
    let point = m.class("Point").unwrap();
    let moved = point.methods.iter().find(|f| f.name == "moved").unwrap();
    assert_eq!(moved.return_type, Some(class("pymodgen_typed.inline.Point")));
    let norm = point.attributes.iter().find(|a| a.name == "norm").unwrap();
    assert_eq!(
        (norm.type_.clone(), norm.type_source, norm.annotation.as_deref()),
        (Some(float), Some(TypeSource::Inline), Some("float"))
    );
}

/// The standard library gets typeshed's types (through typeshed-client).
#[test]
fn typeshed_types_for_the_standard_library() {
    let str_ = class("builtins.str");
    let dumps = load("json")[0].function("dumps").cloned().unwrap();
    assert_eq!(dumps.type_source, Some(TypeSource::Typeshed));
    assert_eq!(dumps.return_type, Some(str_.clone()));
    assert_eq!(param_type(&dumps, "obj"), Some(&Type::Any));
    let wrap = load("textwrap")[0].function("wrap").cloned().unwrap();
    assert_eq!(wrap.return_type, Some(generic("builtins.list", vec![str_.clone()])));
    assert_eq!(load("os")[0].function("getcwd").unwrap().return_type, Some(str_.clone()));
    assert_eq!(load("platform")[0].function("python_version").unwrap().return_type, Some(str_));
}

/// Types come from typeshed as it reads for the running interpreter (its `sys.version_info`
/// branches): math functions added in 3.11, 3.12 and 3.13 are there and typed from that
/// version on, and absent before (scripts/test-matrix runs this on each version).
#[test]
fn typeshed_follows_the_running_python_version() {
    let math = &load("math")[0];
    let minor: u32 = math.python.version.split('.').nth(1).and_then(|m| m.parse().ok()).unwrap();
    for (name, since) in [("cbrt", 11), ("sumprod", 12), ("fma", 13)] {
        match math.function(name) {
            Some(f) if minor >= since => {
                assert_eq!(f.type_source, Some(TypeSource::Typeshed), "math.{name} on 3.{minor}");
                assert_eq!(f.return_type, Some(class("builtins.float")), "math.{name} on 3.{minor}");
                assert!(f.params.iter().all(|p| p.type_.is_some()), "math.{name} on 3.{minor}: {:?}", f.params);
            }
            None if minor < since => {}
            other => panic!("math.{name} on Python 3.{minor}: {other:?}"),
        }
    }
}

/// Classmethods and staticmethods implemented in C: a `classmethod_descriptor` in the class
/// dict is a classmethod (`date.today`, `int.from_bytes`), a C `staticmethod` a staticmethod
/// (`str.maketrans`, whose `<unrepresentable>` defaults make optional parameters); where the
/// runtime has no signature the stub's is used (`def today(cls) -> Self`), overloads merged.
#[test]
fn c_classmethods_and_staticmethods() {
    let method = |m: &Manifest, class: &str, name: &str| {
        let c = m.classes.iter().find(|c| c.name == class).unwrap_or_else(|| panic!("class {class}"));
        c.methods.iter().find(|f| f.name == name).unwrap_or_else(|| panic!("{class}.{name}")).clone()
    };
    let datetime = &load("datetime")[0];
    let today = method(datetime, "date", "today");
    assert_eq!((today.kind, today.signature_source), (FunctionKind::Classmethod, SignatureSource::Stub));
    assert!(today.params.is_empty(), "{:?}", today.params);
    assert_eq!(today.return_type, Some(Type::SelfType));
    let now = method(datetime, "datetime", "now");
    assert_eq!((now.kind, now.params.len(), now.params[0].name.as_str()), (FunctionKind::Classmethod, 1, "tz"));
    let combine = method(datetime, "datetime", "combine");
    assert_eq!(combine.signature_source, SignatureSource::Stub);
    let shape: Vec<(&str, ParamKind, bool)> =
        combine.params.iter().map(|p| (p.name.as_str(), p.kind, p.required)).collect();
    assert_eq!(
        shape,
        [
            ("date", ParamKind::PositionalOrKeyword, true),
            ("time", ParamKind::PositionalOrKeyword, true),
            ("tzinfo", ParamKind::PositionalOrKeyword, false)
        ]
    );
    // A stub's `= ...` says there is a default, not which: none is restated.
    assert_eq!(combine.params[2].default, None);
    let builtins = &load("builtins")[0];
    for (class, name) in [("int", "from_bytes"), ("dict", "fromkeys"), ("bytes", "fromhex"), ("float", "fromhex")] {
        let f = method(builtins, class, name);
        assert_eq!(f.kind, FunctionKind::Classmethod, "{class}.{name}");
        assert_ne!(f.signature_source, SignatureSource::Fallback, "{class}.{name}");
    }
    let maketrans = method(builtins, "str", "maketrans");
    assert_eq!(
        (maketrans.kind, maketrans.signature_source),
        (FunctionKind::Staticmethod, SignatureSource::TextSignature)
    );
    let shape: Vec<(&str, ParamKind, bool)> =
        maketrans.params.iter().map(|p| (p.name.as_str(), p.kind, p.required)).collect();
    assert_eq!(
        shape,
        [
            ("x", ParamKind::PositionalOnly, true),
            ("y", ParamKind::PositionalOnly, false),
            ("z", ParamKind::PositionalOnly, false)
        ]
    );
    assert_eq!(maketrans.overloads.len(), 3);
    // No classmethod or staticmethod of these modules is left without a signature.
    for m in [datetime, builtins] {
        for c in &m.classes {
            for f in c.methods.iter().filter(|f| f.kind != FunctionKind::Method) {
                assert_ne!(f.signature_source, SignatureSource::Fallback, "{}.{}.{}", m.module, c.name, f.name);
            }
        }
    }
}

/// numpy's own stubs: linspace's overloads in stub order, NDArray expanded to
/// `numpy.ndarray[shape, numpy.dtype[scalar]]`.
#[test]
fn numpy_linspace_overloads() {
    let numpy = &load("numpy")[0];
    let linspace = numpy.function("linspace").unwrap();
    assert_eq!(linspace.type_source, Some(TypeSource::Stub));
    assert!(linspace.overloads.len() >= 6, "{} overloads", linspace.overloads.len());
    let first = &linspace.overloads[0];
    assert_eq!(first.returns.as_deref(), Some("NDArray[np.float64]"));
    let Some(Type::Class { name, args }) = &first.return_type else { panic!("{:?}", first.return_type) };
    assert_eq!(name, "numpy.ndarray");
    assert_eq!(args[1], generic("numpy.dtype", vec![class("numpy.float64")]));
    assert!(
        first
            .params
            .iter()
            .any(|p| p.name == "retstep" && p.type_ == Some(Type::Literal { values: vec![Literal::Bool(false)] }))
    );
    assert!(linspace.params.iter().all(|p| p.type_.is_some()), "every parameter typed: {:?}", linspace.params);
}

/// A `<name>-stubs` distribution types a package that has no annotations, and the module
/// version hash covers its files (a copy of both in a temporary directory is edited).
#[test]
fn stub_package_types_and_hash() {
    let m = &load("pymodgen_stubbed")[0];
    let double = m.function("double").unwrap();
    assert_eq!(double.type_source, Some(TypeSource::StubPackage));
    assert_eq!(double.return_type, Some(class("builtins.int")));
    let counter = m.class("Counter").unwrap();
    assert_eq!(counter.methods[0].return_type, Some(class("builtins.int")));

    let dir = tempfile::tempdir().unwrap();
    for sub in ["pymodgen_stubbed", "pymodgen_stubbed-stubs"] {
        std::fs::create_dir(dir.path().join(sub)).unwrap();
        for entry in std::fs::read_dir(fixtures().join(sub)).unwrap() {
            let path = entry.unwrap().path();
            if path.is_file() {
                std::fs::copy(&path, dir.path().join(sub).join(path.file_name().unwrap())).unwrap();
            }
        }
    }
    let options = Options { use_cache: false, pythonpath: vec![dir.path().to_path_buf()], ..Options::default() };
    let hash = || pymodgen::load("pymodgen_stubbed", &options).unwrap().manifests[0].hash.clone();
    let before = hash();
    let stub = dir.path().join("pymodgen_stubbed-stubs/__init__.pyi");
    let text = std::fs::read_to_string(&stub).unwrap();
    std::fs::write(&stub, text + "def triple(x: int) -> int: ...\n").unwrap();
    assert_ne!(hash(), before, "editing the stub package changes the hash");
}
