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

#[test]
fn every_call_on_the_main_thread_callbacks_on_the_caller() {
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
