//! The floating-point environment at the boundary between Lisp and Python.
//!
//! SBCL runs with the overflow, invalid and divide-by-zero traps enabled; CPython and C
//! extensions (numpy, yaml, numba ...) expect every trap masked and compute `inf`/`nan`
//! or raise `OverflowError` themselves. So every entry into Python through this ABI saves
//! the caller's SSE control/status register (MXCSR) and x87 control word, masks all
//! traps, and restores the caller's words before returning; a Python -> Lisp callback
//! puts the Lisp words back for the Lisp code and masks again when it returns. This is
//! done here, in the C ABI, so that it is the same for every Lisp implementation.
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
//! The per-scope switch (opt-in, Lisp's `with-python-float-environment`): on AMD an
//! `ldmxcsr` that changes a trap mask costs ~14 ns, so the pair costs ~28 ns per call,
//! which a hot loop of small calls may not want to pay. `pmg_fp_scope_enter` switches the
//! calling thread to Python's environment once and marks it (`Tls::fp_scope`): the calls
//! made inside skip the switch entirely (`with_gil_t`), Lisp callbacks still run in the
//! Lisp words saved at scope entry (`Tls::lisp_fp`, see `callbacks`), and
//! `pmg_fp_scope_exit` puts those words back. `pmg_fp_scope_suspend`/`_resume` give a Lisp
//! interrupt that lands inside a scope the Lisp words for its own code.

#[cfg(target_arch = "x86_64")]
mod imp {
    use std::arch::asm;

    /// MXCSR exception mask bits (IM DM ZM OM UM PM) and sticky exception flags.
    const MXCSR_MASKS: u32 = 0x1F80;
    const MXCSR_FLAGS: u32 = 0x3F;
    /// x87 control word exception mask bits.
    const X87_MASKS: u16 = 0x3F;

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
        pub fn mask_mxcsr(self) {}
        #[inline(always)]
        pub fn load_mxcsr(self) {}
        pub fn mask_x87() {}
        #[inline(always)]
        pub fn restore(self) {}
    }
}

pub(super) use imp::FpWords;

use std::sync::atomic::{AtomicBool, Ordering};

static SWITCH: AtomicBool = AtomicBool::new(true);

/// Guard for one entry from Lisp into Python: masks all traps now, restores the caller's
/// MXCSR control bits, flags cleared, when dropped. (The hot path: one `stmxcsr` and two
/// `ldmxcsr`, neither of which sets a flag.)
pub(super) struct PyFpEnv {
    saved: FpWords,
    changed: bool,
    /// false inside a per-scope switch: the drop does nothing
    active: bool,
}

impl PyFpEnv {
    #[inline(always)]
    pub(super) fn enter() -> PyFpEnv {
        let saved = FpWords::read_mxcsr();
        let changed = !saved.mxcsr_masked() && SWITCH.load(Ordering::Relaxed);
        if changed {
            saved.mask_mxcsr();
        }
        PyFpEnv { saved, changed, active: true }
    }

    /// Inside a per-scope switch (`pmg_fp_scope_enter`): Python's environment is already
    /// in force; nothing is read or written, now or when dropped. `saved` is the scope's
    /// Lisp words.
    #[inline(always)]
    pub(super) fn in_scope(lisp: FpWords) -> PyFpEnv {
        PyFpEnv { saved: lisp, changed: false, active: false }
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
        // (a caller with traps masked gets its control bits back too, without Python's flags)
        if self.changed || FpWords::read_mxcsr() != self.saved.without_flags() {
            self.saved.load_mxcsr();
        }
    }
}

/// Masks the x87 traps of the calling thread, once they are unmasked (first entry of a
/// thread, after a Lisp callback: SBCL's callback entry sets its own modes). They stay
/// masked: SBCL's Lisp code on x86-64 computes with SSE only.
#[inline]
pub(super) fn mask_x87() {
    if SWITCH.load(Ordering::Relaxed) {
        FpWords::mask_x87();
    }
}

/// Turns the switch into Python's floating-point environment off (0) or on (1, the
/// default). For benchmarks measuring its cost in one run; with it off, Python code runs
/// with the caller's traps (SBCL's: a float overflow in Python is then a crash).
#[unsafe(no_mangle)]
pub extern "C" fn pmg_set_fp_switch(on: std::ffi::c_int) {
    SWITCH.store(on != 0, Ordering::Relaxed);
}

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
    if prev.is_null() || super::dedicated::single() || !SWITCH.load(Ordering::Relaxed) {
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
