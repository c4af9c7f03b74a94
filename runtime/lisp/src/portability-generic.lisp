;;;; portability-generic.lisp -- the portability interface (see portability.lisp) for a
;;;; Lisp without its own file (CCL today: not packaged for Debian here, so untried).
;;;;
;;;; Portable where portable code can do it; a clear error where it cannot. What a port
;;;; (portability-ccl.lisp, with :if-feature :ccl in pymodgen.asd) has to provide:
;;;;   - %WITH-PINNED / %VECTOR-POINTER / %VECTOR-ADDRESS: CCL's GC moves objects; its
;;;;     CCL:WITH-POINTER-TO-IVECTOR pins a vector and gives its data pointer (strings are
;;;;     UCS-4 there, as on SBCL and ECL). Until then, strings and arrays are refused here.
;;;;   - %WITHOUT-INTERRUPTS: CCL:WITHOUT-INTERRUPTS.
;;;;   - %CAPTURE-UNWIND / %RESUME-UNWIND: CCL runs unwind-protect cleanups from its own
;;;;     unwinder (no longjmp); how to read an unwind's target from a cleanup is to be
;;;;     found. Until then an exit out of a Python callback stops at the callback and the
;;;;     Lisp caller gets a clear error (Python stays consistent).
;;;;   - %THREAD-OS-ID (CCL::TCR-NATIVE-THREAD-ID or the thread's pthread), interrupt
;;;;     forwarding around CCL:PROCESS-INTERRUPT, ADD-SAVE-HOOK (CCL:*SAVE-EXIT-FUNCTIONS*).

(in-package #:pymodgen)

(defvar *alive*)                        ; (core.lisp)

(defun unsupported (what)
  (error "pymodgen: ~A is not supported on ~A ~A yet (see src/portability-generic.lisp)"
         what (lisp-implementation-type) (lisp-implementation-version)))

(defmacro %without-interrupts (&body body) `(progn ,@body))
(defconstant +inline-foreign-calls+ t)
(defmacro %with-pinned ((&rest objects) &body body) `(progn ,@objects ,@body))
(deftype %pointer () 'cffi:foreign-pointer)
(eval-when (:compile-toplevel :load-toplevel :execute)
  (defparameter +pointer-class+ (class-name (class-of (cffi:null-pointer)))))
(defmacro %pointer-address (pointer) `(cffi:pointer-address ,pointer))
(defmacro %vector-pointer (vector) `(progn ,vector (unsupported "passing Lisp vectors by reference")))
(defmacro %vector-address (vector) `(progn ,vector (unsupported "passing Lisp strings in place")))
(defmacro %array-storage (array) array)
(defmacro %vector-length (vector) `(length ,vector))
(defmacro %memcpy (destination source n)
  `(cffi:foreign-funcall "memcpy" :pointer ,destination :pointer ,source :size ,n :pointer))
(defmacro %mem-ref (pointer type offset) `(cffi:mem-ref ,pointer ,type ,offset))
(defmacro %pointer-ref-8 (pointer offset) `(cffi:mem-ref ,pointer :uint8 ,offset))
(defmacro %pointer-ref-16 (pointer offset) `(cffi:mem-ref ,pointer :uint16 ,offset))
(defmacro %pointer-ref-32 (pointer offset) `(cffi:mem-ref ,pointer :uint32 ,offset))

(defun %float-nan-p (x) (and (floatp x) (/= x x)))
(defun %float-infinity-p (x) (and (floatp x) (= x x) (> (abs x) most-positive-double-float)))
;; no portable infinity literal: made by arithmetic where the implementation allows it
(defconstant +double-float-positive-infinity+
  (ignore-errors (* 2 most-positive-double-float)))
(defconstant +double-float-negative-infinity+
  (ignore-errors (* -2 most-positive-double-float)))
(defconstant +single-float-positive-infinity+
  (ignore-errors (* 2 most-positive-single-float)))
(defconstant +single-float-negative-infinity+
  (ignore-errors (* -2 most-positive-single-float)))
(defconstant +cheap-compile+ t)

(defparameter +bindings-fasl-type+ (pathname-type (compile-file-pathname "x.lisp")))
(defun %compile-bindings-file (source output)
  (compile-file source :output-file output :verbose nil :print nil))

(defconstant +compiler-warns-on-type-conflicts+ nil)

(defmacro %make-synchronized-hash-table (&rest args) `(make-hash-table ,@args))
(deftype %counter-cell () '(cons integer t))
(defvar *counter-lock* (bt:make-lock "pymodgen counter"))
(defmacro %atomic-incf-car (cell)
  `(bt:with-lock-held (*counter-lock*) (prog1 (car ,cell) (incf (car ,cell)))))
(defmacro %locally-muffling-style-warnings (&body body) `(progn ,@body))
(eval-when (:compile-toplevel :load-toplevel :execute)
  (defun %arglist-declarations (arglist) (declare (ignore arglist)) nil)
  (defun %arglist-forms (name arglist) (declare (ignore name arglist)) nil))
(defconstant +declared-arglists+ nil)
(defun %function-lambda-list (function) (declare (ignore function)) (unsupported "reading lambda lists"))

(defun %foreign-thread-callback (pointer) pointer)
(defmacro %capture-unwind () :unknown)
(defun %resume-unwind (record) (declare (ignore record)) nil)
(defun %calibrate-unwind (probe) (declare (ignore probe)) nil)

(defun %thread-os-id (thread) (declare (ignore thread)) nil)
(defun install-interrupt-forwarding () nil)
(defconstant +all-interrupts-forwarded+ nil)
(defconstant +saved-images+ nil)
(defun add-save-hook (function) (declare (ignore function)) nil)
(defun %save-image-form (core) (declare (ignore core)) (unsupported "saving images"))

(defun %float-traps () (unsupported "reading float traps"))
(defun %set-float-traps (traps) (declare (ignore traps)) (unsupported "setting float traps"))
(defun %getpid () (unsupported "getpid"))
(defun %seed-random-state (seed)
  (make-random-state (if (integerp seed) t (progn seed t))))
(define-condition %interactive-interrupt (condition) ())
(defun %redefinition-warning-p (condition) (declare (ignore condition)) nil)
(defun %lisp-command (evals &key core)
  (declare (ignore evals core))
  (unsupported "starting a child Lisp"))

(defun %control-stack-left ()
  "Bytes of this thread's control stack left and its size, or NIL: not known here."
  nil)
