//! Lisp interrupts delivered into Python.
//!
//! A Lisp runtime defers its interrupts (`interrupt-thread`, `with-timeout`, C-c) while a
//! thread is inside a runtime call: unwinding through CPython's frames would corrupt it.
//! So that a long Python call does not make them wait, the Lisp side asks the runtime
//! (`pmg_interrupt_thread`) to make Python raise KeyboardInterrupt in the target thread
//! first; the call then ends with that exception (a pyerror in Lisp) and the deferred
//! Lisp interrupt runs as soon as the call has returned.
//!
//! Each thread that has a Python thread state is registered (`ThreadInfo`: its OS thread
//! id, whether it is executing Python now). Python's main thread gets the interrupt as
//! CPython's own SIGINT does (`PyErr_SetInterruptEx`, which also ends a `time.sleep`:
//! the Lisp interrupt's signal interrupts the system call and Python checks its signal
//! flags); other threads through `PyThreadState_SetAsyncExc`, taken at their next Python
//! instruction.

use super::*;

pub(super) struct ThreadInfo {
    os_thread: u64,
    ident: u64,
    in_python: AtomicU32,
}

use std::sync::atomic::AtomicU32;

static REGISTRY: Mutex<Vec<&'static ThreadInfo>> = Mutex::new(Vec::new());
/// Python's main thread (the one that initialized it): signals are handled there only.
pub(super) static MAIN_IDENT: AtomicU64 = AtomicU64::new(0);
/// Set when a KeyboardInterrupt was requested through Python's signal flags and may still
/// be pending after its call returned (cleared by the next call on the main thread).
pub(super) static TRIPPED: AtomicBool = AtomicBool::new(false);

use std::sync::atomic::AtomicU64;

unsafe extern "C" {
    fn pthread_self() -> usize;
}

/// Registers the calling thread (it has a Python thread state; called with the GIL).
pub(super) fn register() -> *const ThreadInfo {
    let info: &'static ThreadInfo = Box::leak(Box::new(ThreadInfo {
        os_thread: unsafe { pthread_self() } as u64,
        ident: unsafe { ffi::PyThread_get_thread_ident() } as u64,
        in_python: AtomicU32::new(0),
    }));
    let mut r = REGISTRY.lock().unwrap_or_else(|e| e.into_inner());
    r.retain(|i| i.os_thread != info.os_thread);
    r.push(info);
    info
}

/// Thread exit: the entry goes (its 24 bytes stay allocated: a sender may hold it).
pub(super) fn unregister(info: *const ThreadInfo) {
    if info.is_null() {
        return;
    }
    if let Ok(mut r) = REGISTRY.lock() {
        r.retain(|i| !ptr::eq(*i, info));
    }
}

#[inline(always)]
pub(super) fn set_in_python(t: &Tls, n: u32) {
    t.in_python.set(n);
    let info = t.info.get();
    if !info.is_null() {
        unsafe { (*info).in_python.store(n, Ordering::Relaxed) };
    }
}

/// After a call on the main thread: drops a KeyboardInterrupt request that arrived too
/// late to interrupt it (so that it does not hit a later call). Requires the GIL.
#[cold]
pub(super) fn clear_trip() {
    unsafe {
        if ffi::PyThread_get_thread_ident() as u64 == MAIN_IDENT.load(Ordering::Relaxed)
            && TRIPPED.swap(false, Ordering::AcqRel)
        {
            ffi::PyOS_InterruptOccurred();
        }
    }
}

/// 1 when the calling thread is executing Python through this runtime (not Lisp code of a
/// callback), else 0.
#[unsafe(no_mangle)]
pub extern "C" fn pmg_in_python() -> c_int {
    (tls().in_python.get() > 0) as c_int
}

/// Asks Python to raise KeyboardInterrupt in the thread whose OS thread id (pthread_t) is
/// `os_thread`, if it is executing Python now. Needs no GIL (callable from any thread,
/// e.g. a timer thread). Returns 1 when the request was made, 0 when that thread is not
/// inside Python (nothing to do), -1 when Python is not running.
#[unsafe(no_mangle)]
pub extern "C" fn pmg_interrupt_thread(os_thread: u64) -> c_int {
    // (the single-threaded mode: a Lisp thread's call runs on the dedicated thread)
    let target = dedicated::interrupt_target(os_thread);
    let r = interrupt_thread(target);
    if r == 1 && target != os_thread {
        dedicated::wake();
    }
    r
}

fn interrupt_thread(os_thread: u64) -> c_int {
    if !ALIVE.load(Ordering::Acquire) {
        return -1;
    }
    let r = catch_unwind(|| {
        let target = {
            let r = REGISTRY.lock().unwrap_or_else(|e| e.into_inner());
            r.iter().find(|i| i.os_thread == os_thread).copied()
        };
        let Some(info) = target else { return 0 };
        if info.in_python.load(Ordering::Relaxed) == 0 {
            return 0;
        }
        if info.ident == MAIN_IDENT.load(Ordering::Relaxed) {
            TRIPPED.store(true, Ordering::Release);
            unsafe { ffi::PyErr_SetInterruptEx(2) }; // SIGINT: KeyboardInterrupt
            // Requested from another thread, this sets no eval breaker for the main thread
            // (CPython computes it for the calling thread): a busy loop there would not see
            // it. Taking the GIL once from a helper thread makes the main thread drop it and
            // recompute its eval breaker when it takes it back.
            std::thread::spawn(|| unsafe {
                let g = ffi::PyGILState_Ensure();
                ffi::PyGILState_Release(g);
            });
            return 1;
        }
        // Another thread: an asynchronous exception, set with the GIL by a helper thread
        // (the caller may be the one that holds the GIL's waiters up, e.g. a timer).
        let ident = info.ident;
        std::thread::spawn(move || unsafe {
            let g = ffi::PyGILState_Ensure();
            if info.in_python.load(Ordering::Relaxed) > 0 {
                ffi::PyThreadState_SetAsyncExc(ident as _, ffi::PyExc_KeyboardInterrupt);
            }
            ffi::PyGILState_Release(g);
        });
        1
    });
    r.unwrap_or(0)
}

/// Makes CPython's SIGINT flag raise KeyboardInterrupt (its `default_int_handler`)
/// without taking the process's SIGINT handler away from the Lisp runtime: the OS-level
/// handler is saved before and put back after `signal.signal`. Called once at start,
/// with the GIL, on the thread that initialized Python.
pub(super) unsafe fn setup_python_sigint() {
    unsafe extern "C" {
        fn sigaction(sig: c_int, act: *const c_void, old: *mut c_void) -> c_int;
    }
    // struct sigaction is 152 bytes on x86-64 Linux: an opaque, generous buffer
    let mut saved = [0u64; 64];
    unsafe {
        MAIN_IDENT.store(ffi::PyThread_get_thread_ident() as u64, Ordering::Relaxed);
        if sigaction(2, ptr::null(), saved.as_mut_ptr().cast()) != 0 {
            return;
        }
        let code = c"import signal as _sg\n_sg.signal(_sg.SIGINT, _sg.default_int_handler)\ndel _sg\n";
        let d = ffi::PyDict_New();
        if d.is_null() {
            ffi::PyErr_Clear();
            return;
        }
        ffi::PyDict_SetItemString(d, c"__builtins__".as_ptr(), ffi::PyEval_GetBuiltins());
        let r = ffi::PyRun_StringFlags(code.as_ptr(), ffi::Py_file_input, d, d, null_mut());
        if r.is_null() {
            ffi::PyErr_Clear();
        } else {
            ffi::Py_DECREF(r);
        }
        ffi::Py_DECREF(d);
        sigaction(2, saved.as_ptr().cast(), ptr::null_mut());
    }
}

// ---------------------------------------------------------------------------------------
// Process signals (C-c, timers, SIGTERM) arriving while a thread runs Python
//
// SIGINT, SIGALRM (the Lisp runtime's timers: with-timeout) and SIGTERM are delivered to
// whichever thread the kernel picks; when that thread is inside a runtime call, the Lisp
// runtime defers the handler until the call returns, so a long call would hold them up.
// The runtime wraps the Lisp handlers of these signals: a signal that lands on a thread
// executing Python is passed on to a relay thread (a Lisp thread that only waits,
// `pmg_set_signal_relay`), whose Lisp handler then runs at once: for C-c and timers it
// interrupts the busy thread, which `pmg_interrupt_thread` turns into KeyboardInterrupt.

const RELAYED: [c_int; 3] = [2, 14, 15]; // SIGINT, SIGALRM, SIGTERM
static RELAY_THREAD: AtomicU64 = AtomicU64::new(0);
/// The Lisp runtime's handlers (struct sigaction, opaque), saved when ours were installed.
static SAVED: Mutex<Vec<(c_int, [u64; 64])>> = Mutex::new(Vec::new());
static SAVED_HANDLERS: [AtomicUsize; 3] = [AtomicUsize::new(0), AtomicUsize::new(0), AtomicUsize::new(0)];
static SAVED_SIGINFO: [AtomicBool; 3] = [AtomicBool::new(false), AtomicBool::new(false), AtomicBool::new(false)];

unsafe extern "C" {
    fn sigaction(sig: c_int, act: *const c_void, old: *mut c_void) -> c_int;
    fn pthread_kill(thread: usize, sig: c_int) -> c_int;
}

const SA_SIGINFO: u32 = 4;
/// Offset of `sa_flags` in struct sigaction (x86-64 / aarch64 Linux: handler, 128-byte
/// mask, flags).
const SA_FLAGS_WORD: usize = (8 + 128) / 8;

unsafe extern "C" fn relay_handler(sig: c_int, info: *mut c_void, ctx: *mut c_void) {
    let k = match RELAYED.iter().position(|&s| s == sig) {
        Some(k) => k,
        None => return,
    };
    let relay = RELAY_THREAD.load(Ordering::Relaxed);
    // (no thread-local access here: in a shared library it may allocate on first use)
    let me = unsafe { pthread_self() } as u64;
    // (the single-threaded mode: a Lisp thread waiting for its call on the dedicated
    // thread, which receives no signals, counts as executing Python on the main thread)
    let waiting = dedicated::waiting(me);
    let busy = waiting || in_python_now();
    if busy && sig == 15 && (waiting || me == MAIN_IDENT.load(Ordering::Relaxed)) {
        // SIGTERM on Python's main thread: end the call with KeyboardInterrupt and let the
        // Lisp handler (deferred until the call returns) exit from this very thread; run
        // on the relay instead, SBCL's exit would wait for the relay thread to stop
        TRIPPED.store(true, Ordering::Release);
        unsafe { ffi::PyErr_SetInterruptEx(2) };
        if waiting {
            dedicated::wake();
        }
    } else if busy && relay != 0 && relay != me {
        unsafe { pthread_kill(relay as usize, sig) };
        return;
    }
    let h = SAVED_HANDLERS[k].load(Ordering::Relaxed);
    if h <= 1 {
        return; // SIG_DFL / SIG_IGN were never ours to replace (see install)
    }
    unsafe {
        if SAVED_SIGINFO[k].load(Ordering::Relaxed) {
            let f: unsafe extern "C" fn(c_int, *mut c_void, *mut c_void) = std::mem::transmute(h);
            f(sig, info, ctx);
        } else {
            let f: unsafe extern "C" fn(c_int) = std::mem::transmute(h);
            f(sig);
        }
    }
}

/// Whether the calling thread is executing Python, from a signal handler: its registry
/// entry, if the registry is not locked at this moment (else "no": the Lisp handler runs).
fn in_python_now() -> bool {
    let me = unsafe { pthread_self() } as u64;
    match REGISTRY.try_lock() {
        Ok(r) => r.iter().any(|i| i.os_thread == me && i.in_python.load(Ordering::Relaxed) > 0),
        Err(_) => false,
    }
}

/// Installs the relay: `os_thread` (pthread_t) is a Lisp thread that does nothing but
/// wait, so that its Lisp signal handlers run at once. Wraps the current handlers of
/// SIGINT, SIGALRM and SIGTERM (those that are Lisp handlers, not SIG_DFL/SIG_IGN). Safe
/// to call again (a new relay thread, e.g. in a restarted saved image). Returns 0.
#[unsafe(no_mangle)]
pub extern "C" fn pmg_set_signal_relay(os_thread: u64) -> c_int {
    let _ = catch_unwind(|| unsafe {
        RELAY_THREAD.store(os_thread, Ordering::Release);
        let mut saved = SAVED.lock().unwrap_or_else(|e| e.into_inner());
        for (k, &sig) in RELAYED.iter().enumerate() {
            let mut cur = [0u64; 64];
            if sigaction(sig, ptr::null(), cur.as_mut_ptr().cast()) != 0 {
                continue;
            }
            if cur[0] as usize == relay_handler as *const () as usize {
                continue; // already ours
            }
            if cur[0] <= 1 {
                continue; // SIG_DFL / SIG_IGN: leave the default behaviour alone
            }
            SAVED_HANDLERS[k].store(cur[0] as usize, Ordering::Release);
            let flags = (cur[SA_FLAGS_WORD] & 0xffff_ffff) as u32;
            SAVED_SIGINFO[k].store(flags & SA_SIGINFO != 0, Ordering::Release);
            saved.retain(|(s, _)| *s != sig);
            saved.push((sig, cur));
            let mut ours = cur;
            ours[0] = relay_handler as *const () as usize as u64;
            ours[SA_FLAGS_WORD] = (cur[SA_FLAGS_WORD] & !0xffff_ffff) | (flags | SA_SIGINFO) as u64;
            sigaction(sig, ours.as_ptr().cast(), ptr::null_mut());
        }
    });
    0
}
