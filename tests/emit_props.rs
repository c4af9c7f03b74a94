//! Property tests over the emitters: random manifests with adversarial names, docstrings,
//! defaults, types and `Literal` values (no Python involved) give Rust that `cargo check`s
//! with zero errors and zero warnings, and Lisp whose every form reads and whose files
//! `compile-file` without a warning in SBCL.
//!
//! Batched so that the run stays short: every case is one module of ONE crate (one cargo
//! run) and one system compiled in ONE SBCL process. The default run (`cargo test`) uses a
//! fixed seed and `PYMODGEN_PROPTEST_CASES` cases (default 48); `scripts/proptest` runs the
//! long mode (more cases, a new seed each run, printed so that a failure can be replayed with
//! `PYMODGEN_PROPTEST_SEED`). A failing case is named by its module (`case_17`), and its
//! manifest is written beside the generated code (`target/pymodgen-e2e/proptest/`).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
use pymodgen::manifest::{
    Attribute, AttributeKind, Class, Constant, Function, FunctionKind, Literal, Manifest, Param, ParamKind, PythonInfo,
    SignatureSource, Type,
};
use pymodgen::{EmitOptions, Lang};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

fn work_dir() -> PathBuf {
    root().join("target/pymodgen-e2e")
}

/// Names that have broken, or could break, a generator: keywords of Rust, Python and Lisp,
/// prelude names, names that differ only in case or underscores, digits, odd characters.
const NAMES: &[&str] = &[
    "type",
    "self",
    "Self",
    "super",
    "crate",
    "gen",
    "fn",
    "r#type",
    "match",
    "None",
    "none",
    "NONE",
    "True",
    "true",
    "False",
    "nil",
    "t",
    "pi",
    "T",
    "NIL",
    "py",
    "Python",
    "Option",
    "Some",
    "Ok",
    "Err",
    "Box",
    "Vec",
    "String",
    "str",
    "bool",
    "i64",
    "f64",
    "_",
    "__",
    "___x",
    "x_",
    "X",
    "x",
    "aB",
    "a_b",
    "A_B",
    "AB",
    "1",
    "1st",
    "2d",
    "",
    " ",
    "a b",
    "a-b",
    "a.b",
    "a|b",
    "a\"b",
    "a\\b",
    "a`b",
    "a\rb",
    "a\nb",
    "é",
    "É",
    "日本",
    "١٢",
    "café",
    "__pymodgen_x",
    "new",
    "new_with",
    "call",
    "args",
    "kwargs",
    "ALL",
    "VALUES",
    "as_str",
    "Item",
    "item",
    "Empty",
    "empty",
    "list",
    "cl",
    "car",
    "defun",
    "lambda",
    "quote",
    "*x*",
    "+x+",
    "%x",
    "&optional",
    "&rest",
    ":key",
];

const TEXTS: &[&str] = &[
    "",
    "\r",
    "\r\n",
    "\n\n",
    "*/",
    "/*",
    "`",
    "``",
    "```",
    "````",
    "<b>",
    "</p>",
    "&amp;",
    "<https://x.y>",
    "[x](y)",
    "#",
    "|",
    "~",
    "\\",
    "\"",
    "'",
    "\u{0}",
    "\u{7}",
    "\u{1b}[31m",
    "\u{7f}",
    "\u{85}",
    "\u{ad}",
    "\u{200b}",
    "\u{202e}",
    "\u{2028}",
    "\u{2066}",
    "\u{feff}",
    "\u{fffd}",
    "#![doc]",
    "///",
    "//!",
    "\"\"\"",
    "#|",
    "|#",
    ";",
    "#.(error)",
    "(",
    ")",
    "    indented",
    "\ttab",
    ">>> doctest()",
    "```rust\nfn x() {}\n```",
    "~A ~S ~%",
];

fn text_strategy(pool: &'static [&'static str]) -> BoxedStrategy<String> {
    prop_oneof![
        3 => prop::sample::select(pool).prop_map(str::to_owned),
        2 => prop::collection::vec(prop::sample::select(pool), 0..5).prop_map(|v| v.concat()),
        1 => prop::collection::vec(any::<char>(), 0..6).prop_map(|v| v.into_iter().collect()),
    ]
    .boxed()
}

fn name() -> BoxedStrategy<String> {
    prop_oneof![
        4 => text_strategy(NAMES),
        1 => "[a-z]{1,3}".prop_map(|s| s),
    ]
    .boxed()
}

fn literal() -> BoxedStrategy<Literal> {
    let leaf = prop_oneof![
        Just(Literal::None),
        any::<bool>().prop_map(Literal::Bool),
        prop_oneof![any::<i64>().prop_map(|i| i.to_string()), Just("1180591620717411303424".to_owned())]
            .prop_map(Literal::Int),
        prop::sample::select(&["0.0", "-0.0", "1.5", "1e308", "5e-324", "inf", "-inf", "nan", "1e+16"][..])
            .prop_map(|f| Literal::Float(f.to_owned())),
        text_strategy(TEXTS).prop_map(Literal::Str),
        prop::collection::vec(any::<u8>(), 0..4).prop_map(Literal::Bytes),
    ];
    leaf.prop_recursive(2, 6, 3, |inner| prop::collection::vec(inner, 0..3).prop_map(Literal::Tuple)).boxed()
}

fn class_name() -> BoxedStrategy<String> {
    prop::sample::select(
        &[
            "builtins.int",
            "builtins.str",
            "builtins.float",
            "builtins.bool",
            "builtins.bytes",
            "builtins.object",
            "builtins.list",
            "builtins.dict",
            "builtins.tuple",
            "builtins.set",
            "collections.abc.Sequence",
            "collections.abc.Mapping",
            "collections.abc.Iterator",
            "collections.abc.Callable",
            "typing.Any",
            "numpy.ndarray",
            "m.Unknown",
            "m.C0",
            "m.C1",
        ][..],
    )
    .prop_map(str::to_owned)
    .boxed()
}

fn type_() -> BoxedStrategy<Type> {
    let leaf = prop_oneof![
        class_name().prop_map(|name| Type::Class { name, args: vec![] }),
        Just(Type::None),
        Just(Type::Any),
        Just(Type::SelfType),
        Just(Type::Unknown { text: Some("Foo[*/]".into()) }),
        prop::collection::vec(
            prop_oneof![
                text_strategy(TEXTS).prop_map(Literal::Str),
                text_strategy(NAMES).prop_map(Literal::Str),
                any::<i32>().prop_map(|i| Literal::Int(i.to_string())),
                any::<bool>().prop_map(Literal::Bool),
                Just(Literal::None),
            ],
            1..6
        )
        .prop_map(|values| Type::Literal { values }),
        name().prop_map(|name| Type::Typevar { name, bound: None, constraints: vec![] }),
    ];
    leaf.prop_recursive(2, 8, 3, |inner| {
        prop_oneof![
            (class_name(), prop::collection::vec(inner.clone(), 0..3))
                .prop_map(|(name, args)| Type::Class { name, args }),
            prop::collection::vec(inner.clone(), 2..4).prop_map(|of| Type::Union { of }),
            (name(), inner).prop_map(|(name, b)| Type::Typevar { name, bound: Some(Box::new(b)), constraints: vec![] }),
        ]
    })
    .boxed()
}

fn param() -> BoxedStrategy<Param> {
    (
        name(),
        prop::sample::select(
            &[
                ParamKind::PositionalOnly,
                ParamKind::PositionalOrKeyword,
                ParamKind::VarPositional,
                ParamKind::KeywordOnly,
                ParamKind::VarKeyword,
            ][..],
        ),
        prop::option::of(literal()),
        prop::option::of(text_strategy(TEXTS)),
        prop::option::weighted(0.6, type_()),
        any::<bool>(),
    )
        .prop_map(|(name, kind, literal, default_text, type_, has_default)| {
            let variadic = matches!(kind, ParamKind::VarPositional | ParamKind::VarKeyword);
            let default = (!variadic && has_default)
                .then(|| literal.as_ref().map_or_else(|| default_text.clone().unwrap_or_default(), Literal::python));
            Param {
                name,
                kind,
                required: !variadic && !has_default,
                default,
                literal: if !variadic && has_default { literal } else { None },
                annotation: None,
                type_,
                stub_annotation: None,
            }
        })
        .boxed()
}

/// A parameter list Python could have: unique names, kinds in order, at most one `*args` and
/// one `**kwargs`, no required positional parameter after an optional one.
fn params() -> BoxedStrategy<Vec<Param>> {
    prop::collection::vec(param(), 0..7)
        .prop_map(|mut ps| {
            ps.sort_by_key(|p| p.kind);
            let mut seen = std::collections::BTreeSet::new();
            ps.retain(|p| seen.insert(p.name.clone()));
            let mut var = std::collections::BTreeSet::new();
            ps.retain(|p| !matches!(p.kind, ParamKind::VarPositional | ParamKind::VarKeyword) || var.insert(p.kind));
            let mut optional = false;
            for p in &mut ps {
                if matches!(p.kind, ParamKind::PositionalOnly | ParamKind::PositionalOrKeyword) {
                    if !p.required {
                        optional = true;
                    } else if optional {
                        p.required = false;
                        p.default = Some("None".into());
                        p.literal = Some(Literal::None);
                    }
                }
            }
            ps
        })
        .boxed()
}

fn function(kinds: &'static [FunctionKind]) -> BoxedStrategy<Function> {
    (
        name(),
        prop::option::of(text_strategy(TEXTS)),
        prop::sample::select(kinds),
        prop::sample::select(
            &[
                SignatureSource::Inspect,
                SignatureSource::TextSignature,
                SignatureSource::Docstring,
                SignatureSource::Stub,
                SignatureSource::Fallback,
            ][..],
        ),
        params(),
        prop::option::weighted(0.6, type_()),
        prop::collection::vec((params(), prop::option::of(type_())), 0..3),
    )
        .prop_map(|(name, doc, kind, signature_source, params, return_type, overloads)| Function {
            name,
            doc,
            signature_source,
            kind,
            params,
            returns: None,
            return_type,
            stub_returns: None,
            overloads: overloads
                .into_iter()
                .map(|(params, return_type)| pymodgen::manifest::Overload { params, returns: None, return_type })
                .collect(),
            type_source: None,
        })
        .boxed()
}

fn attribute() -> BoxedStrategy<Attribute> {
    (
        name(),
        prop::sample::select(&[AttributeKind::Property, AttributeKind::Descriptor, AttributeKind::Data][..]),
        any::<bool>(),
        prop::option::of(text_strategy(TEXTS)),
        prop::option::of(literal()),
        prop::option::of(type_()),
    )
        .prop_map(|(name, kind, readonly, doc, literal, type_)| Attribute {
            name,
            kind,
            readonly,
            doc,
            literal: if kind == AttributeKind::Data { literal } else { None },
            annotation: None,
            type_,
            type_source: None,
        })
        .boxed()
}

const METHOD_KINDS: &[FunctionKind] = &[FunctionKind::Method, FunctionKind::Classmethod, FunctionKind::Staticmethod];
const FUNCTION_KINDS: &[FunctionKind] =
    &[FunctionKind::Function, FunctionKind::Builtin, FunctionKind::Callable, FunctionKind::Partial];

fn class(index: usize) -> BoxedStrategy<Class> {
    (
        name(),
        prop::option::of(text_strategy(TEXTS)),
        prop::option::of(function(&[FunctionKind::Callable])),
        prop::collection::vec(function(METHOD_KINDS), 0..4),
        prop::collection::vec(attribute(), 0..3),
    )
        .prop_map(move |(name, doc, constructor, methods, attributes)| Class {
            qualname: format!("m.C{index}"),
            bases: if index == 1 { vec!["m.C0".into()] } else { vec![] },
            name,
            doc,
            constructor,
            methods,
            attributes,
            protocols: vec![],
            iter: None,
        })
        .boxed()
}

fn constant() -> BoxedStrategy<Constant> {
    (name(), literal(), text_strategy(TEXTS))
        .prop_map(|(name, literal, type_)| Constant { name, repr: literal.python(), type_, literal: Some(literal) })
        .boxed()
}

fn manifest(module: String) -> BoxedStrategy<Manifest> {
    (
        prop::option::of(text_strategy(TEXTS)),
        prop::collection::vec(function(FUNCTION_KINDS), 0..6),
        class(0),
        class(1),
        any::<bool>(),
        prop::collection::vec(constant(), 0..4),
    )
        .prop_map(move |(doc, functions, c0, c1, two, constants)| Manifest {
            schema: pymodgen::manifest::SCHEMA,
            module: module.clone(),
            version: Some("1.0".into()),
            hash: "0123456789abcdef0123456789abcdef".into(),
            python: PythonInfo { version: "3.11.7".into(), executable: "python3".into(), libpython: None },
            doc,
            functions,
            classes: if two { vec![c0, c1] } else { vec![c0] },
            constants,
            objects: vec![],
            submodules: vec![],
            skipped: vec![],
        })
        .boxed()
}

fn env_number(name: &str, default: u64) -> u64 {
    match std::env::var(name) {
        Ok(v) => v.trim().parse().unwrap_or_else(|_| panic!("{name}={v:?} is not a number")),
        Err(_) => default,
    }
}

/// The random manifests of this run: `cases` of them from `seed`, module `case_<i>`.
fn cases(seed: u64, cases: usize) -> Vec<Manifest> {
    let mut bytes = [0u8; 32];
    bytes[..8].copy_from_slice(&seed.to_le_bytes());
    let rng = TestRng::from_seed(RngAlgorithm::ChaCha, &bytes);
    let mut runner = TestRunner::new_with_rng(Config::default(), rng);
    (0..cases).map(|i| manifest(format!("case_{i}")).new_tree(&mut runner).expect("a manifest").current()).collect()
}

/// Writes `path` unless it holds `text` already (so cargo and ASDF see no change).
fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    if std::fs::read_to_string(path).ok().as_deref() != Some(text) {
        std::fs::write(path, text).unwrap();
    }
}

#[test]
fn random_manifests_give_rust_and_lisp_without_warnings() {
    let seed = env_number("PYMODGEN_PROPTEST_SEED", 24);
    let n = env_number("PYMODGEN_PROPTEST_CASES", 48) as usize;
    let started = Instant::now();
    let manifests = cases(seed, n);
    let dir = work_dir().join("proptest");
    let _ = std::fs::remove_dir_all(dir.join("lisp"));

    // Rust: every case a module of one crate.
    let krate = dir.join("rust");
    let mut lib = format!("//! {n} random manifests, seed {seed} (generated by tests/emit_props.rs).\n");
    let mut lines = 0;
    for m in &manifests {
        let mut o = pymodgen::emit::rust::RustOptions::default();
        o.module_name = Some(m.module.clone());
        let text = pymodgen::emit::rust::module_file(std::slice::from_ref(m), &o)
            .unwrap_or_else(|e| panic!("emitting Rust for {}: {e}", m.module));
        let again = pymodgen::emit::rust::module_file(std::slice::from_ref(m), &o).unwrap();
        assert_eq!(text, again, "emitting {} twice differs", m.module);
        lines += text.lines().count();
        write(&krate.join(format!("src/{}.rs", m.module)), &text);
        write(&dir.join(format!("manifests/{}.json", m.module)), &m.to_json());
        lib.push_str(&format!("include!(\"{}.rs\");\n", m.module));
    }
    write(&krate.join("src/lib.rs"), &lib);
    write(
        &krate.join("Cargo.toml"),
        &format!(
            "[package]\nname = \"proptest-emit\"\nversion = \"0.1.0\"\nedition = \"2024\"\npublish = false\n\n[dependencies]\npymodgen-runtime = {{ path = {:?} }}\n\n[workspace]\n",
            root().join("runtime")
        ),
    );
    // Lisp: every case a system, each compiled in one SBCL.
    let mut systems = Vec::new();
    for m in &manifests {
        let out = pymodgen::emit(std::slice::from_ref(m), Lang::Lisp, &EmitOptions::default())
            .unwrap_or_else(|e| panic!("emitting Lisp for {}: {e}", m.module));
        let sys_dir = dir.join("lisp").join(&m.module);
        for (rel, text) in &out.files {
            lines += text.lines().count();
            write(&sys_dir.join(rel), text);
        }
        systems.push(sys_dir);
    }
    let emitted = started.elapsed();

    let rust = Command::new(env!("CARGO"))
        .args(["check", "--message-format", "short"])
        .current_dir(&krate)
        // A target directory of its own: the crate resolves its dependencies afresh (no
        // Cargo.lock), which must not make the other tests' crates rebuild pyo3.
        .env("CARGO_TARGET_DIR", work_dir().join("proptest/target"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&rust.stderr);
    let ours = |kind: &str| stderr.lines().filter(|l| l.starts_with("src/") && l.contains(kind)).count();
    let (errors, warnings) = (ours(": error"), ours(": warning"));
    let rust_time = started.elapsed() - emitted;

    let lisp = compile_lisp(&systems);
    let lisp_time = started.elapsed() - emitted - rust_time;
    eprintln!(
        "emitter properties: {n} random manifests (seed {seed}), {lines} generated lines; emit {:.1} s, cargo check {:.1} s ({errors} errors, {warnings} warnings), SBCL read + compile-file {:.1} s ({})",
        emitted.as_secs_f64(),
        rust_time.as_secs_f64(),
        lisp_time.as_secs_f64(),
        lisp.as_deref().unwrap_or("failed")
    );
    assert!(rust.status.success() && errors == 0 && warnings == 0, "seed {seed}:\n{stderr}");
    if let Err(e) = lisp {
        panic!("seed {seed}: {e}");
    }
}

/// In one SBCL: loads the runtime system, then for each generated system reads every form of
/// every file (in the packages its files define) and `compile-file`s its files in order,
/// loading the packages file first. Err: what warned or failed, per file.
fn compile_lisp(systems: &[PathBuf]) -> Result<String, String> {
    let list: Vec<String> = systems.iter().map(|d| format!("{:?}", format!("{}/", d.display()))).collect();
    let script = format!(
        r#"
(require :asdf)
(push (pathname {runtime:?}) asdf:*central-registry*)
(handler-bind ((warning #'muffle-warning)) (asdf:load-system "pymodgen"))
(defvar *problems* '())
(defvar *files* 0)
(defvar *forms* 0)
(defun note (file what) (push (format nil "~A: ~A" file what) *problems*))
(defun read-forms (file)
  (with-open-file (s file :external-format :utf-8)
    (let ((*package* (find-package "CL-USER")) (*read-eval* nil))
      (loop for form = (read s nil s) until (eq form s)
            count t
            do (when (and (consp form) (member (first form) '(in-package cl:in-package)))
                 (setf *package* (find-package (second form))))))))
(dolist (dir (list {dirs}))
  (let* ((files (directory (merge-pathnames "*.lisp" dir)))
         (packages (find "pymodgen-packages" files :key #'pathname-name :test #'string=))
         (check (find "pymodgen-check" files :key #'pathname-name :test #'string=))
         (modules (remove packages (remove check files))))
    (handler-case
        (progn
          (load packages)
          (dolist (file (append modules (list check)))
            (incf *forms* (read-forms file))
            (incf *files*)
            (handler-bind ((warning (lambda (c) (note file c) (muffle-warning c))))
              (multiple-value-bind (fasl warnings-p failure-p)
                  (compile-file file :output-file (make-pathname :type "fasl" :defaults (format nil "/tmp/pymodgen-proptest-~A" (sb-posix:getpid))))
                (declare (ignore fasl))
                (when (or warnings-p failure-p) (note file "compile-file reported warnings or failure"))))))
      (error (e) (note dir (format nil "~A" e))))))
(format t "~&FILES ~D FORMS ~D~%PROBLEMS ~D~%~{{~A~%~}}" *files* *forms* (length *problems*) (reverse *problems*))
(uiop:quit (if *problems* 1 0))
"#,
        runtime = format!("{}/runtime/lisp/", root().display()),
        dirs = list.join(" ")
    );
    let file = work_dir().join("proptest/compile.lisp");
    write(&file, &script);
    let out = Command::new("timeout")
        .args(["-s", "KILL", "600", "sbcl", "--noinform", "--non-interactive", "--disable-debugger"])
        .args(["--eval", "(require :sb-posix)", "--load"])
        .arg(&file)
        .output()
        .map_err(|e| format!("running sbcl: {e}"))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let counts = stdout.lines().find(|l| l.starts_with("FILES ")).unwrap_or_default().to_owned();
    let files: usize = counts.split(' ').nth(1).and_then(|n| n.parse().ok()).unwrap_or(0);
    if out.status.success() && stdout.contains("PROBLEMS 0") && files >= 2 * systems.len() {
        Ok(counts.to_lowercase())
    } else {
        let tail: Vec<&str> = stdout.lines().skip_while(|l| !l.starts_with("PROBLEMS")).collect();
        Err(format!(
            "Lisp: {}\n{}",
            if tail.is_empty() { stdout.to_string() } else { tail.join("\n") },
            String::from_utf8_lossy(&out.stderr).lines().rev().take(30).collect::<Vec<_>>().join("\n")
        ))
    }
}
