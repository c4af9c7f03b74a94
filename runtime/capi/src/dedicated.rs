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
//! Hand-off: two mailboxes (`TO_PY`, `TO_LISP`), each written by its sender only, in cache
//! lines of its own. The call itself is moved by value into `TO_PY` (when it fits, else a
//! pointer to it) beside the count the dedicated thread waits on, and its result comes back
//! in `TO_LISP` beside the count the Lisp thread waits on.
//! Each receiver counts the messages it took in lines of its own (`Inbox`), so neither side
//! writes a line the other writes: a call moves the request's lines to the dedicated
//! thread's core and the reply's to the Lisp thread's, once each, plus what the call itself
//! reads. A Python call (`ship_call`: `pmg_call`, `pmg_call_path*`) brings its data along
//! too: up to three arguments copied into the message, its result back in the reply, and
//! a short string result's characters (into a buffer of the calling thread), so neither
//! thread reads or writes the other's memory for it; a call of one argument by address
//! (`pmg_call`, what generated code and imported functions make) and its reply, when the
//! result is an int, a float, a boolean, None, an error or a string of up to 24 bytes, each
//! fit in one line (`SmallCall`, `SmallReply`). The waiting side spins (`spin_until`:
//! no clock read, no system call while the reply comes within a few hundred rounds; then it
//! yields its core now and then, in case the scheduler put both threads on it), then marks
//! itself asleep (`Asleep`, a line of its own) and parks (a futex on Linux); the sender
//! wakes it only when it finds that mark (a read that stays in its cache otherwise). A side
//! whose spins keep failing sleeps at once (the cores are oversubscribed), probing now and
//! then. The one place that decides is `active()`, checked by `with_gil_t` (every call that
//! takes the GIL) and by the entries that use the GIL without it (`pmg_initialize`,
//! `pmg_gil_enter`/`exit`/`held`, `pmg_set_python_error`).

use super::*;
use std::cell::UnsafeCell;
use std::mem::{MaybeUninit, align_of, size_of};
use std::sync::atomic::{AtomicU32, AtomicU64, compiler_fence};
use std::sync::{Condvar, OnceLock};
use std::thread::{self, Thread};

static SINGLE: AtomicBool = AtomicBool::new(false);

/// The message that says the step the other side waited for is done (a call's, or a
/// callback's); any other message is a `Step` (to the dedicated thread) or a `*mut Task` (to
/// the Lisp thread).
const DONE: usize = 1;
/// DONE, and the call left a last error (in `TO_LISP.buf[ERROR_WORD]`).
const DONE_ERROR: usize = 3;

/// One direction of the conversation, written by its sender only: how many messages it has
/// sent, the last one, and what it carries: the calling thread's pending string result (in,
/// then out), and the call itself, moved in by value when it fits (its result comes back in
/// the other mailbox, and the last error it left, if any, in the reply's `ERROR_WORD`). A
/// small call and its reply fit the first line (`ship_small`). The receiver counts what it took in
/// its own `Inbox` and never writes here, so a message moves these lines to the receiver's
/// core once and nothing moves them back but the sender's next message.
#[repr(C, align(128))]
struct Mailbox {
    /// Messages sent so far; one is waiting when it differs from the receiver's count.
    sent: AtomicUsize,
    msg: Cell<usize>,
    pending: Cell<Obj>,
    buf: UnsafeCell<[MaybeUninit<u64>; BUF_WORDS]>,
}
const BUF_WORDS: usize = 21;
/// The word of `TO_LISP.buf` with the last error a call left (a `*mut LastError`), written
/// only then (the reply is DONE_ERROR): in the third line, which a reply does not touch
/// otherwise.
const ERROR_WORD: usize = BUF_WORDS - 1;

/// `TO_LISP.buf[ERROR_WORD]`, where the dedicated thread puts a call's last error.
fn error_slot() -> *mut *mut LastError {
    unsafe { TO_LISP.buf.get().cast::<*mut LastError>().add(ERROR_WORD) }
}
// SAFETY: the sender writes `msg`, `pending` and `buf` before it publishes them
// (`sent`, SeqCst), and the receiver reads them after it saw the new `sent`; the sender
// writes again only after the receiver's answer arrived (the conversation alternates).
unsafe impl Sync for Mailbox {}

const fn mailbox() -> Mailbox {
    Mailbox {
        sent: AtomicUsize::new(0),
        msg: Cell::new(DONE),
        pending: Cell::new(null_mut()),
        buf: UnsafeCell::new([MaybeUninit::uninit(); BUF_WORDS]),
    }
}
/// Lisp thread to dedicated thread: a `Step` (a call to run), or DONE (a callback returned).
static TO_PY: Mailbox = mailbox();
/// Dedicated thread to Lisp thread: DONE or DONE_ERROR (the call returned), or a `*mut Task`
/// (a callback).
static TO_LISP: Mailbox = mailbox();

/// A step for the dedicated thread: runs the call in `TO_PY.buf`, puts its result in
/// `TO_LISP.buf`, and returns the reply (DONE or DONE_ERROR).
type Step = unsafe fn() -> usize;

/// A Lisp callback for the Lisp thread that has the floor (it lives on the dedicated
/// thread's stack while that thread waits).
struct Task<'a> {
    run: &'a mut dyn FnMut(),
}

/// The receiving side of a mailbox, written by the receiver only: the messages it took,
/// and how its recent waits went (see `wait`).
#[repr(C, align(128))]
struct Inbox {
    taken: AtomicUsize,
    misses: AtomicU32,
    waits: AtomicU32,
}
const fn inbox() -> Inbox {
    Inbox { taken: AtomicUsize::new(0), misses: AtomicU32::new(0), waits: AtomicU32::new(0) }
}
static PY_INBOX: Inbox = inbox();
/// (the Lisp thread that has the floor is the one that receives)
static LISP_INBOX: Inbox = inbox();

/// Set by a receiver before it parks, in a line of its own: the sender reads it after each
/// message (a read that stays in its cache while the receiver does not sleep).
#[repr(C, align(128))]
struct Asleep(AtomicBool);
static PY_ASLEEP: Asleep = Asleep(AtomicBool::new(false));
static LISP_ASLEEP: Asleep = Asleep(AtomicBool::new(false));

/// What only the Lisp threads touch, away from the lines the dedicated thread writes.
#[repr(C, align(128))]
struct Floor {
    /// The Lisp thread that has the floor: its pthread_t (0: none).
    owner: AtomicU64,
    /// The Lisp thread blocked waiting for the dedicated thread now (pthread_t; 0: none):
    /// a signal that lands on it is handled as on a thread executing Python (see
    /// `interrupts`). Written and read by that thread only (its signal handler).
    waiting: AtomicU64,
    /// The owner's `Thread` (the dedicated thread wakes it through this).
    client: AtomicPtr<Thread>,
    waiters: AtomicUsize,
}
static FLOOR: Floor = Floor {
    owner: AtomicU64::new(0),
    waiting: AtomicU64::new(0),
    client: AtomicPtr::new(null_mut()),
    waiters: AtomicUsize::new(0),
};
static FLOOR_LOCK: Mutex<()> = Mutex::new(());
static FLOOR_FREED: Condvar = Condvar::new();

static PY_THREAD: OnceLock<Thread> = OnceLock::new();
static PY_OS_THREAD: AtomicU64 = AtomicU64::new(0);

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

/// Spins (checking `ready`) for at most the spin time; true when `ready` became true. The
/// clock is read only after the first few hundred rounds (a reply that comes at once costs
/// no clock read).
#[inline]
fn spin_until(mut ready: impl FnMut() -> bool) -> bool {
    let mut i = 0u32;
    let mut start: Option<std::time::Instant> = None;
    loop {
        if ready() {
            return true;
        }
        i = i.wrapping_add(1);
        if i.is_multiple_of(256) {
            let spin = spin_time();
            match start {
                None if spin.is_zero() => return false,
                None => start = Some(std::time::Instant::now()),
                Some(s) if s.elapsed() > spin => return false,
                Some(_) => {}
            }
            // (the other thread may be waiting for this core: the scheduler put both on it)
            thread::yield_now();
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
    fn sigfillset(set: *mut [u64; 16]) -> c_int;
    fn sigdelset(set: *mut [u64; 16], sig: c_int) -> c_int;
    fn pthread_sigmask(how: c_int, set: *const [u64; 16], old: *mut [u64; 16]) -> c_int;
}
#[cfg(target_os = "linux")]
unsafe extern "C" {
    // (glibc, musl and bionic all export it)
    fn __libc_current_sigrtmax() -> c_int;
}
#[cfg(target_os = "linux")]
const SIG_BLOCK: c_int = 0;
#[cfg(not(target_os = "linux"))]
const SIG_BLOCK: c_int = 1;
/// The fault signals, left deliverable on the dedicated thread: SIGILL SIGTRAP SIGBUS
/// SIGFPE SIGSEGV.
#[cfg(target_os = "linux")]
const FAULTS: [c_int; 5] = [4, 5, 7, 8, 11];
#[cfg(not(target_os = "linux"))]
const FAULTS: [c_int; 5] = [4, 5, 10, 8, 11];

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

/// Past this many waits in a row that found nothing by spinning, a side sleeps at once
/// (the cores are oversubscribed: spinning only delays the other thread), spinning again
/// every `PROBE`th wait to find out whether it pays again.
const MISSES_TO_STOP: u32 = 16;
const PROBE: u32 = 64;

/// Waits for the next message in `mb` and returns it: spins first, then marks itself
/// asleep and parks until the sender wakes it. Takes it by counting it in `inbox` (no write
/// to the sender's lines).
#[inline]
fn wait(mb: &Mailbox, inbox: &Inbox, asleep: &Asleep) -> usize {
    let taken = inbox.taken.load(Ordering::Relaxed);
    let ready = || mb.sent.load(Ordering::Acquire) != taken;
    if !ready() {
        let waits = inbox.waits.load(Ordering::Relaxed).wrapping_add(1);
        inbox.waits.store(waits, Ordering::Relaxed);
        let misses = inbox.misses.load(Ordering::Relaxed);
        let probe = waits.is_multiple_of(PROBE);
        let mut got = false;
        if misses < MISSES_TO_STOP || probe {
            got = spin_until(ready);
            if got {
                if misses > 0 {
                    inbox.misses.store(if probe { 0 } else { misses - 1 }, Ordering::Relaxed);
                }
            } else {
                inbox.misses.store((misses + 1).min(2 * MISSES_TO_STOP), Ordering::Relaxed);
            }
        }
        // (SeqCst, as the sender's `sent` and its read of `asleep`: either this side sees
        // the message or the sender sees it asleep)
        while !got {
            asleep.0.store(true, Ordering::SeqCst);
            if mb.sent.load(Ordering::SeqCst) == taken {
                thread::park();
            }
            asleep.0.store(false, Ordering::Relaxed);
            got = ready();
        }
    }
    inbox.taken.store(taken.wrapping_add(1), Ordering::Relaxed);
    mb.msg.get()
}

/// Sends `msg` (with what `mb` carries, written before), waking the receiver when it
/// sleeps.
#[inline]
fn post(mb: &Mailbox, msg: usize, asleep: &Asleep, peer: fn() -> &'static Thread) {
    mb.msg.set(msg);
    mb.sent.store(mb.sent.load(Ordering::Relaxed).wrapping_add(1), Ordering::SeqCst);
    if asleep.0.load(Ordering::SeqCst) {
        peer().unpark();
    }
}

fn py_thread() -> &'static Thread {
    PY_THREAD.get().expect("the dedicated Python thread is started with the mode")
}

fn client() -> &'static Thread {
    unsafe { &*FLOOR.client.load(Ordering::Acquire) }
}

/// The dedicated thread's side: runs the steps that arrive until a DONE arrives (the
/// callback it waits for has returned).
fn py_converse() {
    loop {
        let m = wait(&TO_PY, &PY_INBOX, &PY_ASLEEP);
        if m == DONE {
            return;
        }
        let reply = unsafe {
            let step: Step = std::mem::transmute::<usize, Step>(m);
            step()
        };
        post(&TO_LISP, reply, &LISP_ASLEEP, client);
    }
}

/// The Lisp side: runs the callbacks that arrive until the call `me` waits for is done;
/// returns DONE or DONE_ERROR.
fn lisp_converse(me: u64) -> usize {
    loop {
        FLOOR.waiting.store(me, Ordering::Relaxed);
        compiler_fence(Ordering::SeqCst); // (read by this thread's signal handler)
        let m = wait(&TO_LISP, &LISP_INBOX, &LISP_ASLEEP);
        compiler_fence(Ordering::SeqCst);
        FLOOR.waiting.store(0, Ordering::Relaxed);
        if m == DONE || m == DONE_ERROR {
            return m;
        }
        unsafe { ((*(m as *mut Task<'static>)).run)() };
        post(&TO_PY, DONE, &PY_ASLEEP, py_thread);
    }
}

/// The signal that wakes the dedicated thread out of a blocking system call (a sleep, a
/// wait) when a Lisp thread's call running there is interrupted: Python then sees the
/// interrupt at once (EINTR, then its signal check). Only ever sent to that thread. Linux
/// only (a real-time signal no one else uses); elsewhere an interrupt lands when the
/// blocking call returns.
#[cfg(target_os = "linux")]
fn wake_signal() -> Option<c_int> {
    Some(unsafe { __libc_current_sigrtmax() } - 2)
}
#[cfg(not(target_os = "linux"))]
fn wake_signal() -> Option<c_int> {
    None
}

extern "C" fn ignore_wake(_: c_int) {}

/// Interrupts the dedicated thread's blocking system call, if any (see `wake_signal`).
pub(super) fn wake() {
    let t = PY_OS_THREAD.load(Ordering::Acquire);
    if let (true, Some(sig)) = (t != 0, wake_signal()) {
        unsafe { pthread_kill(t as usize, sig) };
    }
}

fn py_main() {
    IS_PY.with(|p| p.set(true));
    // Asynchronous signals go to the Lisp threads (their handlers run Lisp code); faults
    // and the wake signal stay deliverable.
    unsafe {
        if let Some(sig) = wake_signal() {
            signal(sig, ignore_wake);
            siginterrupt(sig, 1);
        }
        let mut set = [0u64; 16];
        sigfillset(&mut set);
        for sig in FAULTS.into_iter().chain(wake_signal()) {
            sigdelset(&mut set, sig);
        }
        pthread_sigmask(SIG_BLOCK, &set, null_mut());
    }
    PY_OS_THREAD.store(unsafe { pthread_self() } as u64, Ordering::Release);
    // (this thread runs only Python: it stays in Python's floating-point environment and
    // its calls skip the switch; it started with the Lisp thread's traps)
    fpenv::python_thread_environment();
    loop {
        py_converse();
    }
}

#[inline]
fn acquire_floor() {
    let me = unsafe { pthread_self() } as u64;
    let take = || FLOOR.owner.compare_exchange(0, me, Ordering::Acquire, Ordering::Relaxed).is_ok();
    if !take() {
        acquire_floor_slow(take);
    }
    let client = ME.with(|t| t as *const Thread as *mut Thread);
    if FLOOR.client.load(Ordering::Relaxed) != client {
        FLOOR.client.store(client, Ordering::Release);
    }
}

#[cold]
fn acquire_floor_slow(take: impl Fn() -> bool) {
    let free_then_take = || FLOOR.owner.load(Ordering::Relaxed) == 0 && take();
    loop {
        if spin_until(free_then_take) {
            return;
        }
        let mut g = FLOOR_LOCK.lock().unwrap_or_else(|e| e.into_inner());
        FLOOR.waiters.fetch_add(1, Ordering::SeqCst);
        while FLOOR.owner.load(Ordering::SeqCst) != 0 {
            g = FLOOR_FREED.wait_timeout(g, std::time::Duration::from_millis(10)).unwrap_or_else(|e| e.into_inner()).0;
        }
        FLOOR.waiters.fetch_sub(1, Ordering::SeqCst);
        drop(g);
        if take() {
            return;
        }
    }
}

#[inline]
fn release_floor() {
    FLOOR.owner.store(0, Ordering::SeqCst);
    if FLOOR.waiters.load(Ordering::SeqCst) > 0 {
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

/// Whether a call `F` returning `R` travels by value (`TO_PY.buf`, then `TO_LISP.buf`).
const fn fits<F, R>() -> bool {
    size_of::<F>() <= 8 * BUF_WORDS
        && size_of::<Option<R>>() <= 8 * ERROR_WORD
        && align_of::<F>() <= 8
        && align_of::<Option<R>>() <= 8
}

/// The dedicated thread's side of one call: the calling thread's pending string result
/// installed (released there, with the GIL), `f` run, and what it leaves (last error,
/// pending result) put in `TO_LISP` for the calling thread. Returns `f`'s value (None if it
/// panicked) and the reply: DONE_ERROR when it left an error.
#[inline]
fn run_call<R>(f: impl FnOnce() -> R) -> (Option<R>, usize) {
    let t = tls();
    let saved_pending = t.pending.replace(TO_PY.pending.get());
    let saved_error = LAST_ERROR.with(|e| e.borrow_mut().take());
    let r = catch_unwind(AssertUnwindSafe(f)).ok();
    let error = LAST_ERROR.with(|e| std::mem::replace(&mut *e.borrow_mut(), saved_error));
    TO_LISP.pending.set(t.pending.replace(saved_pending));
    let reply = match error {
        Some(e) => {
            unsafe { ptr::write(error_slot(), Box::into_raw(Box::new(e))) };
            DONE_ERROR
        }
        None => DONE,
    };
    (r, reply)
}

/// Step: the call by value in `TO_PY.buf`, its result to `TO_LISP.buf`.
unsafe fn step_by_value<F: FnOnce() -> R, R>() -> usize {
    unsafe {
        let f = ptr::read(TO_PY.buf.get().cast::<F>());
        let (r, reply) = run_call(f);
        ptr::write(TO_LISP.buf.get().cast::<Option<R>>(), r);
        reply
    }
}

/// Step: `TO_PY.buf` holds pointers to the call and to its result, on the caller's stack.
unsafe fn step_by_reference<F: FnOnce() -> R, R>() -> usize {
    unsafe {
        let (f, r) = ptr::read(TO_PY.buf.get().cast::<(*mut Option<F>, *mut Option<R>)>());
        let f = (*f).take().expect("a call runs once");
        let (v, reply) = run_call(f);
        *r = v;
        reply
    }
}

/// The calling Lisp thread's side of one call: takes the floor (or keeps it), `write`s the
/// call into `TO_PY.buf`, sends `step` with this thread's pending string result (released
/// there, with the GIL), runs the callbacks that come back until the reply, then `read`s
/// the result out of `TO_LISP.buf`; the pending result and last error the call left become
/// this thread's.
#[inline]
fn converse<T>(write: impl FnOnce(), step: Step, read: impl FnOnce() -> T) -> T {
    let held = HOLD.with(|h| h.get());
    if held == 0 {
        acquire_floor();
    }
    HOLD.with(|h| h.set(held + 1));
    let me = tls();
    TO_PY.pending.set(me.pending.replace(null_mut()));
    write();
    post(&TO_PY, step as usize, &PY_ASLEEP, py_thread);
    let reply = lisp_converse(unsafe { pthread_self() } as u64);
    let r = read();
    let old = me.pending.replace(TO_LISP.pending.get());
    if !old.is_null() {
        refcount::pmg_decref_deferred(old); // (a nested call's, already consumed)
    }
    if reply == DONE_ERROR {
        let e = unsafe { Box::from_raw(ptr::read(error_slot())) };
        LAST_ERROR.with(|x| *x.borrow_mut() = Some(*e));
    }
    HOLD.with(|h| h.set(held));
    if held == 0 {
        release_floor();
    }
    r
}

/// Runs `f` on the dedicated thread and returns its value (`fail` if it panicked). The
/// calling thread's pending string result goes along (released there, with the GIL), and
/// the last error and pending result `f` leaves come back to the calling thread.
#[inline]
pub(super) fn ship<R, F: FnOnce() -> R>(fail: R, f: F) -> R {
    let r: Option<R> = if fits::<F, R>() {
        converse(
            || unsafe { ptr::write(TO_PY.buf.get().cast::<F>(), f) },
            step_by_value::<F, R>,
            || unsafe { ptr::read(TO_LISP.buf.get().cast::<Option<R>>()) },
        )
    } else {
        let mut f = Some(f);
        let mut r: Option<R> = None;
        let (pf, pr) = (&mut f as *mut Option<F>, &mut r as *mut Option<R>);
        converse(
            || unsafe { ptr::write(TO_PY.buf.get().cast::<(*mut Option<F>, *mut Option<R>)>(), (pf, pr)) },
            step_by_reference::<F, R>,
            || (),
        );
        r
    };
    r.unwrap_or(fail)
}

/// How many arguments of a call (`ship_call`) travel in the message by value; a call with
/// more sends a pointer to its argument array, as the other runtime calls do.
const SMALL_ARGS: usize = 3;
/// The characters of a string result up to this many bytes travel back in the message.
const TEXT_WORDS: usize = 3;

thread_local! {
    /// The characters of this Lisp thread's last short string result (`ship_call`): valid
    /// until its next runtime call, as those of a pending string result are.
    static TEXT: UnsafeCell<[u64; TEXT_WORDS]> = const { UnsafeCell::new([0; TEXT_WORDS]) };
}

/// Runs `call(args, out)` (a call that reads `n` PmgArgs and writes a PmgValue) on the
/// dedicated thread, moving what it reads and writes in the message itself: the arguments
/// (up to SMALL_ARGS) copied into it, the result back in it (`SmallReply`: its common
/// fields only), and the characters of a short string result with it (into this thread's
/// `TEXT`, where `out.data` then points).
/// So the call's data crosses the cores in the message's own cache lines, not in lines of
/// the Lisp thread's memory the dedicated thread would read and write (and the Python
/// string's, the Lisp thread would read).
#[inline]
pub(super) unsafe fn ship_call<F>(args: *const PmgArg, n: usize, out: &mut PmgValue, call: F) -> c_int
where
    F: FnOnce(*const PmgArg, &mut PmgValue) -> c_int,
{
    unsafe {
        match n {
            0 | 1 => ship_small::<1, F>(args, n, out, call),
            2 => ship_small::<2, F>(args, n, out, call),
            3 => ship_small::<SMALL_ARGS, F>(args, n, out, call),
            _ => call(args, out),
        }
    }
}

/// A small call (`ship_small`) as it travels in `TO_PY.buf`: up to N arguments, and the
/// call (for one argument and a call of 16 bytes, 40 bytes: the message's first line).
#[repr(C)]
struct SmallCall<const N: usize, F> {
    args: [MaybeUninit<PmgArg>; N],
    call: F,
}

/// A small call's result as it comes back in `TO_LISP.buf`: the tag, a string's kind, one
/// word (INT: `i`; FLOAT: `f`'s bits; STR: `len`) and a short string's characters, in the
/// reply's first line beside its count; any other result whole in `full` (the next line),
/// marked by `kind == FULL`.
#[repr(C)]
struct SmallReply {
    tag: c_int,
    kind: c_int,
    x: u64,
    text: [MaybeUninit<u64>; TEXT_WORDS],
    full: MaybeUninit<PmgValue>,
}
const FULL: c_int = -1;

/// Whether the characters of a string result travel in the reply.
#[inline]
fn fits_text(tag: c_int, v: &PmgValue) -> bool {
    tag == TAG_STR && (v.kind as i64).saturating_mul(v.len) <= (8 * TEXT_WORDS) as i64
}

/// The dedicated thread's side of `ship_small`: writes the fields of `v` that its tag uses.
#[inline]
unsafe fn put_small(rp: *mut SmallReply, tag: c_int, v: &PmgValue) {
    unsafe {
        let kind = match tag {
            TAG_INT => {
                (*rp).x = v.i as u64;
                0
            }
            TAG_FLOAT => {
                (*rp).x = v.f.to_bits();
                0
            }
            TAG_ERROR | TAG_NONE | TAG_TRUE | TAG_FALSE => 0,
            _ if fits_text(tag, v) => {
                (*rp).x = v.len as u64;
                if v.len > 0 {
                    let bytes = (v.kind as i64 * v.len) as usize;
                    ptr::copy_nonoverlapping(v.data.cast::<u8>(), ptr::addr_of_mut!((*rp).text).cast::<u8>(), bytes);
                }
                v.kind
            }
            _ => {
                ptr::write(ptr::addr_of_mut!((*rp).full).cast::<PmgValue>(), ptr::read(v));
                FULL
            }
        };
        (*rp).kind = kind;
        (*rp).tag = tag;
    }
}

/// The Lisp thread's side of `ship_small`: the result into `out` (a short string's
/// characters into this thread's `TEXT`, where `out.data` then points); returns its tag.
#[inline]
unsafe fn take_small(rp: *const SmallReply, out: &mut PmgValue) -> c_int {
    unsafe {
        let (tag, kind) = ((*rp).tag, (*rp).kind);
        if kind == FULL {
            *out = ptr::read(ptr::addr_of!((*rp).full).cast::<PmgValue>());
            return tag;
        }
        out.tag = tag;
        out.obj = null_mut();
        match tag {
            TAG_INT => out.i = (*rp).x as i64,
            TAG_FLOAT => out.f = f64::from_bits((*rp).x),
            TAG_STR => {
                out.kind = kind;
                out.len = (*rp).x as i64;
                TEXT.with(|t| {
                    let t = t.get();
                    let bytes = (kind as i64 * out.len) as usize;
                    ptr::copy_nonoverlapping(ptr::addr_of!((*rp).text).cast::<u8>(), t.cast::<u8>(), bytes);
                    out.data = t.cast();
                });
            }
            _ => {}
        }
        tag
    }
}

/// Step: a `SmallCall` in `TO_PY.buf`, its `SmallReply` to `TO_LISP.buf`.
unsafe fn step_small<const N: usize, F>() -> usize
where
    F: FnOnce(*const PmgArg, &mut PmgValue) -> c_int,
{
    unsafe {
        let m = ptr::read(TO_PY.buf.get().cast::<SmallCall<N, F>>());
        let rp = TO_LISP.buf.get().cast::<SmallReply>();
        let (done, reply) = run_call(|| {
            // (a zeroed PmgValue is a valid one: integers, floats and null pointers)
            let mut value: PmgValue = std::mem::zeroed();
            value.tag = TAG_ERROR;
            let tag = (m.call)(m.args.as_ptr().cast::<PmgArg>(), &mut value);
            put_small(rp, tag, &value);
        });
        if done.is_none() {
            (*rp).kind = 0;
            (*rp).tag = TAG_ERROR;
        }
        reply
    }
}

#[inline]
unsafe fn ship_small<const N: usize, F>(args: *const PmgArg, n: usize, out: &mut PmgValue, call: F) -> c_int
where
    F: FnOnce(*const PmgArg, &mut PmgValue) -> c_int,
{
    const { assert!(size_of::<SmallCall<N, F>>() <= 8 * BUF_WORDS && align_of::<SmallCall<N, F>>() <= 8) };
    const { assert!(size_of::<SmallReply>() <= 8 * ERROR_WORD) };
    let mut m = SmallCall::<N, F> { args: [MaybeUninit::uninit(); N], call };
    if n > 0 {
        unsafe { ptr::copy_nonoverlapping(args, m.args.as_mut_ptr().cast::<PmgArg>(), n) };
    }
    converse(
        || unsafe { ptr::write(TO_PY.buf.get().cast::<SmallCall<N, F>>(), m) },
        step_small::<N, F>,
        || unsafe { take_small(TO_LISP.buf.get().cast::<SmallReply>(), out) },
    )
}

/// Calls the Lisp callback dispatcher: on the dedicated thread, in the Lisp thread that
/// has the floor (it is waiting for the call that led here); elsewhere directly.
pub(super) unsafe fn call_lisp(f: LispCallback, handle: i64, args: Obj, kwargs: Obj) -> Obj {
    if !IS_PY.with(|p| p.get()) || FLOOR.client.load(Ordering::Acquire).is_null() {
        return unsafe { f(handle, args, kwargs) };
    }
    let mut r: Obj = null_mut();
    let mut step = || r = unsafe { f(handle, args, kwargs) };
    let mut task = Task { run: &mut step };
    post(&TO_LISP, (&mut task as *mut Task<'_>) as usize, &LISP_ASLEEP, client);
    py_converse();
    r
}

/// Whether the Lisp thread `os_thread` is blocked waiting for the dedicated thread (from
/// that thread's signal handler: an atomic load).
pub(super) fn waiting(os_thread: u64) -> bool {
    FLOOR.waiting.load(Ordering::Relaxed) == os_thread
}

/// The thread to interrupt for the Lisp thread `os_thread`: the dedicated thread while
/// that Lisp thread has the floor (its call runs there).
pub(super) fn interrupt_target(os_thread: u64) -> u64 {
    if single() && FLOOR.owner.load(Ordering::Acquire) == os_thread {
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
