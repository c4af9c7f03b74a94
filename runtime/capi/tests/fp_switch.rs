//! The per-call float switch outside a Lisp. The on-demand switch must tell the Lisp's
//! threads from others in its SIGFPE handler (SBCL's `current_thread`, ECL's
//! `ecl_process_env_unsafe`); a process with neither (this test) gets the every-call switch.
//! Its behaviour inside SBCL and ECL: runtime/lisp/tests/robustness.lisp (float-switch-*).

use pymodgen_capi::{pmg_fp_switch, pmg_fp_traps, pmg_set_fp_switch};

#[test]
fn on_demand_switch_needs_a_lisp() {
    assert_eq!(pmg_fp_switch(), 1, "every call, until a Lisp asks for on demand");
    assert_eq!(pmg_set_fp_switch(2), 1, "no Lisp threads to tell apart here");
    assert_eq!(pmg_fp_switch(), 1);
    assert_eq!(pmg_set_fp_switch(0), 0);
    assert_eq!(pmg_fp_switch(), 0);
    assert_eq!(pmg_set_fp_switch(7), 1, "an unknown mode is every call");
    assert_eq!(pmg_fp_traps(), 0);
}
