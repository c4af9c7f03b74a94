//! numpy from Rust through generated bindings: `linspace → sin → sum`, a typed result
//! (`hanning` returns `NDArray[float64]`, a `PyArrayDyn<f64>` in Rust), and `numpy.linalg.svd`
//! of a matrix made in Rust; arrays cross without copying (rust-numpy).

include!(concat!(env!("OUT_DIR"), "/numpy.rs")); // pub mod numpy { ... }

use pymodgen_runtime::PyErrExt;
use pymodgen_runtime::numpy::ndarray::array;
use pymodgen_runtime::numpy::{IntoPyArray, PyArray1, PyArrayDyn, PyArrayMethods};
use pymodgen_runtime::pyo3::prelude::*;

fn run(py: Python<'_>) -> PyResult<()> {
    // ∫₀^π sin x dx = 2, by the trapezoid-free Riemann sum numpy computes. `linspace`'s
    // overloads disagree (an array, or an (array, step) pair with `retstep=True`), so its
    // result is a Python object; `sin` is a ufunc (typed `Any` by numpy's stubs).
    let n = 1_000_001;
    let x = numpy::linspace_with(py, 0.0, std::f64::consts::PI).num(n).call()?;
    let y = numpy::sin(py, &x)?;
    let total: f64 = numpy::sum(py, &y)?.extract()?;
    println!("sum(sin(linspace(0, pi, {n}))) * dx = {:.6}", total * std::f64::consts::PI / (n - 1) as f64);

    // The result seen from Rust as an ndarray view of numpy's own buffer: no copy.
    let y = y.cast_into::<PyArray1<f64>>()?;
    let view = y.readonly();
    let arr = view.as_array();
    assert_eq!(arr.as_ptr(), y.data() as *const f64, "the view borrows numpy's buffer");
    println!("ndarray view of {} elements, max {:.6}", arr.len(), arr.fold(f64::MIN, |a, &b| a.max(b)));

    // A typed result: numpy's stub says `hanning(M) -> NDArray[float64]`.
    let window: Bound<'_, PyArrayDyn<f64>> = numpy::hanning(py, 5)?;
    println!("hanning(5): {:?}", window.readonly().as_slice()?);

    // A matrix made in Rust, moved into numpy without copying, decomposed by numpy.linalg
    // (overloads: an `SVDResult`, or an array with `compute_uv=False`: a Python object).
    let m = array![[3.0, 1.0, 1.0], [-1.0, 3.0, 1.0]];
    let m = m.into_pyarray(py);
    let svd = numpy::linalg::svd_with(py, &m).full_matrices(false).call()?;
    let s = svd.getattr("S")?.cast_into::<PyArray1<f64>>()?;
    let s = s.readonly();
    println!("singular values: {:?}", s.as_slice()?.iter().map(|v| format!("{v:.6}")).collect::<Vec<_>>());
    println!("numpy {} (bindings generated from it)", numpy::version::VERSION);
    Ok(())
}

fn main() {
    Python::attach(|py| {
        if let Err(err) = run(py) {
            eprintln!("{}", err.render(py));
            std::process::exit(1);
        }
    });
}
