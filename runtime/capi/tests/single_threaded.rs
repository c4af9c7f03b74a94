//! The single-threaded call mode of the C ABI (`pmg_set_call_mode(1)` before Python
//! starts): calls from any thread run on one dedicated thread, Python's main thread, and a
//! callback Python makes during a call runs on the thread that made the call. (Its own test
//! binary: the mode is chosen once per process.)

use std::ffi::{CStr, CString, c_void};

use pymodgen_capi::*;
use pyo3::ffi::PyObject;

type Obj = *mut PyObject;

fn value() -> PmgValue {
    unsafe { std::mem::zeroed() }
}

fn last_error() -> String {
    let part = |i| {
        let p = pmg_error_part(i);
        if p.is_null() { String::new() } else { unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned() }
    };
    format!("{}: {}", part(0), part(1))
}

fn eval_tag(code: &str) -> i32 {
    let c = CString::new(code).unwrap();
    let mut v = value();
    unsafe { pmg_eval(c.as_ptr(), 0, &mut v, 0) }
}

thread_local! {
    static CALLBACK_THREAD: std::cell::Cell<Option<std::thread::ThreadId>> = const { std::cell::Cell::new(None) };
}

/// The callback dispatcher: records the thread it runs on, and calls Python back.
unsafe extern "C" fn dispatch(_handle: i64, _args: Obj, _kwargs: Obj) -> Obj {
    CALLBACK_THREAD.with(|c| c.set(Some(std::thread::current().id())));
    // a call back into Python from the callback runs on the main thread too
    let main = eval_tag("threading.current_thread() is threading.main_thread()") == TAG_TRUE;
    pmg_bool(main as i32)
}

/// Chooses the mode and starts Python, once for the tests of this binary.
fn start() {
    static START: std::sync::Once = std::sync::Once::new();
    START.call_once(|| {
        let exe = std::process::Command::new(std::env::var("PYO3_PYTHON").unwrap_or_else(|_| "python3".into()))
            .args(["-c", "import sys; print(sys.executable)"])
            .output()
            .expect("python3 runs");
        let exe = CString::new(String::from_utf8_lossy(&exe.stdout).trim()).unwrap();
        assert_eq!(pmg_set_call_mode(1), 0);
        assert_eq!(pmg_call_mode(), 1);
        unsafe {
            assert_eq!(pmg_initialize(exe.as_ptr(), std::ptr::null()), 0, "{}", last_error());
            pmg_set_lisp_callback(dispatch as *mut c_void);
        }
    });
}

#[test]
fn every_call_on_the_main_thread_callbacks_on_the_caller() {
    start();
    // the mode cannot change once Python runs
    assert_eq!(pmg_set_call_mode(0), -1);
    assert_eq!(pmg_set_call_mode(1), 0);
    let r = unsafe { pmg_run(c"import threading, signal".as_ptr(), 1) };
    assert!(!r.is_null(), "{}", last_error());
    unsafe { pmg_decref(r) };
    let threads: Vec<_> = (0..4)
        .map(|_| {
            std::thread::spawn(|| {
                for _ in 0..200 {
                    assert_eq!(eval_tag("threading.current_thread() is threading.main_thread()"), TAG_TRUE);
                }
                assert_eq!(
                    eval_tag("signal.signal(signal.SIGUSR1, signal.SIG_IGN) is not None"),
                    TAG_TRUE,
                    "{}",
                    last_error()
                );
                // errors come back to the thread that made the call
                assert_eq!(eval_tag("1/0"), TAG_ERROR);
                assert!(last_error().starts_with("ZeroDivisionError"), "{}", last_error());
                // a callback runs on this thread, and its Python calls on the main thread
                let f = pmg_make_callable(0);
                assert!(!f.is_null(), "{}", last_error());
                let mut v = value();
                let tag = unsafe { pmg_call(f, std::ptr::null(), 0, std::ptr::null(), 0, &mut v, 0) };
                assert_eq!(tag, TAG_TRUE, "{}", last_error());
                assert_eq!(CALLBACK_THREAD.with(|c| c.get()), Some(std::thread::current().id()));
                unsafe { pmg_decref(f) };
                // a GIL scope on the dedicated thread, held across calls
                assert_eq!(pmg_gil_enter(), 1);
                assert_eq!(pmg_gil_held(), 1);
                assert_eq!(eval_tag("threading.current_thread() is threading.main_thread()"), TAG_TRUE);
                pmg_gil_exit();
                assert_eq!(pmg_gil_held(), 0);
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
}

/// The characters of a TAG_STR value (valid until this thread's next runtime call).
fn text(v: &PmgValue) -> String {
    let n = v.len as usize;
    unsafe {
        match v.kind {
            1 => std::slice::from_raw_parts(v.data as *const u8, n).iter().map(|&b| b as char).collect(),
            2 => String::from_utf16(std::slice::from_raw_parts(v.data as *const u16, n)).unwrap(),
            _ => std::slice::from_raw_parts(v.data as *const u32, n)
                .iter()
                .map(|&c| char::from_u32(c).unwrap())
                .collect(),
        }
    }
}

fn int_args(n: usize, first: u64) -> Vec<PmgArg> {
    (0..n).map(|k| PmgArg { tag: ARG_I64, bits: if k == 0 { first } else { 1000 + k as u64 }, len: 0 }).collect()
}

/// A call's arguments (few travel with the call itself, more by reference) and its result
/// (a short string's characters travel with it, a longer one's stay in the Python object)
/// come through whole, from several threads at once, in every string width.
#[test]
fn call_arguments_and_string_results_of_every_size() {
    start();
    let strings: Vec<String> = ['a', '\u{e9}', '\u{20ac}', '\u{1f600}']
        .iter()
        .flat_map(|&c| [0usize, 1, 5, 6, 7, 12, 13, 23, 24, 25, 100].into_iter().map(move |n| c.to_string().repeat(n)))
        .collect();
    let literal = strings.iter().map(|s| format!("'{s}'")).collect::<Vec<_>>().join(", ");
    let callable = |code: &str| {
        let code = CString::new(code).unwrap();
        let mut v = value();
        assert_eq!(unsafe { pmg_eval(code.as_ptr(), 0, &mut v, 1) }, TAG_OTHER, "{}", last_error());
        v.obj as usize
    };
    // the string chosen by the first argument, if the others are what was passed
    let pick = callable(&format!("lambda i, *a: [{literal}][i] if a == tuple(range(1001, 1001 + len(a))) else None"));
    let str_name = unsafe { pmg_intern(c"str".as_ptr()) } as usize;
    let threads: Vec<_> = (0..3)
        .map(|t| {
            let strings = strings.clone();
            std::thread::spawn(move || {
                for round in 0..30 {
                    for (i, want) in strings.iter().enumerate() {
                        let nargs = 1 + (i + t + round) % 6;
                        let args = int_args(nargs, i as u64);
                        let mut v = value();
                        let tag = unsafe {
                            pmg_call(pick as Obj, args.as_ptr(), nargs as i64, std::ptr::null(), 0, &mut v, 0)
                        };
                        assert_eq!(tag, TAG_STR, "{nargs} arguments: {}", last_error());
                        assert_eq!(&text(&v), want, "{nargs} arguments");
                        // a dotted-path call (how `pycall` calls): str(n)
                        let n = (i * 1_000_003 + round) as u64;
                        let path = [str_name as Obj];
                        let one = int_args(1, n);
                        let mut s = value();
                        let tag =
                            unsafe { pmg_call_path(path.as_ptr(), 1, one.as_ptr(), 1, std::ptr::null(), 0, &mut s, 0) };
                        assert_eq!(tag, TAG_STR, "{}", last_error());
                        assert_eq!(text(&s), n.to_string());
                    }
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
}
