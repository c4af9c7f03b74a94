;;;; portability-sbcl.lisp -- the portability interface (see portability.lisp) for SBCL.
;;;; Every form here expands to exactly what the runtime used before it was made portable,
;;;; so SBCL's hot paths compile to the same code.

(in-package #:pymodgen)

(defvar *alive*)                        ; (core.lisp)

;;; ------------------------------------------------------------------------------------
;;; Foreign calls, pinning, raw memory

(defmacro %without-interrupts (&body body)
  "BODY with Lisp interrupts deferred until it returns (around every runtime call)."
  `(sb-sys:without-interrupts ,@body))

(defconstant +inline-foreign-calls+ t
  "T when the runtime's foreign functions are declared inline (see DEFPMG).")

(defmacro %with-pinned ((&rest objects) &body body)
  "BODY with OBJECTS kept alive and unmoved (their data is read in place by the runtime)."
  `(sb-sys:with-pinned-objects ,objects ,@body))

(deftype %pointer () "A foreign pointer." 'sb-sys:system-area-pointer)
(eval-when (:compile-toplevel :load-toplevel :execute)
  (defparameter +pointer-class+ 'sb-sys:system-area-pointer "The class of %POINTER."))
(defmacro %pointer-address (pointer) "The address of POINTER." `(sb-sys:sap-int ,pointer))

(defmacro %vector-pointer (vector)
  "A foreign pointer to the first element of the specialized simple VECTOR (a string
too). Valid while VECTOR is pinned (%WITH-PINNED)."
  `(sb-sys:vector-sap ,vector))

(defmacro %vector-address (vector)
  "The address (an integer) of the first element of VECTOR (see %VECTOR-POINTER)."
  `(sb-sys:sap-int (sb-sys:vector-sap ,vector)))

(defmacro %vector-length (vector) "LENGTH of VECTOR." `(length ,vector))

(defmacro %array-storage (array)
  "The vector holding the elements of the specialized simple ARRAY (any rank) in
row-major order: what %VECTOR-POINTER takes."
  `(sb-ext:array-storage-vector ,array))

(defmacro %memcpy (destination source n)
  "memcpy(3) between foreign pointers."
  `(cffi:foreign-funcall "memcpy" :pointer ,destination :pointer ,source :size ,n :pointer))

(defmacro %mem-ref (pointer type offset)
  "CFFI:MEM-REF (SETF-able) of a constant TYPE at a computed OFFSET, open-coded."
  `(cffi:mem-ref ,pointer ,type ,offset))

(defmacro %pointer-ref-8 (pointer offset) `(sb-sys:sap-ref-8 ,pointer ,offset))
(defmacro %pointer-ref-16 (pointer offset) `(sb-sys:sap-ref-16 ,pointer ,offset))
(defmacro %pointer-ref-32 (pointer offset) `(sb-sys:sap-ref-32 ,pointer ,offset))

;;; ------------------------------------------------------------------------------------
;;; Numbers, tables, atomics, declarations

(declaim (inline %float-nan-p %float-infinity-p))
(defun %float-nan-p (x) (sb-ext:float-nan-p x))
(defun %float-infinity-p (x) (sb-ext:float-infinity-p x))

;; (DEFCONSTANT: the same object at each load, EQL to the implementation's own)
(defconstant +double-float-positive-infinity+ sb-ext:double-float-positive-infinity)
(defconstant +double-float-negative-infinity+ sb-ext:double-float-negative-infinity)
(defconstant +single-float-positive-infinity+ sb-ext:single-float-positive-infinity)
(defconstant +single-float-negative-infinity+ sb-ext:single-float-negative-infinity)

(defconstant +cheap-compile+ t "T: COMPILE is cheap (native code in memory, ~1 ms).")

(defparameter +bindings-fasl-type+ "fasl" "The file type of %COMPILE-BINDINGS-FILE's output.")

(defun %compile-bindings-file (source output)
  "Compiles the generated bindings file SOURCE into OUTPUT (DEFPYMODULE's cache); true on
success."
  (compile-file source :output-file output :verbose nil :print nil))

(defconstant +compiler-warns-on-type-conflicts+ t "T: the compiler warns when it proves a value of the wrong type (a declared result type used as a number).")

(defmacro %make-synchronized-hash-table (&rest args)
  "MAKE-HASH-TABLE with ARGS, safe for concurrent use by several threads."
  `(make-hash-table ,@args :synchronized t))

(deftype %counter-cell () "A cons whose car %ATOMIC-INCF-CAR increments." '(cons sb-ext:word t))

(defmacro %atomic-incf-car (cell)
  "Atomically increments (CAR CELL) (a %COUNTER-CELL); returns the old value."
  `(sb-ext:atomic-incf (car ,cell)))

(defmacro %locally-muffling-style-warnings (&body body)
  "BODY (top-level forms stay top level) with style-warnings muffled at compile time."
  `(locally (declare (sb-ext:muffle-conditions style-warning)) ,@body))

(eval-when (:compile-toplevel :load-toplevel :execute)
  (defun %arglist-declarations (arglist)
    "Declarations for a DEFUN body that make the development environment (SLIME, SLY,
DESCRIBE) show ARGLIST for the function."
    `((declare (sb-c::lambda-list ,arglist))))

  (defun %arglist-forms (name arglist)
    "Top-level forms, after the DEFUN of NAME, that do what %ARGLIST-DECLARATIONS does
where a declaration cannot."
    (declare (ignore name arglist))
    nil))

(defconstant +declared-arglists+ t
  "T: a lambda list declared for display (%ARGLIST-DECLARATIONS) is what SLIME shows.")

(defun %function-lambda-list (function)
  "The lambda list the development environment shows for FUNCTION (a symbol or function)."
  (require :sb-introspect)
  (uiop:symbol-call :sb-introspect :function-lambda-list function))

;;; ------------------------------------------------------------------------------------
;;; Callbacks on threads Python started

(defun %foreign-thread-callback (pointer)
  "The callback POINTER, callable from any thread: SBCL's callbacks already are."
  pointer)

;;; ------------------------------------------------------------------------------------
;;; Non-local exits through Python frames (the protocol: portability.lisp)
;;;
;;; SBCL (x86-64): an unwind runs each unwind-protect cleanup by a call from its UNWIND
;;; assembly routine, which first pushes the target block, the values' start and count
;;; (see src/assembly/x86-64/assem-rtns.lisp, UNWIND, and the UWP-ENTRY-BLOCK vop, which
;;; reads the block at [rsp+24]). The cleanup of the barrier finds that return address
;;; above its stack pointer, copies block/start/count and the values (they lie on the
;;; stack about to be reused), and later the calling frame re-enters the same routine
;;; with SB-C:%UNWIND. The target block lies in an older frame than the resuming one, so
;;; it is still valid. Where the words cannot be found or checked (an unknown layout),
;;; the resume signals a clear error instead.

#+x86-64
(progn
  (defvar *unwind-routine* (sb-fasl::get-asm-routine 'sb-vm::unwind)
    "Address of SBCL's UNWIND assembly routine.")
  (defvar *unwind-return* nil
    "The return address UNWIND pushes when it calls a cleanup (found at load time).")

  (declaim (inline stack-word))
  (defun stack-word (address offset)
    (sb-sys:sap-ref-word (sb-sys:int-sap address) offset))

  (defvar *unwind-offset* nil
    "Where that return address lies above the stack pointer of the barrier's cleanup
(a constant of CALL-WITH-UNWIND-BARRIER's compiled frame, found at load time).")

  (defun find-unwind-frame (sp)
    "The stack address of the return address that UNWIND pushed when calling the
cleanup that is running now, or NIL. SP is the stack pointer the barrier's cleanup had.
Once calibrated, only the one word at the known offset is accepted: stale copies of that
address, left in dead stack memory by earlier unwinds, are never taken for it."
    (when sp
      (if *unwind-offset*
          (let ((a (+ sp *unwind-offset*)))
            (when (= (stack-word a 0) *unwind-return*) a))
          (loop for a from sp by sb-vm:n-word-bytes repeat 64
                for w = (stack-word a 0)
                when (< *unwind-routine* w (+ *unwind-routine* 512))
                  return a))))

  (defun control-stack-end ()
    (ash sb-vm:*control-stack-end* sb-vm:n-fixnum-tag-bits))

  (defun capture-unwind (sp)
    "Called from a cleanup run by an unwind, with that cleanup's stack pointer: a record
of the unwind's target and values, or :UNKNOWN."
    (let ((a (find-unwind-frame sp)))
      (if (null a)
          :unknown
          (let* ((ra (stack-word a 0))
                 (count (stack-word a 8))
                 (start (stack-word a 16))
                 (block (stack-word a 24))
                 (n (ash count (- sb-vm:n-fixnum-tag-bits)))
                 (end (control-stack-end))
                 ;; The senders' conventions: THROW and multiple-value exits pass START
                 ;; pointing just above COUNT values on the stack (value i at START -
                 ;; 8(i+1)); a one-value RETURN-FROM passes the value itself as START; GO
                 ;; passes 0. The values are copied now: that stack is about to be reused.
                 (values-p (and (zerop (logand start (1- sb-vm:n-word-bytes)))
                                (< a start end)
                                (zerop (logand count sb-vm:fixnum-tag-mask))
                                (<= 0 n 100000))))
            (if (and (< a block end) (zerop (logand block (1- sb-vm:n-word-bytes))))
                (list ra block
                      (if values-p :values (list (sb-kernel:%make-lisp-obj start)))
                      (if values-p
                          (loop for i below n
                                collect (sb-kernel:%make-lisp-obj
                                         (stack-word start (* -8 (1+ i)))))
                          count)
                      (- a sp))
                :unknown)))))

  (defun %resume-unwind (record)
    (destructuring-bind (ra block kind values offset) record
      (declare (ignore ra offset))
      (let ((sp (sb-sys:sap-int (sb-vm::current-sp))))
        (unless (< sp block (control-stack-end))
          (error "pymodgen: the target of a non-local exit out of a Python callback is no
longer on the stack; it cannot be resumed")))
      (if (eq kind :values)
          (let* ((n (length values))
                 (small (make-array 64))
                 (v (if (<= n 64) small (make-array n))))
            (declare (dynamic-extent small))
            ;; value i at START - 8(i+1): the same layout as values pushed by THROW
            (loop for x in values for i from 0 do (setf (svref v (- n 1 i)) x))
            (sb-sys:with-pinned-objects (v)
              (let ((start (+ (logandc2 (sb-kernel:get-lisp-obj-address v) sb-vm:lowtag-mask)
                              (* sb-vm:n-word-bytes sb-vm:vector-data-offset)
                              (* sb-vm:n-word-bytes n))))
                (sb-c:%unwind (ash block (- sb-vm:n-fixnum-tag-bits))
                              (ash start (- sb-vm:n-fixnum-tag-bits))
                              n))))
          (sb-c:%unwind (ash block (- sb-vm:n-fixnum-tag-bits))
                        (car kind)
                        (sb-kernel:%make-lisp-obj values))))))


#-x86-64
(progn
  (defun capture-unwind (sp) (declare (ignore sp)) :unknown)
  (defun %resume-unwind (record) (declare (ignore record)) nil))

(defmacro %capture-unwind ()
  "In the cleanup of the callback barrier, run by an unwind: a record of the unwind's
target and values for %RESUME-UNWIND, or :UNKNOWN."
  #+x86-64 '(capture-unwind (sb-sys:sap-int (sb-vm::current-sp)))
  #-x86-64 :unknown)

(defun %calibrate-unwind (probe)
  "Called once at load time with the record of a THROW stopped by the barrier: learns the
exact return address UNWIND pushes, so that later scans match exactly."
  #+x86-64
  (when (consp probe)
    (setf *unwind-return* (first probe)
          *unwind-offset* (fifth probe)))
  #-x86-64 (declare (ignore probe)))

;;; ------------------------------------------------------------------------------------
;;; Threads and interrupts

(defun %thread-os-id (thread)
  "The OS thread (pthread_t) of the Lisp THREAD, as an integer."
  (sb-thread::thread-os-thread thread))

(defvar *signal-relay* nil
  "A Lisp thread that only waits: C-c, timer signals (WITH-TIMEOUT) and SIGTERM that land
on a thread executing Python are passed to it by the runtime, so their Lisp handlers run at
once (see capi/interrupts.rs).")

(defun stop-signal-relay ()
  "Before saving an image (only one thread may run then)."
  (let ((relay *signal-relay*))
    (setf *signal-relay* nil)
    (when (and relay (sb-thread:thread-alive-p relay))
      (sb-thread:terminate-thread relay)
      (ignore-errors (sb-thread:join-thread relay :default nil :timeout 5)))))

(defvar *interrupts-in-lisp-float-environment* t
  "T: INTERRUPT-THREAD's functions run with Lisp's float modes inside
WITH-PYTHON-FLOAT-ENVIRONMENT (INSTALL-INTERRUPT-FORWARDING).")

(defconstant +all-interrupts-forwarded+ t
  "T: every interrupt (INTERRUPT-THREAD, WITH-TIMEOUT, C-c, SIGTERM) is forwarded into Python.")

(defun install-interrupt-forwarding ()
  "Makes INTERRUPT-THREAD (so WITH-TIMEOUT and SLIME's interrupts too), C-c and SIGTERM
end a long Python call in the target thread with KeyboardInterrupt instead of waiting for
it; the Lisp interrupt then runs as soon as the call has returned. Called by PYSTART."
  (unless (sb-int:encapsulated-p 'sb-thread:interrupt-thread 'pymodgen)
    (sb-int:encapsulate 'sb-thread:interrupt-thread 'pymodgen
                        (lambda (f thread function)
                          ;; (the interrupt's own code runs with Lisp's float modes, also
                          ;; inside WITH-PYTHON-FLOAT-ENVIRONMENT)
                          (call-with-interrupt-forwarding
                           thread (lambda ()
                                    (funcall f thread
                                             (lambda () (call-in-lisp-float-environment function))))))))
  (unless (and *signal-relay* (sb-thread:thread-alive-p *signal-relay*))
    (setf *signal-relay*
          (sb-thread:make-thread (lambda () (loop (sleep 3600)))
                                 :name "pymodgen signal relay"))
    (pmg-set-signal-relay (sb-thread::thread-os-thread *signal-relay*))))

;;; ------------------------------------------------------------------------------------
;;; Saved images

(defconstant +saved-images+ t "T where the Lisp can save an image (SAVE-LISP-AND-DIE).")

(defun %save-image-form (core)
  "The text of a form that saves the Lisp image to the file CORE and exits."
  (format nil "(sb-ext:save-lisp-and-die ~S)" core))

(defun add-save-hook (function)
  "Calls FUNCTION (a symbol) before the Lisp image is saved."
  (pushnew function sb-ext:*save-hooks*))

(add-save-hook 'stop-signal-relay)

;;; ------------------------------------------------------------------------------------
;;; For the tests (and tools): the same operations on every implementation

(defun %float-traps ()
  "The floating-point traps enabled in this thread: a list of :OVERFLOW :INVALID
:DIVIDE-BY-ZERO :UNDERFLOW :INEXACT."
  (getf (sb-int:get-floating-point-modes) :traps))

(defun %set-float-traps (traps)
  "Enables exactly TRAPS (as %FLOAT-TRAPS lists them) in this thread."
  (sb-int:set-floating-point-modes :traps traps))

(defun %getpid () (sb-unix:unix-getpid))
(defun %seed-random-state (seed)
  "A random state made from SEED (an integer or a vector of (unsigned-byte 32))."
  (sb-ext:seed-random-state seed))

(deftype %interactive-interrupt () "The condition C-c signals." 'sb-sys:interactive-interrupt)

(defun %redefinition-warning-p (condition)
  "True when CONDITION only says that a definition replaced an earlier one."
  (typep condition 'sb-kernel:redefinition-warning))

(defun %lisp-command (evals &key core)
  "The command line (a list of strings) that runs this Lisp non-interactively, evaluates
the strings EVALS in order (with CORE: from that saved image) and exits: 0 at the end, non-zero
on an unhandled error."
  (append (list "sbcl")
          (when core (list "--core" core))
          (list "--noinform" "--non-interactive" "--disable-debugger")
          (loop for e in evals append (list "--eval" e))))

;;; (callbacks refuse to nest deeper when it runs low: SBCL reports an exhausted control
;;; stack safely only in Lisp code, not when C code, Python's, hits the guard page)
(defun %control-stack-left ()
  "Bytes of this thread's control stack left below the stack pointer (C code, Python's
included, runs on it too) and the stack's size; NIL where that is not known."
  #+(or x86-64 arm64)
  (let ((sp (sb-sys:sap-int (sb-vm::current-sp)))
        (start (ash sb-vm:*control-stack-start* sb-vm:n-fixnum-tag-bits))
        (end (ash sb-vm:*control-stack-end* sb-vm:n-fixnum-tag-bits)))
    (if (< start sp end) (values (- sp start) (- end start)) nil))
  #-(or x86-64 arm64) nil)
