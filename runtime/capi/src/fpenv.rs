//! The floating-point environment at the boundary between Lisp and Python.
//!
//! SBCL runs with the overflow, invalid and divide-by-zero traps enabled; CPython and C
//! extensions (numpy, yaml, numba ...) expect every trap masked and compute `inf`/`nan`
//! or raise `OverflowError` themselves. Two ways to give Python its environment, done here,
//! in the C ABI, so that they are the same for every Lisp implementation
//! (`pmg_set_fp_switch`; the Lisp runtime asks for the first at start):
//!
//! - **On demand** (lazy, the default on x86-64 Linux): an entry writes nothing. Python
//!   code starts with the Lisp's traps; the first time it raises one, the CPU faults and
//!   the SIGFPE handler (`trap`) masks every trap in the interrupted context, so the
//!   instruction runs again masked and gives Python the IEEE result and flags. The return
//!   puts the caller's MXCSR back when it changed. A call that raises no trap (nearly all)
//!   costs two `stmxcsr`; one that does, a signal (~3 us), after which the thread's next
//!   calls use the eager switch (`EAGER_AFTER_TRAP`). Threads started inside a
//!   call (Python's, a BLAS pool's) inherit the Lisp's traps and are handled the same way.
//! - **Every call** (eager): every entry saves the caller's SSE control/status register
//!   (MXCSR) and masks all traps, and restores the caller's before returning. On AMD Zen an
//!   `ldmxcsr` that changes a mask costs ~17 ns, the pair ~34 ns a call. Used where the
//!   lazy switch cannot be (another OS or CPU, a Lisp whose threads the handler cannot
//!   tell from others) and for callers with the precision, underflow or denormal trap
//!   enabled (Python would trap at nearly every call).
//!
//! Either way a Python -> Lisp callback puts the Lisp words back for the Lisp code (and
//! marks the thread as running Lisp for the handler) and Python's when it returns.
//!
//! The x87 control word is masked once and left masked: SBCL's float modes on x86-64 are
//! MXCSR (its Lisp code does not use the x87 unit), and switching it back costs a `fnclex`
//! (tens of ns) per call. So only MXCSR goes back and forth: `stmxcsr` to read, `ldmxcsr`
//! when it must change (about 4 ns each on the machine here); no fenv.h calls.
//!
//! What comes back to the caller is its control bits (trap masks, rounding, flush-to-zero,
//! denormals-are-zero), exactly; its sticky exception flags are left cleared, Python's
//! dropped. Loading an MXCSR whose flags are set is what costs: on the Xeon (KVM) here an
//! `ldmxcsr` that sets a flag (the precision flag SBCL's own arithmetic leaves set, in
//! practice always) took ~48 ns per call, against ~1 ns for one that clears them: the
//! call of `str(i)` from SBCL went from 61 to 108 ns. A Lisp that reads its accrued
//! exceptions (`sb-int:get-floating-point-modes`) sees them reset by each call into Python.
//! `pmg_set_fp_switch(0)` turns the switch off, for the benchmark's same-run comparison
//! only (Python then runs with the caller's traps: unsafe).
//!
//! The per-scope switch (opt-in, Lisp's `with-python-float-environment`): what a call
//! still pays for either per-call switch (two `stmxcsr`, ~10 ns, on demand; two
//! mask-changing `ldmxcsr` on every call), a hot loop of small calls may not want to pay;
//! and calls that raise traps pay no signal there. `pmg_fp_scope_enter` switches the
//! calling thread to Python's environment once and marks it (`Tls::fp_scope`): the calls
//! made inside skip the switch entirely (`with_gil_t`), Lisp callbacks still run in the
//! Lisp words saved at scope entry (`Tls::lisp_fp`, see `callbacks`), and
//! `pmg_fp_scope_exit` puts those words back. `pmg_fp_scope_suspend`/`_resume` give a Lisp
//! interrupt that lands inside a scope the Lisp words for its own code.

#[cfg(target_arch = "x86_64")]
mod imp {
    use std::arch::asm;

    /// MXCSR exception mask bits (IM DM ZM OM UM PM) and sticky exception flags.
    pub(super) const MXCSR_MASKS: u32 = 0x1F80;
    const MXCSR_FLAGS: u32 = 0x3F;
    /// The denormal, underflow and precision masks (DM UM PM).
    const LAZY_MASKED: u32 = 0x1900;
    /// x87 control word exception mask bits.
    pub(super) const X87_MASKS: u16 = 0x3F;

    #[inline(always)]
    fn stmxcsr() -> u32 {
        let mut v: u32 = 0;
        unsafe { asm!("stmxcsr [{}]", in(reg) &mut v, options(nostack, preserves_flags)) };
        v
    }

    #[inline(always)]
    fn ldmxcsr(v: u32) {
        unsafe { asm!("ldmxcsr [{}]", in(reg) &v, options(nostack, preserves_flags)) };
    }

    #[inline(always)]
    fn fnstcw() -> u16 {
        let mut v: u16 = 0;
        unsafe { asm!("fnstcw [{}]", in(reg) &mut v, options(nostack, preserves_flags)) };
        v
    }

    #[inline(always)]
    fn fldcw(v: u16) {
        unsafe { asm!("fldcw [{}]", in(reg) &v, options(nostack)) };
    }

    /// The caller's words: MXCSR in the low 32 bits, the x87 control word above.
    #[derive(Clone, Copy, PartialEq, Eq)]
    pub struct FpWords(u64);

    impl FpWords {
        pub const UNSET: FpWords = FpWords(u64::MAX);

        #[inline(always)]
        pub fn bits(self) -> u64 {
            self.0
        }

        #[inline(always)]
        pub fn from_bits(bits: u64) -> FpWords {
            FpWords(bits)
        }

        #[inline(always)]
        pub fn read() -> FpWords {
            FpWords(stmxcsr() as u64 | ((fnstcw() as u64) << 32))
        }

        /// MXCSR only (the x87 word reads as masked).
        #[inline(always)]
        pub fn read_mxcsr() -> FpWords {
            FpWords(stmxcsr() as u64 | ((X87_MASKS as u64) << 32))
        }

        /// These words with MXCSR's sticky flags cleared.
        #[inline(always)]
        pub fn without_flags(self) -> FpWords {
            FpWords(self.0 & !(MXCSR_FLAGS as u64))
        }

        #[inline(always)]
        pub fn mxcsr_masked(self) -> bool {
            self.mxcsr() & MXCSR_MASKS == MXCSR_MASKS
        }

        /// Whether the lazy switch may run Python in these words: the traps enabled are
        /// among invalid, divide-by-zero and overflow (Lisp's usual set). With the
        /// precision, underflow or denormal trap enabled, Python would trap at nearly every
        /// call, so the eager switch is used instead.
        #[inline(always)]
        pub fn lazy_ok(self) -> bool {
            self.mxcsr() & LAZY_MASKED == LAZY_MASKED
        }

        /// Masks every SSE trap (Python's environment), keeping rounding and flush
        /// modes; the sticky flags are cleared so Python (numpy's checks) starts clean.
        #[inline(always)]
        pub fn mask_mxcsr(self) {
            ldmxcsr((self.mxcsr() | MXCSR_MASKS) & !MXCSR_FLAGS);
        }

        /// Loads this MXCSR's control bits, with every sticky flag cleared (those Python
        /// raised, and the caller's own: setting a flag with `ldmxcsr` is the slow case,
        /// see the module documentation).
        #[inline(always)]
        pub fn load_mxcsr(self) {
            ldmxcsr(self.mxcsr() & !MXCSR_FLAGS);
        }

        pub fn mask_x87() {
            let cw = fnstcw();
            if cw & X87_MASKS != X87_MASKS {
                fldcw(cw | X87_MASKS);
            }
        }

        #[inline(always)]
        fn mxcsr(self) -> u32 {
            self.0 as u32
        }

        /// Puts the MXCSR of these words back (when it differs from the current one). The
        /// sticky flags Python raised are dropped with it, so Lisp sees none of them. The
        /// x87 control word stays masked (see the module documentation).
        #[inline(always)]
        pub fn restore(self) {
            if stmxcsr() != self.mxcsr() {
                ldmxcsr(self.mxcsr());
            }
        }
    }
}

#[cfg(not(target_arch = "x86_64"))]
mod imp {
    /// Other architectures: not switched yet (SBCL/ECL on aarch64 need FPCR handling).
    #[derive(Clone, Copy, PartialEq, Eq)]
    pub struct FpWords(u64);

    impl FpWords {
        pub const UNSET: FpWords = FpWords(u64::MAX);
        #[inline(always)]
        pub fn bits(self) -> u64 {
            self.0
        }
        #[inline(always)]
        pub fn from_bits(bits: u64) -> FpWords {
            FpWords(bits)
        }
        #[inline(always)]
        pub fn read() -> FpWords {
            FpWords(0)
        }
        #[inline(always)]
        pub fn read_mxcsr() -> FpWords {
            FpWords(0)
        }
        #[inline(always)]
        pub fn without_flags(self) -> FpWords {
            self
        }
        #[inline(always)]
        pub fn mxcsr_masked(self) -> bool {
            true
        }
        #[inline(always)]
        pub fn lazy_ok(self) -> bool {
            false
        }
        #[inline(always)]
        pub fn mask_mxcsr(self) {}
        #[inline(always)]
        pub fn load_mxcsr(self) {}
        pub fn mask_x87() {}
        #[inline(always)]
        pub fn restore(self) {}
    }
}

pub(super) use imp::FpWords;

use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};

use super::Tls;

/// No switch: Python runs with the caller's traps (benchmarks only: unsafe).
const OFF: u8 = 0;
/// Every entry masks every trap and every return restores the caller's MXCSR.
const EAGER: u8 = 1;
/// Traps are masked on demand, by the SIGFPE handler (`trap`), the first time Python
/// code raises one; the entry writes nothing and the return writes only when something
/// changed. Set by `pmg_set_fp_switch(2)` once the handler is installed.
const LAZY: u8 = 2;

static MODE: AtomicU8 = AtomicU8::new(EAGER);

/// After a call whose Python code raised a float trap (the handler masked it), the
/// thread's next this many calls use the eager switch: a loop whose every call raises one
/// then pays ~40 ns a call, not a signal (~3 us) a call.
const EAGER_AFTER_TRAP: u32 = 256;

/// Guard for one entry from Lisp into Python. Eager: masks all traps now, restores the
/// caller's MXCSR control bits, flags cleared, when dropped (one `stmxcsr` and two
/// `ldmxcsr`). Lazy: marks the thread as running Python for the SIGFPE handler and reads
/// MXCSR (one `stmxcsr`); when dropped, one `stmxcsr` more and, only when Python changed
/// something, an `ldmxcsr`: a cheap one when only flags differ, a mask-changing one after
/// a trap the handler masked.
pub(super) struct PyFpEnv {
    saved: FpWords,
    changed: bool,
    /// false inside a per-scope switch: the drop does nothing
    active: bool,
    /// The lazy switch: this thread's `Tls::fp_lazy` was counted up and must come down.
    lazy: Option<&'static Tls>,
}

impl PyFpEnv {
    /// The switch in force (`pmg_set_fp_switch`), for thread `t`.
    #[inline(always)]
    pub(super) fn enter_t(t: &'static Tls) -> PyFpEnv {
        let saved = FpWords::read_mxcsr();
        let mode = MODE.load(Ordering::Relaxed);
        if mode == LAZY && saved.lazy_ok() {
            let eager = t.fp_eager.get();
            if eager == 0 {
                t.fp_lazy.set(t.fp_lazy.get() + 1);
                return PyFpEnv { saved, changed: false, active: true, lazy: Some(t) };
            }
            // (a recent call raised a trap: this thread's next calls switch up front,
            // ~40 ns, rather than pay a signal each, ~3 us, if they raise traps too)
            t.fp_eager.set(eager - 1);
        }
        let changed = !saved.mxcsr_masked() && mode != OFF;
        if changed {
            saved.mask_mxcsr();
        }
        PyFpEnv { saved, changed, active: true, lazy: None }
    }

    /// Always the eager switch, whatever the mode: for starting and stopping Python (the
    /// SIGFPE handler of the lazy switch is installed after Python has started).
    #[inline(always)]
    pub(super) fn enter_eager() -> PyFpEnv {
        let saved = FpWords::read_mxcsr();
        let changed = !saved.mxcsr_masked() && MODE.load(Ordering::Relaxed) != OFF;
        if changed {
            saved.mask_mxcsr();
        }
        PyFpEnv { saved, changed, active: true, lazy: None }
    }

    /// Inside a per-scope switch (`pmg_fp_scope_enter`): Python's environment is already
    /// in force; nothing is read or written, now or when dropped. `saved` is the scope's
    /// Lisp words.
    #[inline(always)]
    pub(super) fn in_scope(lisp: FpWords) -> PyFpEnv {
        PyFpEnv { saved: lisp, changed: false, active: false, lazy: None }
    }

    /// The MXCSR of the code that entered (Lisp's, for callbacks).
    #[inline(always)]
    pub(super) fn saved(&self) -> FpWords {
        self.saved
    }
}

impl Drop for PyFpEnv {
    #[inline(always)]
    fn drop(&mut self) {
        if !self.active {
            return;
        }
        // (a caller with traps masked, and the lazy switch, get their control bits back
        // too when Python changed them, a trap the SIGFPE handler masked or a rounding
        // mode; and the sticky flags cleared: an `ldmxcsr` that only clears flags costs
        // ~1 ns, see the module documentation)
        if self.changed {
            self.saved.load_mxcsr();
            return;
        }
        let now = FpWords::read_mxcsr();
        if now != self.saved.without_flags() {
            if let Some(t) = self.lazy
                && now.mxcsr_masked()
                && !self.saved.mxcsr_masked()
            {
                t.fp_eager.set(EAGER_AFTER_TRAP);
            }
            self.saved.load_mxcsr();
        }
        if let Some(t) = self.lazy {
            t.fp_lazy.set(t.fp_lazy.get() - 1);
        }
    }
}

/// Puts the calling thread in Python's floating-point environment for good, as a per-scope
/// switch that is never closed: for the single-threaded mode's dedicated thread, which runs
/// only Python (Lisp callbacks run on the Lisp thread), so that its calls skip the switch.
pub(super) fn python_thread_environment() {
    FpWords::read_mxcsr().mask_mxcsr();
    FpWords::mask_x87();
    let t = super::tls();
    t.lisp_fp.set(FpWords::read_mxcsr());
    t.fp_scope.set(true);
}

/// Masks the x87 traps of the calling thread, once they are unmasked (first entry of a
/// thread, after a Lisp callback: SBCL's callback entry sets its own modes). They stay
/// masked: SBCL's Lisp code on x86-64 computes with SSE only.
#[inline]
pub(super) fn mask_x87() {
    if MODE.load(Ordering::Relaxed) != OFF {
        FpWords::mask_x87();
    }
}

/// Chooses the switch into Python's floating-point environment and returns the one in
/// force: 2 lazy (the default the Lisp runtime asks for at start: traps masked on demand
/// by a SIGFPE handler, see `trap`), 1 eager (every entry masks, every return restores),
/// 0 off (benchmarks only: Python code then runs with the caller's traps, and a float
/// overflow in Python is a crash). Asking for 2 installs the handler, and gives 1 where it
/// cannot work: not x86-64 Linux, or no way to tell the Lisp's threads from others (SBCL's
/// `current_thread`, ECL's `ecl_process_env_unsafe`; checked on the calling thread, which
/// must be a Lisp thread).
#[unsafe(no_mangle)]
pub extern "C" fn pmg_set_fp_switch(mode: std::ffi::c_int) -> std::ffi::c_int {
    let m = match mode {
        0 => OFF,
        2 if trap::install() => LAZY,
        _ => EAGER,
    };
    MODE.store(m, Ordering::Relaxed);
    m as std::ffi::c_int
}

/// The switch in force (see `pmg_set_fp_switch`).
#[unsafe(no_mangle)]
pub extern "C" fn pmg_fp_switch() -> std::ffi::c_int {
    MODE.load(Ordering::Relaxed) as std::ffi::c_int
}

/// How many float traps raised by Python code the lazy switch has masked since the library
/// was loaded (each one costs a signal, ~3 us).
#[unsafe(no_mangle)]
pub extern "C" fn pmg_fp_traps() -> u64 {
    TRAPS.load(Ordering::Relaxed)
}

static TRAPS: AtomicU64 = AtomicU64::new(0);

/// The current floating-point words as one integer (MXCSR | x87 control word << 32), for
/// tests: Lisp checks that its own modes survive every call.
#[unsafe(no_mangle)]
pub extern "C" fn pmg_fp_words() -> u64 {
    FpWords::read().bits()
}

/// Opens a per-scope switch on the calling thread: masks every trap now (Python's
/// environment) and keeps it so until `pmg_fp_scope_exit`; the calls made in between skip
/// the switch. Returns 1 and stores in `*prev` what `pmg_fp_scope_exit` must be given; 0
/// when nothing was done: the thread is in a scope already (scopes nest: the outermost
/// one switches), the switch is off (`pmg_set_fp_switch`), or the calls run on Python's
/// dedicated thread (single-threaded mode: the calling thread's environment is never
/// switched there, so there is nothing to save).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn pmg_fp_scope_enter(prev: *mut u64) -> std::ffi::c_int {
    if prev.is_null() || super::dedicated::single() || MODE.load(Ordering::Relaxed) == OFF {
        return 0;
    }
    let t = super::tls();
    if t.fp_scope.get() {
        return 0;
    }
    let lisp = FpWords::read_mxcsr();
    // (the words a call in progress saved, when the scope opens in a callback)
    unsafe { prev.write(t.lisp_fp.replace(lisp.without_flags()).bits()) };
    lisp.mask_mxcsr();
    t.fp_scope.set(true);
    1
}

/// Closes the scope `pmg_fp_scope_enter` opened (given what it stored in `*prev`): the Lisp
/// words saved at entry are loaded again (control bits; sticky flags cleared, as after
/// every call).
#[unsafe(no_mangle)]
pub extern "C" fn pmg_fp_scope_exit(prev: u64) {
    let t = super::tls();
    t.lisp_fp.replace(FpWords::from_bits(prev)).load_mxcsr();
    t.fp_scope.set(false);
}

/// Inside a scope (and not in a callback it called): loads the scope's Lisp words for Lisp
/// code that must run with them (a Lisp interrupt) and returns 1; `pmg_fp_scope_resume`
/// then switches back. 0 otherwise (nothing done).
#[unsafe(no_mangle)]
pub extern "C" fn pmg_fp_scope_suspend() -> std::ffi::c_int {
    let t = super::tls();
    if !t.fp_scope.get() {
        return 0;
    }
    t.lisp_fp.get().load_mxcsr();
    t.fp_scope.set(false);
    1
}

/// Undoes `pmg_fp_scope_suspend` (when it returned 1).
#[unsafe(no_mangle)]
pub extern "C" fn pmg_fp_scope_resume() {
    let t = super::tls();
    FpWords::read_mxcsr().mask_mxcsr();
    t.fp_scope.set(true);
}

/// The lazy switch's SIGFPE handler (x86-64 Linux).
///
/// Under the lazy switch, Python code starts in the caller's MXCSR: SBCL's and ECL's
/// enable the invalid, divide-by-zero and overflow traps. Most calls raise none of these
/// and pay nothing. When Python code does (`1e308 * 10`, numpy's `log(0)`), the CPU
/// faults and this handler masks every trap in the interrupted context (MXCSR; the x87
/// control word too for an x87 fault) and returns: the instruction runs again masked and
/// gives the IEEE result and flags, exactly as it would have in Python's environment; the
/// rest of the call runs masked and the return puts the caller's words back. A signal
/// costs ~3 us, once per call that raises (`pmg_fp_traps` counts them), and makes the
/// thread's next calls switch up front (`EAGER_AFTER_TRAP`).
///
/// Which faults are Python's: float faults (`FPE_FLTDIV`..`FPE_FLTSUB`) on a thread that
/// is either not a Lisp thread (threads Python or a C library started inherit the
/// caller's traps: Python's `threading`, OpenBLAS's pool) or a Lisp thread inside a lazy
/// entry (`Tls::fp_lazy`, which a Lisp callback sets to 0 for its Lisp code). Every other
/// SIGFPE (Lisp's own arithmetic, integer division, a `kill`) goes to the handler that was
/// there before (the Lisp's), as if this one were not installed.
#[cfg(all(target_arch = "x86_64", target_os = "linux"))]
mod trap {
    use std::ffi::{c_int, c_void};
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicBool, AtomicU8, AtomicUsize, Ordering};

    /// How to tell a Lisp thread from another: 1 SBCL (a thread-local `current_thread` at
    /// a fixed offset from the thread pointer), 2 ECL (`ecl_process_env_unsafe`).
    static PROBE: AtomicU8 = AtomicU8::new(0);
    static PROBE_ARG: AtomicUsize = AtomicUsize::new(0);
    static PREV_HANDLER: AtomicUsize = AtomicUsize::new(0);
    static PREV_SIGINFO: AtomicBool = AtomicBool::new(false);
    static INSTALL: Mutex<()> = Mutex::new(());

    use super::imp::{MXCSR_MASKS, X87_MASKS};
    /// x87 status word: exception flags, stack fault, error summary and busy bits.
    const X87_PENDING: u16 = 0x80FF;
    /// x87 status word: an unmasked exception is pending.
    const X87_ERROR_SUMMARY: u16 = 0x80;
    /// siginfo's codes of float faults (Linux: divide-by-zero .. subscript range).
    const FPE_FLTDIV: c_int = 3;
    const FPE_FLTSUB: c_int = 8;

    #[inline(always)]
    fn thread_pointer() -> usize {
        let tp: usize;
        unsafe {
            std::arch::asm!("mov {}, qword ptr fs:[0]", out(reg) tp, options(nostack, readonly, preserves_flags))
        };
        tp
    }

    /// Whether the calling thread is one of the Lisp's (async-signal-safe).
    fn lisp_thread() -> bool {
        let arg = PROBE_ARG.load(Ordering::Relaxed);
        match PROBE.load(Ordering::Relaxed) {
            1 => unsafe { *(thread_pointer().wrapping_add(arg) as *const usize) != 0 },
            2 => {
                let f: unsafe extern "C" fn() -> *mut c_void = unsafe { std::mem::transmute(arg) };
                !unsafe { f() }.is_null()
            }
            _ => true,
        }
    }

    /// Finds the probe for the running Lisp and checks it: true on the calling thread
    /// (a Lisp thread: `pmg_set_fp_switch` is called from Lisp), false on a new thread.
    fn find_probe() -> bool {
        unsafe extern "C" {
            fn dlsym(handle: *mut c_void, name: *const std::ffi::c_char) -> *mut c_void;
        }
        let sym = |name: &std::ffi::CStr| unsafe { dlsym(std::ptr::null_mut(), name.as_ptr()) } as usize;
        let (ecl, sbcl) = (sym(c"ecl_process_env_unsafe"), sym(c"current_thread"));
        let (kind, arg) = if ecl != 0 {
            (2, ecl)
        } else if sbcl != 0 && sym(c"create_main_lisp_thread") != 0 {
            (1, sbcl.wrapping_sub(thread_pointer()))
        } else {
            return false;
        };
        PROBE_ARG.store(arg, Ordering::Relaxed);
        PROBE.store(kind, Ordering::Relaxed);
        let other = std::thread::spawn(lisp_thread).join().unwrap_or(true);
        if lisp_thread() && !other {
            return true;
        }
        PROBE.store(0, Ordering::Relaxed);
        false
    }

    /// Installs the handler over the current one (kept, to pass it what is not Python's).
    /// Idempotent; false when the lazy switch cannot be used.
    pub(super) fn install() -> bool {
        let _g = INSTALL.lock().unwrap_or_else(|e| e.into_inner());
        if PROBE.load(Ordering::Relaxed) == 0 && !find_probe() {
            return false;
        }
        unsafe {
            let mut cur: libc::sigaction = std::mem::zeroed();
            if libc::sigaction(libc::SIGFPE, std::ptr::null(), &mut cur) != 0 {
                return false;
            }
            let ours = on_sigfpe as *const () as usize;
            if cur.sa_sigaction == ours {
                return true;
            }
            PREV_SIGINFO.store(cur.sa_flags & libc::SA_SIGINFO != 0, Ordering::Relaxed);
            PREV_HANDLER.store(cur.sa_sigaction, Ordering::Release);
            let mut new = cur;
            new.sa_sigaction = ours;
            new.sa_flags = (cur.sa_flags | libc::SA_SIGINFO) & !libc::SA_RESETHAND;
            libc::sigaction(libc::SIGFPE, &new, std::ptr::null_mut()) == 0
        }
    }

    unsafe extern "C" fn on_sigfpe(sig: c_int, info: *mut libc::siginfo_t, ctx: *mut c_void) {
        unsafe {
            let code = if info.is_null() { 0 } else { (*info).si_code };
            let float_fault = (FPE_FLTDIV..=FPE_FLTSUB).contains(&code);
            // (our thread-local is read only on Lisp threads, which have it already)
            let pythons = (float_fault || code <= 0) && (!lisp_thread() || crate::tls().fp_lazy.get() > 0);
            if pythons && code <= 0 {
                // a SIGFPE sent (`kill`, `raise`) while Python runs: Python's faulthandler
                // passes the fault on that way before it returns and the fault comes again
                // (to us then); it is not for the Lisp
                return;
            }
            if pythons && !ctx.is_null() {
                let fp = (*(ctx as *mut libc::ucontext_t)).uc_mcontext.fpregs;
                // (an SSE fault: MXCSR; an x87 one, pending in the status word: the x87
                // control word, which is left alone otherwise: ECL reloads MXCSR from it)
                let x87 = !fp.is_null() && (*fp).swd & X87_ERROR_SUMMARY != 0;
                if !fp.is_null() && ((*fp).mxcsr & MXCSR_MASKS != MXCSR_MASKS || x87) {
                    (*fp).mxcsr |= MXCSR_MASKS;
                    if x87 {
                        (*fp).cwd |= X87_MASKS;
                        (*fp).swd &= !X87_PENDING;
                    }
                    super::TRAPS.fetch_add(1, Ordering::Relaxed);
                    return;
                }
            }
            let h = PREV_HANDLER.load(Ordering::Acquire);
            if h == libc::SIG_DFL || h == libc::SIG_IGN {
                // as without us: the fault comes again and the default action ends the process
                let mut dfl: libc::sigaction = std::mem::zeroed();
                dfl.sa_sigaction = libc::SIG_DFL;
                libc::sigaction(libc::SIGFPE, &dfl, std::ptr::null_mut());
                if !float_fault && code <= 0 {
                    libc::raise(sig);
                }
            } else if PREV_SIGINFO.load(Ordering::Relaxed) {
                let f: unsafe extern "C" fn(c_int, *mut libc::siginfo_t, *mut c_void) = std::mem::transmute(h);
                f(sig, info, ctx);
            } else {
                let f: unsafe extern "C" fn(c_int) = std::mem::transmute(h);
                f(sig);
            }
        }
    }
}

#[cfg(not(all(target_arch = "x86_64", target_os = "linux")))]
mod trap {
    /// The lazy switch is x86-64 Linux only: elsewhere the eager one is used.
    pub(super) fn install() -> bool {
        false
    }
}
