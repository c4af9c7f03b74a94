//! Call overhead of generated bindings against raw pyo3 and native Python, in one run.
//!
//! `str(i)` goes through a call builder (`str`'s one parameter is optional) and gets the
//! runtime's `PyObject_Str` fast path, the same specialization CPython applies to `str(x)`;
//! `abs(i)` shows the plain generated path (a cached callable, one vectorcall). `math.sqrt`
//! and `json.dumps` have typed returns (`f64`, `String`, from typeshed): their pyo3 variants
//! extract the same Rust type, so both sides do the same work.
//!
//! `cargo bench -p pymodgen-benches --bench calls` runs criterion over each variant, then
//! prints throughput ratios (generated vs raw pyo3 with a cached callable, looked up per call
//! or hoisted out of the loop, vs raw pyo3 with a getattr per call, vs the same loop in
//! native Python timed in the embedded interpreter). `PYMODGEN_BENCH_ONLY` runs one loop for
//! callgrind (see [`only`]).

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::Criterion;
use pymodgen_runtime::pyo3::prelude::*;
use pymodgen_runtime::pyo3::sync::PyOnceLock;
use pymodgen_runtime::pyo3::types::{PyDict, PyModule};
use pymodgen_runtime::pyo3::{Py, intern};

pymodgen_macros::bind_pymodule!("builtins");
pymodgen_macros::bind_pymodule!("json");
pymodgen_macros::bind_pymodule!("math");
pymodgen_macros::bind_pymodule!("numpy");

type Loop = Box<dyn Fn(Python<'_>, u64) -> Duration>;

/// The same loop in native Python: `for i in range(n): <stmt>`, timed inside Python.
fn python_loop(py: Python<'_>, setup: &str, stmt: &str) -> Py<PyAny> {
    let code = format!(
        "import time\n{setup}\ndef run(n):\n    t = time.perf_counter_ns()\n    for i in range(n):\n        {stmt}\n    return time.perf_counter_ns() - t\n"
    );
    let m = PyModule::from_code(py, &std::ffi::CString::new(code).unwrap(), c"bench.py", c"bench").unwrap();
    m.getattr("run").unwrap().unbind()
}

fn native(f: Py<PyAny>) -> Loop {
    Box::new(move |py, n| Duration::from_nanos(f.bind(py).call1((n,)).unwrap().extract::<u64>().unwrap()))
}

fn timed(body: impl Fn(Python<'_>, u64) + 'static) -> Loop {
    Box::new(move |py, n| {
        let t = Instant::now();
        body(py, n);
        t.elapsed()
    })
}

struct Case {
    group: &'static str,
    variants: Vec<(&'static str, Loop)>,
}

fn cases(py: Python<'_>) -> Vec<Case> {
    // "pyo3 cached" looks the callable up through PyOnceLock::import at each call, as
    // generated code and hand-written pyo3 code do; "pyo3 hoisted" fetches it once before
    // the loop (a lower bound no function can reach).
    static STR: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
    static ABS: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
    ABS.import(py, "builtins", "abs").unwrap();
    static SQRT: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
    SQRT.import(py, "math", "sqrt").unwrap();
    static DUMPS: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
    static SUM: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
    STR.import(py, "builtins", "str").unwrap();
    DUMPS.import(py, "json", "dumps").unwrap();
    SUM.import(py, "numpy", "sum").unwrap();

    let obj: Py<PyAny> = py.eval(c"{'a': [1, 2, 3], 'b': {'c': 'd'}}", None, None).unwrap().unbind();
    let arr: Py<PyAny> = numpy::linspace(py, 0.0, 1.0).unwrap().unbind();
    let arr = {
        let a = numpy::linspace_with(py, 0.0, 1.0).num(1_000_000).call().unwrap();
        drop(arr);
        a.unbind()
    };
    let (obj2, obj3, obj4, obj5) = (obj.clone_ref(py), obj.clone_ref(py), obj.clone_ref(py), obj.clone_ref(py));
    let (arr2, arr3, arr4, arr5) = (arr.clone_ref(py), arr.clone_ref(py), arr.clone_ref(py), arr.clone_ref(py));
    let py_obj = obj.clone_ref(py);
    let globals_json = PyDict::new(py);
    globals_json.set_item("obj", py_obj).unwrap();
    let _ = globals_json;

    vec![
        Case {
            group: "str(i)",
            variants: vec![
                (
                    "generated",
                    timed(|py, n| {
                        for i in 0..n {
                            black_box(builtins::Str::new_with(py).object(i).call().unwrap());
                        }
                    }),
                ),
                (
                    "pyo3 cached",
                    timed(|py, n| {
                        for i in 0..n {
                            black_box(STR.import(py, "builtins", "str").unwrap().call1((i,)).unwrap());
                        }
                    }),
                ),
                (
                    "pyo3 hoisted",
                    timed(|py, n| {
                        let f = STR.get(py).unwrap().bind(py);
                        for i in 0..n {
                            black_box(f.call1((i,)).unwrap());
                        }
                    }),
                ),
                (
                    "pyo3 getattr per call",
                    timed(|py, n| {
                        let m = py.import("builtins").unwrap();
                        for i in 0..n {
                            black_box(m.getattr(intern!(py, "str")).unwrap().call1((i,)).unwrap());
                        }
                    }),
                ),
                ("native Python", native(python_loop(py, "", "str(i)"))),
                (
                    "C API floor",
                    timed(|py, n| {
                        use pymodgen_runtime::pyo3::ffi;
                        let _ = py;
                        for i in 0..n {
                            // SAFETY: attached to the interpreter; every new reference is released.
                            unsafe {
                                let int = ffi::PyLong_FromLongLong(i as i64);
                                let s = ffi::PyObject_Str(int);
                                ffi::Py_DECREF(int);
                                black_box(s);
                                ffi::Py_DECREF(s);
                            }
                        }
                    }),
                ),
            ],
        },
        Case {
            group: "abs(i)",
            variants: vec![
                (
                    "generated",
                    timed(|py, n| {
                        for i in 0..n {
                            black_box(builtins::abs(py, i).unwrap());
                        }
                    }),
                ),
                (
                    "pyo3 cached",
                    timed(|py, n| {
                        for i in 0..n {
                            black_box(ABS.import(py, "builtins", "abs").unwrap().call1((i,)).unwrap());
                        }
                    }),
                ),
                (
                    "pyo3 hoisted",
                    timed(|py, n| {
                        let f = ABS.get(py).unwrap().bind(py);
                        for i in 0..n {
                            black_box(f.call1((i,)).unwrap());
                        }
                    }),
                ),
                (
                    "pyo3 getattr per call",
                    timed(|py, n| {
                        let m = py.import("builtins").unwrap();
                        for i in 0..n {
                            black_box(m.getattr(intern!(py, "abs")).unwrap().call1((i,)).unwrap());
                        }
                    }),
                ),
                ("native Python", native(python_loop(py, "", "abs(i)"))),
            ],
        },
        Case {
            group: "math.sqrt(x)",
            variants: vec![
                (
                    "generated",
                    timed(|py, n| {
                        for i in 0..n {
                            black_box(math::sqrt(py, i as f64).unwrap());
                        }
                    }),
                ),
                (
                    "pyo3 cached",
                    timed(|py, n| {
                        for i in 0..n {
                            black_box(
                                SQRT.import(py, "math", "sqrt")
                                    .unwrap()
                                    .call1((i as f64,))
                                    .unwrap()
                                    .extract::<f64>()
                                    .unwrap(),
                            );
                        }
                    }),
                ),
                (
                    "pyo3 hoisted",
                    timed(|py, n| {
                        let f = SQRT.get(py).unwrap().bind(py);
                        for i in 0..n {
                            black_box(f.call1((i as f64,)).unwrap().extract::<f64>().unwrap());
                        }
                    }),
                ),
                (
                    "pyo3 getattr per call",
                    timed(|py, n| {
                        let m = py.import("math").unwrap();
                        for i in 0..n {
                            black_box(
                                m.getattr(intern!(py, "sqrt"))
                                    .unwrap()
                                    .call1((i as f64,))
                                    .unwrap()
                                    .extract::<f64>()
                                    .unwrap(),
                            );
                        }
                    }),
                ),
                ("native Python", native(python_loop(py, "import math", "math.sqrt(float(i))"))),
            ],
        },
        Case {
            group: "json.dumps(obj, indent=2)",
            variants: vec![
                (
                    "generated",
                    timed(move |py, n| {
                        let o = obj.bind(py);
                        for _ in 0..n {
                            black_box(json::dumps_with(py, o).indent(2).call().unwrap());
                        }
                    }),
                ),
                (
                    "pyo3 cached",
                    timed(move |py, n| {
                        let o = obj2.bind(py);
                        for _ in 0..n {
                            let kw = PyDict::new(py);
                            kw.set_item(intern!(py, "indent"), 2).unwrap();
                            black_box(
                                DUMPS
                                    .import(py, "json", "dumps")
                                    .unwrap()
                                    .call((o,), Some(&kw))
                                    .unwrap()
                                    .extract::<String>()
                                    .unwrap(),
                            );
                        }
                    }),
                ),
                (
                    "pyo3 hoisted",
                    timed(move |py, n| {
                        let f = DUMPS.get(py).unwrap().bind(py);
                        let o = obj5.bind(py);
                        for _ in 0..n {
                            let kw = PyDict::new(py);
                            kw.set_item(intern!(py, "indent"), 2).unwrap();
                            black_box(f.call((o,), Some(&kw)).unwrap().extract::<String>().unwrap());
                        }
                    }),
                ),
                (
                    "pyo3 getattr per call",
                    timed(move |py, n| {
                        let m = py.import("json").unwrap();
                        let o = obj3.bind(py);
                        for _ in 0..n {
                            let kw = PyDict::new(py);
                            kw.set_item(intern!(py, "indent"), 2).unwrap();
                            black_box(
                                m.getattr(intern!(py, "dumps"))
                                    .unwrap()
                                    .call((o,), Some(&kw))
                                    .unwrap()
                                    .extract::<String>()
                                    .unwrap(),
                            );
                        }
                    }),
                ),
                ("native Python", {
                    let f = python_loop(
                        py,
                        "import json\nobj = {'a': [1, 2, 3], 'b': {'c': 'd'}}",
                        "json.dumps(obj, indent=2)",
                    );
                    drop(obj4);
                    native(f)
                }),
            ],
        },
        Case {
            group: "numpy.sum(a), a: 1e6 float64",
            variants: vec![
                (
                    "generated",
                    timed(move |py, n| {
                        let a = arr.bind(py);
                        for _ in 0..n {
                            black_box(numpy::sum(py, a).unwrap());
                        }
                    }),
                ),
                (
                    "pyo3 cached",
                    timed(move |py, n| {
                        let a = arr2.bind(py);
                        for _ in 0..n {
                            black_box(SUM.import(py, "numpy", "sum").unwrap().call1((a,)).unwrap());
                        }
                    }),
                ),
                (
                    "pyo3 hoisted",
                    timed(move |py, n| {
                        let f = SUM.get(py).unwrap().bind(py);
                        let a = arr5.bind(py);
                        for _ in 0..n {
                            black_box(f.call1((a,)).unwrap());
                        }
                    }),
                ),
                (
                    "pyo3 getattr per call",
                    timed(move |py, n| {
                        let m = py.import("numpy").unwrap();
                        let a = arr3.bind(py);
                        for _ in 0..n {
                            black_box(m.getattr(intern!(py, "sum")).unwrap().call1((a,)).unwrap());
                        }
                    }),
                ),
                ("native Python", {
                    drop(arr4);
                    native(python_loop(py, "import numpy as np\na = np.linspace(0.0, 1.0, 1000000)", "np.sum(a)"))
                }),
            ],
        },
    ]
}

/// Best of `rounds` runs of `n` iterations of each variant, in ns per iteration. The
/// variants take turns within each round, so a change of load on a shared machine (or of
/// CPU frequency) hits them all alike instead of whichever ran during it: timing them one
/// after the other made the first variant (the generated binding) look up to 1.5x slower
/// than pyo3 in single runs, though it executes fewer instructions (callgrind).
fn best(py: Python<'_>, variants: &[(&'static str, Loop)], n: u64, rounds: usize) -> Vec<f64> {
    let mut best = vec![f64::INFINITY; variants.len()];
    for _ in 0..rounds {
        for ((_, f), b) in variants.iter().zip(&mut best) {
            *b = b.min(f(py, n).as_nanos() as f64 / n as f64);
        }
    }
    best
}

/// `PYMODGEN_BENCH_ONLY="abs(i)/generated"` (with `PYMODGEN_BENCH_N`, default 1e6): runs that
/// one loop once and exits, without criterion, for instruction counts under
/// `valgrind --tool=callgrind` (repeatable on a loaded machine, unlike times): the
/// difference between two values of N, divided by their difference, is the cost of one call.
fn only(py: Python<'_>, cases: &[Case], which: &str) {
    let n = std::env::var("PYMODGEN_BENCH_N").ok().and_then(|v| v.parse().ok()).unwrap_or(1_000_000);
    let (group, variant) = which.split_once('/').unwrap_or((which, "generated"));
    let case = cases.iter().find(|c| c.group == group).unwrap_or_else(|| panic!("no group {group:?}"));
    let (_, f) = case.variants.iter().find(|(v, _)| *v == variant).unwrap_or_else(|| panic!("no variant {variant:?}"));
    let t = f(py, n);
    println!("{which}: {n} calls, {:.1} ns/call", t.as_nanos() as f64 / n as f64);
}

fn main() {
    Python::attach(|py| {
        let cases = cases(py);
        if let Ok(which) = std::env::var("PYMODGEN_BENCH_ONLY") {
            return only(py, &cases, &which);
        }
        let mut c = Criterion::default().configure_from_args();
        for case in &cases {
            let mut g = c.benchmark_group(case.group);
            for (name, f) in &case.variants {
                g.bench_function(*name, |b| b.iter_custom(|n| f(py, n)));
            }
            g.finish();
        }
        c.final_summary();

        println!("\nthroughput ratios (best of 7 interleaved rounds; > 1 means the generated binding is faster)");
        for case in &cases {
            let n = if case.group.starts_with("numpy") {
                300
            } else if case.group.starts_with("json") {
                20_000
            } else {
                1_000_000
            };
            let best = best(py, &case.variants, n, 7);
            let times: Vec<(&str, f64)> = case.variants.iter().map(|(name, _)| *name).zip(best).collect();
            let generated = times[0].1;
            println!("{}:", case.group);
            for (name, t) in &times {
                println!("  {name:<22} {t:>10.1} ns/call   generated vs this: {:.3}x", t / generated);
            }
        }
    });
}
