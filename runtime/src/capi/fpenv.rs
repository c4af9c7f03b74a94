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
//! `pmg_set_fp_switch(0)` turns the switch off, for the benchmark's same-run comparison
//! only (Python then runs with the caller's traps: unsafe).

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
        pub fn read() -> FpWords {
            FpWords(stmxcsr() as u64 | ((fnstcw() as u64) << 32))
        }

        #[inline(always)]
        fn mxcsr(self) -> u32 {
            self.0 as u32
        }

        #[inline(always)]
        fn cw(self) -> u16 {
            (self.0 >> 32) as u16
        }

        /// True when every trap is already masked (nothing to switch).
        #[inline(always)]
        pub fn masked(self) -> bool {
            self.mxcsr() & MXCSR_MASKS == MXCSR_MASKS && self.cw() & X87_MASKS == X87_MASKS
        }

        /// The caller's words with the x87 traps masked (what `restore` gives back).
        #[inline(always)]
        pub fn x87_masked(self) -> FpWords {
            FpWords(self.0 | ((X87_MASKS as u64) << 32))
        }

        /// Masks every trap (Python's environment), keeping rounding and flush modes;
        /// the sticky flags are cleared so Python (numpy's checks) starts clean.
        #[inline(always)]
        pub fn mask_all(self) {
            let m = self.mxcsr();
            if m & MXCSR_MASKS != MXCSR_MASKS {
                ldmxcsr((m | MXCSR_MASKS) & !MXCSR_FLAGS);
            }
            let cw = self.cw();
            if cw & X87_MASKS != X87_MASKS {
                fldcw(cw | X87_MASKS);
            }
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
        pub fn read() -> FpWords {
            FpWords(0)
        }
        #[inline(always)]
        pub fn masked(self) -> bool {
            true
        }
        #[inline(always)]
        pub fn x87_masked(self) -> FpWords {
            self
        }
        #[inline(always)]
        pub fn mask_all(self) {}
        #[inline(always)]
        pub fn restore(self) {}
    }
}

pub(super) use imp::FpWords;

use std::sync::atomic::{AtomicBool, Ordering};

static SWITCH: AtomicBool = AtomicBool::new(true);

/// Guard for one entry from Lisp into Python: masks all traps now, restores the caller's
/// floating-point words when dropped.
pub(super) struct PyFpEnv {
    saved: FpWords,
}

impl PyFpEnv {
    #[inline(always)]
    pub(super) fn enter() -> PyFpEnv {
        let read = FpWords::read();
        if !read.masked() && SWITCH.load(Ordering::Relaxed) {
            read.mask_all();
            return PyFpEnv { saved: read.x87_masked() };
        }
        PyFpEnv { saved: read }
    }

    /// The words of the code that entered (Lisp's, for callbacks).
    #[inline(always)]
    pub(super) fn saved(&self) -> FpWords {
        self.saved
    }
}

impl Drop for PyFpEnv {
    #[inline(always)]
    fn drop(&mut self) {
        self.saved.restore();
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
