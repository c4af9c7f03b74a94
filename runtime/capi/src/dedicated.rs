//! The single-threaded call mode (Lisp: `pymodgen/config:*python-call-mode*`
//! `:single-threaded`, chosen before Python starts with `pmg_set_call_mode`).
//!
//! Every runtime call a Lisp thread makes runs on one dedicated native thread, which
//! started the interpreter and so is Python's main thread (`threading.main_thread()`,
//! `signal.signal`, GUI toolkits that insist on one thread). The Lisp thread waits. A Lisp
//! callback that Python calls on the dedicated thread during that call is sent back to the
//! waiting Lisp thread and runs there, in that thread's dynamic environment (its special
//! bindings, handlers, restarts, catch tags: non-local exits keep working); the runtime
//! calls it makes go to the dedicated thread again, which runs them while it waits for
//! the callback. So Lisp code never runs on the dedicated thread, and Python code never
//! runs on a Lisp thread (except threads Python itself started, which call Lisp callbacks
//! directly and call the runtime directly, holding the GIL, as in the other mode).
//!
//! One Lisp thread at a time converses with the dedicated thread ("the floor"): from its
//! call until that call returns, or while its `with-python-gil` scope is open. What the
//! runtime keeps per thread travels with each call: the last error (moved to the calling
//! Lisp thread, where `pmg_error_part` reads it) and the pending string result.
//!
//! Hand-off: a pointer to the step to run in an atomic slot, a short spin, then
//! park/unpark (a futex on Linux). The one place that decides is `active()`, checked by
//! `with_gil_t` (every call that takes the GIL) and by the entries that use the GIL
//! without it (`pmg_initialize`, `pmg_gil_enter`/`exit`/`held`, `pmg_set_python_error`).

use super::*;
use std::sync::atomic::{AtomicU32, AtomicU64};
use std::sync::{Condvar, OnceLock};
use std::thread::{self, Thread};

static SINGLE: AtomicBool = AtomicBool::new(false);

/// A step for the other side: run `run` (then reply DONE), or DONE (the step it waited
/// for has finished).
struct Task<'a> {
    run: &'a mut dyn FnMut(),
}
type TaskPtr = *mut Task<'static>;
const DONE: TaskPtr = 1 as TaskPtr; // (never dereferenced)

/// Steps for the dedicated thread, and for the Lisp thread that has the floor.
static TO_PY: AtomicPtr<Task<'static>> = AtomicPtr::new(null_mut());
static TO_LISP: AtomicPtr<Task<'static>> = AtomicPtr::new(null_mut());

static PY_THREAD: OnceLock<Thread> = OnceLock::new();
static PY_OS_THREAD: AtomicU64 = AtomicU64::new(0);
/// The Lisp thread that has the floor: its pthread_t (0: none) and its `Thread`.
static FLOOR: AtomicU64 = AtomicU64::new(0);
static CLIENT: AtomicPtr<Thread> = AtomicPtr::new(null_mut());
static FLOOR_LOCK: Mutex<()> = Mutex::new(());
static FLOOR_FREED: Condvar = Condvar::new();
static FLOOR_WAITERS: AtomicUsize = AtomicUsize::new(0);
/// The Lisp thread blocked waiting for the dedicated thread now (pthread_t; 0: none): a
/// signal that lands on it is handled as on a thread executing Python (see `interrupts`).
static WAITING: AtomicU64 = AtomicU64::new(0);

/// How long a waiting side spins before it sleeps: a call's reply (or the next call of a
/// busy Lisp thread) usually comes sooner when both threads have a core, and a futex wake
/// costs microseconds. PYMODGEN_HANDOFF_SPIN_US sets it (0: sleep at once, best when the
/// cores are oversubscribed).
fn spin_time() -> std::time::Duration {
    static SPIN: OnceLock<std::time::Duration> = OnceLock::new();
    *SPIN.get_or_init(|| {
        let us = std::env::var("PYMODGEN_HANDOFF_SPIN_US").ok().and_then(|v| v.trim().parse().ok()).unwrap_or(20);
        std::time::Duration::from_micros(us)
    })
}

/// Spins (checking `ready`) for at most `SPIN`; true when `ready` became true.
#[inline]
fn spin_until(mut ready: impl FnMut() -> bool) -> bool {
    let spin = spin_time();
    if spin.is_zero() {
        return ready();
    }
    let start = std::time::Instant::now();
    let mut i = 0u32;
    loop {
        if ready() {
            return true;
        }
        i = i.wrapping_add(1);
        if i.is_multiple_of(64) && start.elapsed() > spin {
            return false;
        }
        std::hint::spin_loop();
    }
}

thread_local! {
    static IS_PY: Cell<bool> = const { Cell::new(false) };
    /// Calls in progress on this Lisp thread plus its open `with-python-gil` scopes: the
    /// floor is held while > 0.
    static HOLD: Cell<u32> = const { Cell::new(0) };
    static ME: Thread = thread::current();
}

unsafe extern "C" {
    fn pthread_self() -> usize;
    fn pthread_kill(thread: usize, sig: c_int) -> c_int;
    fn signal(sig: c_int, handler: extern "C" fn(c_int)) -> usize;
    fn siginterrupt(sig: c_int, flag: c_int) -> c_int;
    fn __libc_current_sigrtmax() -> c_int;
    fn sigfillset(set: *mut [u64; 16]) -> c_int;
    fn sigdelset(set: *mut [u64; 16], sig: c_int) -> c_int;
    fn pthread_sigmask(how: c_int, set: *const [u64; 16], old: *mut [u64; 16]) -> c_int;
}
#[cfg(target_os = "linux")]
const SIG_BLOCK: c_int = 0;
#[cfg(not(target_os = "linux"))]
const SIG_BLOCK: c_int = 1;

/// True when this call must run on the dedicated thread: the single-threaded mode, on a
/// thread that is not the dedicated one and does not hold the GIL (a thread Python
/// started, inside a Lisp callback, does: it calls directly).
#[inline]
pub(super) fn active() -> bool {
    SINGLE.load(Ordering::Relaxed) && !IS_PY.with(|p| p.get()) && tls().depth.get() == 0
}

/// Whether the single-threaded mode is on.
pub(super) fn single() -> bool {
    SINGLE.load(Ordering::Relaxed)
}

/// Waits that found nothing by spinning, recently (per direction): past `MISSES_TO_STOP`
/// the side sleeps at once (the cores are oversubscribed: spinning only delays the peer),
/// spinning again every `PROBE`th wait to find out whether it pays again.
static MISSES: [AtomicU32; 2] = [AtomicU32::new(0), AtomicU32::new(0)];
static WAITS: AtomicU32 = AtomicU32::new(0);
const MISSES_TO_STOP: u32 = 16;
const PROBE: u32 = 64;

fn wait(slot: &AtomicPtr<Task<'static>>) -> TaskPtr {
    let misses = &MISSES[std::ptr::eq(slot, &TO_LISP) as usize];
    let probe = WAITS.fetch_add(1, Ordering::Relaxed).is_multiple_of(PROBE);
    if misses.load(Ordering::Relaxed) < MISSES_TO_STOP || probe {
        if spin_until(|| !slot.load(Ordering::Relaxed).is_null()) {
            let m = misses.load(Ordering::Relaxed);
            if m > 0 {
                misses.store(if probe { 0 } else { m - 1 }, Ordering::Relaxed);
            }
        } else {
            let m = misses.load(Ordering::Relaxed);
            misses.store((m + 1).min(2 * MISSES_TO_STOP), Ordering::Relaxed);
        }
    }
    loop {
        let p = slot.swap(null_mut(), Ordering::Acquire);
        if !p.is_null() {
            return p;
        }
        thread::park();
    }
}

fn post(slot: &AtomicPtr<Task<'static>>, p: TaskPtr, to: &Thread) {
    slot.store(p, Ordering::Release);
    to.unpark();
}

fn py_thread() -> &'static Thread {
    PY_THREAD.get().expect("the dedicated Python thread is started with the mode")
}

fn client() -> &'static Thread {
    unsafe { &*CLIENT.load(Ordering::Acquire) }
}

/// Runs the steps that arrive in `inbox` (replying DONE to `outbox` after each) until a
/// DONE arrives: the step this side is waiting for has finished.
fn converse(
    inbox: &AtomicPtr<Task<'static>>,
    outbox: &AtomicPtr<Task<'static>>,
    peer: fn() -> &'static Thread,
    waiting: u64,
) {
    loop {
        if waiting != 0 {
            WAITING.store(waiting, Ordering::SeqCst);
        }
        let p = wait(inbox);
        if waiting != 0 {
            WAITING.store(0, Ordering::SeqCst);
        }
        if p == DONE {
            return;
        }
        unsafe { ((*p).run)() };
        post(outbox, DONE, peer());
    }
}

/// The signal that wakes the dedicated thread out of a blocking system call (a sleep, a
/// wait) when a Lisp thread's call running there is interrupted: Python then sees the
/// interrupt at once (EINTR, then its signal check). Only ever sent to that thread.
fn wake_signal() -> c_int {
    unsafe { __libc_current_sigrtmax() - 2 }
}

extern "C" fn ignore_wake(_: c_int) {}

/// Interrupts the dedicated thread's blocking system call, if any (see `wake_signal`).
pub(super) fn wake() {
    let t = PY_OS_THREAD.load(Ordering::Acquire);
    if t != 0 {
        unsafe { pthread_kill(t as usize, wake_signal()) };
    }
}

fn py_main() {
    IS_PY.with(|p| p.set(true));
    // Asynchronous signals go to the Lisp threads (their handlers run Lisp code); faults
    // and the wake signal stay deliverable.
    unsafe {
        signal(wake_signal(), ignore_wake);
        siginterrupt(wake_signal(), 1);
        let mut set = [0u64; 16];
        sigfillset(&mut set);
        for sig in [4, 5, 7, 8, 11, wake_signal()] {
            // SIGILL SIGTRAP SIGBUS SIGFPE SIGSEGV
            sigdelset(&mut set, sig);
        }
        pthread_sigmask(SIG_BLOCK, &set, null_mut());
    }
    PY_OS_THREAD.store(unsafe { pthread_self() } as u64, Ordering::Release);
    loop {
        converse(&TO_PY, &TO_LISP, client, 0);
    }
}

fn acquire_floor() {
    let me = unsafe { pthread_self() } as u64;
    let take = || {
        FLOOR.load(Ordering::Relaxed) == 0 && FLOOR.compare_exchange(0, me, Ordering::SeqCst, Ordering::Relaxed).is_ok()
    };
    loop {
        if spin_until(take) {
            CLIENT.store(ME.with(|t| t as *const Thread as *mut Thread), Ordering::Release);
            return;
        }
        let mut g = FLOOR_LOCK.lock().unwrap_or_else(|e| e.into_inner());
        FLOOR_WAITERS.fetch_add(1, Ordering::SeqCst);
        while FLOOR.load(Ordering::SeqCst) != 0 {
            g = FLOOR_FREED.wait_timeout(g, std::time::Duration::from_millis(10)).unwrap_or_else(|e| e.into_inner()).0;
        }
        FLOOR_WAITERS.fetch_sub(1, Ordering::SeqCst);
    }
}

fn release_floor() {
    FLOOR.store(0, Ordering::SeqCst);
    if FLOOR_WAITERS.load(Ordering::SeqCst) > 0 {
        let _g = FLOOR_LOCK.lock().unwrap_or_else(|e| e.into_inner());
        FLOOR_FREED.notify_one();
    }
}

/// Takes (or keeps) the floor beyond the next call: a `with-python-gil` scope is opening
/// on the dedicated thread for this Lisp thread.
pub(super) fn hold_floor() {
    let held = HOLD.with(|h| h.get());
    if held == 0 {
        acquire_floor();
    }
    HOLD.with(|h| h.set(held + 1));
}

/// Undoes `hold_floor` (the scope closed); gives the floor up when nothing else holds it.
pub(super) fn drop_floor() {
    let held = HOLD.with(|h| h.get());
    if held > 0 {
        HOLD.with(|h| h.set(held - 1));
        if held == 1 {
            release_floor();
        }
    }
}

/// Runs `f` on the dedicated thread and returns its value (`fail` if it panicked). The
/// calling thread's pending string result goes along (released there, with the GIL), and
/// the last error and pending result `f` leaves come back to the calling thread.
pub(super) fn ship<R>(fail: R, f: impl FnOnce() -> R) -> R {
    let held = HOLD.with(|h| h.get());
    if held == 0 {
        acquire_floor();
    }
    HOLD.with(|h| h.set(held + 1));
    let me = tls();
    let pending_in = me.pending.replace(null_mut());
    let mut pending_out: Obj = null_mut();
    let mut error: Option<LastError> = None;
    let mut f = Some(f);
    let mut r: Option<R> = None;
    {
        let mut step = || {
            let t = tls();
            let saved_pending = t.pending.replace(pending_in);
            let saved_error = LAST_ERROR.with(|e| e.borrow_mut().take());
            if let Some(f) = f.take() {
                r = catch_unwind(AssertUnwindSafe(f)).ok();
            }
            error = LAST_ERROR.with(|e| std::mem::replace(&mut *e.borrow_mut(), saved_error));
            pending_out = t.pending.replace(saved_pending);
        };
        let mut task = Task { run: &mut step };
        post(&TO_PY, (&mut task as *mut Task<'_>).cast(), py_thread());
        converse(&TO_LISP, &TO_PY, py_thread, unsafe { pthread_self() } as u64);
    }
    let old = me.pending.replace(pending_out);
    if !old.is_null() {
        refcount::pmg_decref_deferred(old); // (a nested call's, already consumed)
    }
    if let Some(e) = error {
        LAST_ERROR.with(|x| *x.borrow_mut() = Some(e));
    }
    HOLD.with(|h| h.set(held));
    if held == 0 {
        release_floor();
    }
    r.unwrap_or(fail)
}

/// Calls the Lisp callback dispatcher: on the dedicated thread, in the Lisp thread that
/// has the floor (it is waiting for the call that led here); elsewhere directly.
pub(super) unsafe fn call_lisp(f: LispCallback, handle: i64, args: Obj, kwargs: Obj) -> Obj {
    if !IS_PY.with(|p| p.get()) || CLIENT.load(Ordering::Acquire).is_null() {
        return unsafe { f(handle, args, kwargs) };
    }
    let mut r: Obj = null_mut();
    let mut step = || r = unsafe { f(handle, args, kwargs) };
    let mut task = Task { run: &mut step };
    post(&TO_LISP, (&mut task as *mut Task<'_>).cast(), client());
    converse(&TO_PY, &TO_LISP, client, 0);
    r
}

/// Whether the Lisp thread `os_thread` is blocked waiting for the dedicated thread (from
/// a signal handler: an atomic load).
pub(super) fn waiting(os_thread: u64) -> bool {
    WAITING.load(Ordering::Relaxed) == os_thread
}

/// The thread to interrupt for the Lisp thread `os_thread`: the dedicated thread while
/// that Lisp thread has the floor (its call runs there).
pub(super) fn interrupt_target(os_thread: u64) -> u64 {
    if single() && FLOOR.load(Ordering::Acquire) == os_thread {
        PY_OS_THREAD.load(Ordering::Acquire)
    } else {
        os_thread
    }
}

/// Chooses the call mode before Python starts: 0 multi-threaded (each thread calls
/// Python itself), 1 single-threaded (this module). Returns 0, or -1 with the last error
/// when Python already started in the other mode.
#[unsafe(no_mangle)]
pub extern "C" fn pmg_set_call_mode(mode: c_int) -> c_int {
    let want = mode == 1;
    if INITIALIZED.load(Ordering::Acquire) {
        if want == single() {
            return 0;
        }
        set_error(
            "PythonInitError",
            "the call mode is chosen before Python starts; this process started it in the other mode",
            "",
        );
        return -1;
    }
    if want && PY_THREAD.get().is_none() {
        match thread::Builder::new().name("pymodgen python".into()).spawn(py_main) {
            Ok(h) => {
                let _ = PY_THREAD.set(h.thread().clone());
            }
            Err(e) => {
                set_error("PythonInitError", &format!("cannot start the dedicated Python thread: {e}"), "");
                return -1;
            }
        }
        while PY_OS_THREAD.load(Ordering::Acquire) == 0 {
            thread::yield_now();
        }
    }
    SINGLE.store(want, Ordering::Release);
    0
}

/// 1 in the single-threaded mode, else 0.
#[unsafe(no_mangle)]
pub extern "C" fn pmg_call_mode() -> c_int {
    single() as c_int
}
