;;;; portability.lisp -- the one portability layer: what the runtime needs from the Lisp
;;;; implementation, and the parts of it built on that interface.
;;;;
;;;; Each implementation has one file, loaded before ffi.lisp (pymodgen.asd, :if-feature):
;;;; portability-sbcl.lisp, portability-ecl.lisp, and portability-generic.lisp for any other
;;;; (CCL-ready: what it still lacks is listed there and in runtime/lisp/README.md). No
;;;; other file of the runtime, of its tests or of generated code names an implementation.
;;;; Each file defines:
;;;;
;;;;   %WITHOUT-INTERRUPTS (&body)            defer Lisp interrupts (around every runtime call)
;;;;   +INLINE-FOREIGN-CALLS+                 whether DEFPMG declares its functions inline
;;;;   %WITH-PINNED ((&rest objects) &body)   keep OBJECTS alive and unmoved during BODY
;;;;   %POINTER (type), +POINTER-CLASS+       a foreign pointer; %POINTER-ADDRESS
;;;;   %VECTOR-POINTER, %VECTOR-ADDRESS       data of a specialized simple vector / string
;;;;   %VECTOR-LENGTH                         its length (in inline fast calls)
;;;;   %ARRAY-STORAGE                         the vector behind a simple array of any rank
;;;;   %MEM-REF, %POINTER-REF-8/16/32, %MEMCPY   raw memory (computed offsets)
;;;;   %FLOAT-NAN-P, %FLOAT-INFINITY-P, +DOUBLE-FLOAT-POSITIVE-INFINITY+ (and -NEGATIVE-,
;;;;   +SINGLE-FLOAT-...+)
;;;;   +CHEAP-COMPILE+                        whether COMPILE is fast (tests size themselves)
;;;;   %COMPILE-BINDINGS-FILE, +BINDINGS-FASL-TYPE+   DEFPYMODULE's compiled bindings
;;;;   +COMPILER-WARNS-ON-TYPE-CONFLICTS+     whether declared result types draw warnings
;;;;   %MAKE-SYNCHRONIZED-HASH-TABLE          a hash table safe for several threads
;;;;   %COUNTER-CELL (type), %ATOMIC-INCF-CAR
;;;;   %LOCALLY-MUFFLING-STYLE-WARNINGS       around top-level definitions
;;;;   %ARGLIST-DECLARATIONS, %ARGLIST-FORMS  the lambda list SLIME shows for a function
;;;;   %FUNCTION-LAMBDA-LIST, +DECLARED-ARGLISTS+   ... and reading it back
;;;;   %FOREIGN-THREAD-CALLBACK               a callback Python's own threads may call
;;;;   %CAPTURE-UNWIND (macro), %RESUME-UNWIND, %CALIBRATE-UNWIND   non-local exits (below)
;;;;   %THREAD-OS-ID, INSTALL-INTERRUPT-FORWARDING,                 interrupts into Python
;;;;   %CONTROL-STACK-LEFT                    bytes of this thread's stack left, or NIL
;;;;   +ALL-INTERRUPTS-FORWARDED+, *INTERRUPTS-IN-LISP-FLOAT-ENVIRONMENT* (whether its interrupt
;;;;   wrapper runs the interrupt through CALL-IN-LISP-FLOAT-ENVIRONMENT; NIL by default, below)
;;;;   +SAVED-IMAGES+, ADD-SAVE-HOOK, %SAVE-IMAGE-FORM              saved images
;;;;   %FLOAT-TRAPS, %SET-FLOAT-TRAPS, %GETPID,       for the tests
;;;;   %SEED-RANDOM-STATE, %INTERACTIVE-INTERRUPT (type), %REDEFINITION-WARNING-P,
;;;;   %LISP-COMMAND (a child Lisp of the same implementation)
;;;;
;;;; Optional: %OPEN-CODED-INVOKE ((args &key address cache path npath kwnames n-positional)
;;;; fallback), a Python call with a list of immediate arguments done as open-coded native
;;;; code (ECL: one C block, where the Lisp fast path costs a microsecond); FALLBACK's value
;;;; when an argument is not one it takes. Where a file does not define it, the default
;;;; below makes every call take the runtime's own Lisp path (+OPEN-CODED-CALLS+ NIL).
;;;;
;;;; Floating-point modes need nothing here: the C ABI switches to Python's environment
;;;; (all traps masked) at every entry and back to the caller's (capi/fpenv.rs), whatever
;;;; the Lisp keeps there (SBCL's modes, ECL's EXT:TRAP-FPE settings); inside
;;;; WITH-PYTHON-FLOAT-ENVIRONMENT (core.lisp) once per scope.
;;;; Finalizers (trivial-garbage) and threads (bordeaux-threads) are portable libraries.

(in-package #:pymodgen)

(defvar *interrupts-in-lisp-float-environment* nil
  "T where the implementation's interrupt wrapper (INSTALL-INTERRUPT-FORWARDING) runs each
interrupt with Lisp's float modes inside WITH-PYTHON-FLOAT-ENVIRONMENT (the implementation
file, loaded first, sets it).")

;;; ------------------------------------------------------------------------------------
;;; Open-coded calls (optional; see above)

(eval-when (:compile-toplevel :load-toplevel :execute)
  (defparameter +open-coded-calls+ (and (macro-function '%open-coded-invoke) t)
    "Whether the implementation's file open-codes calls (%OPEN-CODED-INVOKE).")
  (unless +open-coded-calls+
    (setf (macro-function '%open-coded-invoke)
          (lambda (form env)
            (declare (ignore env))
            (destructuring-bind (spec fallback) (rest form)
              (declare (ignore spec))
              fallback)))))

;;; ------------------------------------------------------------------------------------
;;; Non-local exits through Python frames
;;;
;;; A Lisp unwind (throw, return-from, go, a handler-case or restart outside, ABORT in the
;;; debugger) out of a Python -> Lisp callback must not skip CPython's C frames: Python's
;;; frames, reference counts and thread state would be left inconsistent. So the unwind
;;; is STOPPED at the callback boundary (CALL-WITH-UNWIND-BARRIER), the callback returns
;;; NULL with a pymodgen.LispUnwind exception so that Python unwinds its own frames, and
;;; when control is back in the Lisp frame that made the Python call (its call fails with
;;; that type: SIGNAL-LAST-ERROR), the SAME unwind is resumed to its original target
;;; (RESUME-PENDING-UNWIND), with its values. How an unwind's target and values are found
;;; and how it is restarted is the implementation's (%CAPTURE-UNWIND, %RESUME-UNWIND).

(defvar *pending-unwinds* (%make-synchronized-hash-table :test #'eq)
  "thread -> list of captured unwinds (innermost first) stopped at a callback boundary.")

(defun push-pending-unwind (record)
  (push record (gethash (bt:current-thread) *pending-unwinds*)))

(defun pop-pending-unwind ()
  (let* ((thread (bt:current-thread))
         (record (pop (gethash thread *pending-unwinds*))))
    (unless (gethash thread *pending-unwinds*) (remhash thread *pending-unwinds*))
    record))

(defun call-with-unwind-barrier (thunk on-unwind)
  "Calls THUNK. A non-local exit out of it is stopped here and recorded for
RESUME-PENDING-UNWIND; the value of ON-UNWIND (called then) is returned instead."
  (declare (function thunk on-unwind))
  (block barrier
    (let ((done nil))
      (unwind-protect (multiple-value-prog1 (funcall thunk) (setf done t))
        (unless done
          (push-pending-unwind (%capture-unwind))
          (return-from barrier (funcall on-unwind)))))))

(defun resume-pending-unwind ()
  "Resumes the non-local exit most recently stopped at a callback boundary on this
thread (the Python frames in between have been unwound). Does not return."
  (let ((record (pop-pending-unwind)))
    (when (consp record) (%resume-unwind record))
    (error "pymodgen: a non-local exit (throw, return-from, a handler or restart outside)
left a Lisp callback called from Python; Python's frames were unwound, but this Lisp
implementation cannot resume the exit to its target.")))

(%calibrate-unwind
 (catch 'probe
   (call-with-unwind-barrier (lambda () (throw 'probe nil))
                             (lambda () (pop-pending-unwind)))))

;;; ------------------------------------------------------------------------------------
;;; Interrupts

(defvar *call-mode*)                    ; (src/call-mode.lisp)

(defun call-with-interrupt-forwarding (thread interrupt)
  "Calls INTERRUPT (which queues a Lisp interrupt for THREAD, e.g. the implementation's
INTERRUPT-THREAD) and asks Python to end the call THREAD is executing, in the order the
call mode needs. Multi-threaded: Python first (the interrupt's signal then wakes a blocking
call on THREAD, e.g. a sleep, which sees Python's request). Single-threaded: the Lisp
interrupt first, so that it is pending when the call, run and woken on the dedicated thread,
returns at once."
  (declare (function interrupt))
  (if (and (boundp '*call-mode*) (eq *call-mode* :single-threaded))
      (multiple-value-prog1 (funcall interrupt)
        (ignore-errors (forward-interrupt thread)))
      (progn (ignore-errors (forward-interrupt thread))
             (funcall interrupt))))

(defun forward-interrupt (thread)
  "If THREAD is executing Python, asks Python to raise KeyboardInterrupt in it (the Lisp
interrupt itself runs when the Python call has returned)."
  (when *alive*
    (let ((id (%thread-os-id thread)))
      (when id (pmg-interrupt-thread id)))))
