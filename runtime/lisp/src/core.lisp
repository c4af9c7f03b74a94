;;;; core.lisp -- conditions, the GIL scope, starting and stopping Python.

(in-package #:pymodgen)

;;; ------------------------------------------------------------------------------------
;;; Conditions

(define-condition pyerror (error)
  ((type :initarg :type :initform "Exception" :reader pyerror-type
         :documentation "The Python exception type name, e.g. \"ZeroDivisionError\"
(qualified with its module unless it is a builtin, e.g. \"json.decoder.JSONDecodeError\").")
   (message :initarg :message :initform "" :reader pyerror-message
            :documentation "str() of the Python exception.")
   (traceback :initarg :traceback :initform "" :reader pyerror-traceback
              :documentation "The formatted Python traceback (may be empty)."))
  (:report (lambda (c s)
             (format s "Python ~A: ~A" (pyerror-type c) (pyerror-message c))
             (let ((tb (pyerror-traceback c)))
               (when (and tb (plusp (length tb)))
                 (format s "~%~A" (string-right-trim '(#\Newline) tb))))))
  (:documentation "A Python exception (or a runtime error reported the same way: bad
pointers, calls while Python is stopped), signalled in Lisp. Never a crash."))

(define-condition simple-pyerror (pyerror) ()
  (:documentation "The PYERROR signalled for a Python exception (py4cl2-cffi's name)."))

(define-condition python-not-alive-error (pyerror) ()
  (:documentation "A call was made while Python is not running."))

(define-condition python-stale-object-error (pyerror) ()
  (:default-initargs :type "StaleObject")
  (:documentation "A Python object (wrapper) from an earlier Python session -- another
process, i.e. one from before the Lisp image was saved -- was used."))

(defun error-part (i)
  (let ((p (pmg-error-part i)))
    (if (cffi:null-pointer-p p) "" (cffi:foreign-string-to-lisp p))))

(defvar *callback-conditions* (%make-synchronized-hash-table)
  "id -> Lisp condition signalled inside a Python -> Lisp callback.")
(defvar *callback-condition-counter* (list 0))
(declaim (type %counter-cell *callback-condition-counter*))
(defun remember-callback-condition (condition)
  "Stores CONDITION; its id goes into the Python exception's message."
  (let ((id (%atomic-incf-car *callback-condition-counter*)))
    (when (> (hash-table-count *callback-conditions*) 1000)
      (clrhash *callback-conditions*))      ; exceptions Python swallowed
    (setf (gethash id *callback-conditions*) condition)
    id))

(defun callback-condition (type message)
  "The Lisp condition behind a Python RuntimeError raised by a Lisp callback, if any."
  (when (and (string= type "RuntimeError") (eql 0 (search "Lisp error " message)))
    (let* ((end (position #\: message))
           (id (and end (parse-integer message :start 11 :end end :junk-allowed t))))
      (when id
        (prog1 (gethash id *callback-conditions*)
          (remhash id *callback-conditions*))))))

(declaim (ftype (function (string) (values symbol &optional)) %python-condition-class))

(defun signal-last-error ()
  "Signals the calling thread's last runtime error as a PYERROR, or, when the Python
exception came from a Lisp error inside a callback, that Lisp condition itself."
  (let ((type (error-part 0)) (message (error-part 1)) (traceback (error-part 2))
        (mro (error-part 3)))
    (pmg-error-clear)
    (when (string= type "pymodgen.LispUnwind")
      ;; a non-local exit out of a callback inside this call: Python has unwound, the
      ;; exit goes on to its target
      (resume-pending-unwind))
    (let ((c (callback-condition type message)))
      (when c (error c)))
    (error (cond ((string= type "PythonNotAlive") 'python-not-alive-error)
                 ;; the condition class of the exception's type (conditions.lisp)
                 (t (%python-condition-class (if (string= mro "") type mro))))
           :type (if (string= type "") "UnknownError" type)
           :message message :traceback traceback)))

(defvar *conversion-depth* 0)
(defconstant +max-conversion-depth+ 1000
  "Containers nested deeper than this are refused, as Python's own recursion limit would: a
Lisp condition instead of a stack overflow inside foreign code.")

(defun %brief (object)
  "OBJECT printed in a few dozen characters at most, circular structure included."
  (let ((*print-circle* t) (*print-length* 4) (*print-level* 3) (*print-lines* nil)
        (*print-readably* nil) (*print-pretty* nil))
    (let ((text (handler-case (prin1-to-string object)
                  (error () (format nil "#<~S>" (type-of object))))))
      (if (> (length text) 80) (concatenate 'string (subseq text 0 77) "...") text))))

(define-condition python-conversion-error (error)
  ((object :initarg :object :reader python-conversion-error-object
           :documentation "The value that could not be converted.")
   (reason :initarg :reason :reader python-conversion-error-reason
           :documentation "Why, in words (\"a dotted list\", \"nested more than ... deep\")."))
  (:report (lambda (c s)
             (format s "pymodgen: cannot convert ~A to Python: ~A"
                     (%brief (python-conversion-error-object c))
                     (python-conversion-error-reason c))))
  (:documentation "A Lisp value that has no Python counterpart: a dotted list, containers
nested more than +MAX-CONVERSION-DEPTH+ deep, or circular structure (see
CIRCULAR-STRUCTURE-ERROR). Converting Python values to Lisp signals it too, for Python
containers nested too deep or that contain themselves (the object is then a wrapper)."))

(define-condition circular-structure-error (python-conversion-error) ()
  (:documentation "A Lisp container that contains itself (a list whose tail comes back to an
earlier cons, a list, vector or hash table that is its own element, key or value at any
depth): Python has no tuple that contains itself, and copying it would never end."))

(define-condition pymodgen-type-error (type-error)
  ((function :initarg :function :initform nil :reader pymodgen-type-error-function
             :documentation "The runtime entry that got the argument (a symbol: PYCALL), or NIL.")
   (accepts :initarg :accepts :reader pymodgen-type-error-accepts
            :documentation "What the entry accepts, in words."))
  (:report (lambda (c s)
             (format s "pymodgen: ~@[~(~A~): ~]~A is not ~A"
                     (pymodgen-type-error-function c) (%brief (type-error-datum c))
                     (pymodgen-type-error-accepts c))))
  (:documentation "An argument of a runtime entry (PYCALL, PYVALUE, DEFPYMODULE ...) of a type
it does not take; the message says what it accepts. A TYPE-ERROR (DATUM, EXPECTED-TYPE)."))

(defun %bad-argument (function datum expected-type accepts)
  "Signals a PYMODGEN-TYPE-ERROR: FUNCTION (a symbol, or NIL) got DATUM, not of
EXPECTED-TYPE; ACCEPTS says in words what it takes."
  (error 'pymodgen-type-error :function function :datum datum :expected-type expected-type
                              :accepts accepts))

(defmacro %check-argument (function place type accepts)
  "Signals a PYMODGEN-TYPE-ERROR unless the value of PLACE is of TYPE."
  `(unless (typep ,place ',type) (%bad-argument ',function ,place ',type ,accepts)))

(defparameter +designator-words+
  "a Python function designator: a string naming a Python callable (\"str\", \"numpy.linalg.norm\") or holding Python code (\"lambda x: x*x\"), a symbol (its lowercased name: 'len), a pyobject-wrapper, or a Lisp function")
(defparameter +name-words+ "a Python name: a string (\"sys.path\") or a symbol ('foo-bar for foo_bar)")
(defparameter +code-words+ "a string of Python code")

(defun %depth-error (object)
  (error 'python-conversion-error
         :object object
         :reason (format nil "containers nested more than ~D deep" +max-conversion-depth+)))

(declaim (inline check-pointer))
(defun check-pointer (p)
  "P, a new reference; signals the last error if it is NULL."
  (if (cffi:null-pointer-p p) (signal-last-error) p))

;;; ------------------------------------------------------------------------------------
;;; State

(defvar *alive* nil "T while the Python session is running (global, never bound).")
(defvar *generation* -1
  "The start generation as of the last pystart/pystop: the runtime's counter plus an
offset bumped when a Lisp image is saved, so caches from the saved process go stale.")
(defvar *image-epoch* 0)

(defun current-generation ()
  (+ (* *image-epoch* (expt 2 40)) (pmg-generation)))

(defvar *before-save-hooks* nil
  "Functions called (in order) before the Lisp image is saved.")

(defun before-save-lisp ()
  "Save hook: the saved image starts with Python stopped and every cache stale (the
interpreter is not part of the image; the first call in the new process starts it).
Wrappers made before carry the old epoch: using one is a PYTHON-STALE-OBJECT-ERROR."
  (setf *alive* nil
        *generation* -1)
  (incf *image-epoch*)
  (mapc #'funcall *before-save-hooks*))

(add-save-hook 'before-save-lisp)
(defvar *start-lock* (bt:make-recursive-lock "pymodgen pystart"))

(defvar *additional-init-codes* nil
  "A list of strings each of which should be python code. All the code will be executed
by PYSTART.")

(defvar *internal-features* (list :typed-arrays :with-python-output)
  "A list of PYMODGEN features available on the system. :ARRAYS is added when numpy is
importable (known after PYSTART).")

;;; ------------------------------------------------------------------------------------
;;; The GIL

(defvar *in-gil* nil
  "Bound to T (per thread) inside WITH-PYTHON-GIL and inside Python -> Lisp callbacks.")

(defun call-with-gil (thunk)
  (declare (function thunk))
  (unless *alive* (python-start-if-not-alive))
  (when (zerop (pmg-gil-enter)) (signal-last-error))
  (unwind-protect (let ((*in-gil* t)) (funcall thunk))
    (pmg-gil-exit)))

(defmacro with-python-gil (&body body)
  "Holds the GIL across BODY, so the Python calls inside skip taking and releasing it.
Nestable; nearly free when the thread already holds it. Calls outside any
WITH-PYTHON-GIL take the GIL per call (safe from any thread). Do not block on other Lisp
threads that call Python inside this scope: they wait for the GIL."
  (let ((f (gensym "BODY")))
    `(flet ((,f () ,@body))
       (declare (dynamic-extent #',f))
       (if *in-gil* (,f) (call-with-gil #',f)))))

;;; ------------------------------------------------------------------------------------
;;; The floating-point environment, per call

(defvar *float-switch*
  (let ((v (uiop:getenv "PYMODGEN_FLOAT_SWITCH")))
    (if (and v (string-equal v "every-call")) :every-call :on-demand))
  "How each call from Lisp puts Python's floating-point environment (every float trap
masked) in force, read by PYSTART:
:ON-DEMAND (the default): the call changes nothing up front. Python code runs with Lisp's
traps until it raises one (an overflow, a division by zero, an invalid operation); the
runtime's SIGFPE handler then masks every trap and lets the instruction run again, so
Python gets the IEEE result it expects, and the return puts Lisp's modes back. A call that
raises none pays nothing; one that does pays a signal (~3 us), and the thread's next 256
calls then switch as :EVERY-CALL does. Threads that Python or C libraries start inside a
call inherit Lisp's traps and are handled the same way. Used on x86-64 Linux with SBCL and
ECL; elsewhere, and when Lisp enables the precision, underflow or denormal trap, the
runtime switches at every call instead.
:EVERY-CALL: every call masks the traps on entry and restores Lisp's on return (two loads
of the SSE control register: ~40 ns per call on some CPUs). Choose it for a Python library
that installs its own SIGFPE handler (signal.signal(signal.SIGFPE, ...)): :ON-DEMAND
needs the runtime's.
Initial value from the environment variable PYMODGEN_FLOAT_SWITCH (every-call or
on-demand). FLOAT-SWITCH-IN-FORCE says which one runs.")

(defun float-switch-in-force ()
  "The per-call float switch in force: :ON-DEMAND, :EVERY-CALL (see *FLOAT-SWITCH*), or
NIL when Python is not running."
  (when *alive*
    (case (pmg-fp-switch) (2 :on-demand) (1 :every-call) (t :off))))

(defun apply-float-switch ()
  "Installs the per-call float switch *FLOAT-SWITCH* asks for (called by PYSTART, on a Lisp
thread: the runtime checks it can tell Lisp's threads from others there)."
  (pmg-set-fp-switch (if (eq *float-switch* :every-call) 1 2)))

;;; ------------------------------------------------------------------------------------
;;; The floating-point environment, per scope (opt-in)

(defun call-with-python-float-environment (thunk)
  (declare (function thunk))
  (unless *alive* (python-start-if-not-alive))
  (cffi:with-foreign-object (prev :uint64)
    (let ((entered nil))
      (unwind-protect
           (progn
             ;; (no interrupt between the switch and ENTERED: the cleanup must see it)
             (%without-interrupts (setf entered (= 1 (%pmg-fp-scope-enter prev))))
             (funcall thunk))
        (%without-interrupts
          (when entered (%pmg-fp-scope-exit (cffi:mem-ref prev :uint64))))))))

(defmacro with-python-float-environment (&body body)
  "Runs BODY in Python's floating-point environment (every float trap masked), so that
the Python calls inside skip the per-call switch into it and back (*FLOAT-SWITCH*: two reads
of the SSE control register on demand, ~10 ns, or two loads, ~30 ns on some CPUs, with the
every-call switch) and the signal a call pays when Python raises a float trap. Lisp's own modes
come back when BODY exits, normally or not; Lisp callbacks that Python calls inside run
with Lisp's modes, as everywhere, and so do Lisp interrupts that land inside (SBCL).
Lisp arithmetic written in BODY itself runs with the traps masked too: (/ 1d0 0d0)
returns an infinity, an overflow an infinity and an invalid operation a NaN, instead of
signalling DIVISION-BY-ZERO, FLOATING-POINT-OVERFLOW, FLOATING-POINT-INVALID-OPERATION;
so do the functions BODY calls (and the debugger, if BODY enters it). Per thread; nests
(the outermost scope switches); does not take the GIL (put WITH-PYTHON-GIL around or
inside it for that). Do not change the float modes inside it (SB-INT:WITH-FLOAT-TRAPS-MASKED
...): calls inside then run Python with them. In the single-threaded call mode, where
Python runs on its own thread in its own environment, it changes nothing."
  (let ((f (gensym "BODY")))
    `(flet ((,f () ,@body))
       (declare (dynamic-extent #',f))
       (call-with-python-float-environment #',f))))

(defun call-in-lisp-float-environment (function)
  "Calls FUNCTION (a Lisp interrupt's) with Lisp's floating-point modes when the thread
is inside WITH-PYTHON-FLOAT-ENVIRONMENT; the scope's environment is back when it returns or
exits. (An implementation's interrupt wrapper calls this, portability-*.lisp.)"
  (let ((suspended nil))
    (unwind-protect
         (progn (%without-interrupts (setf suspended (= 1 (%pmg-fp-scope-suspend))))
                (funcall function))
      (%without-interrupts (when suspended (%pmg-fp-scope-resume))))))

;;; ------------------------------------------------------------------------------------
;;; Start and stop

(defun python-alive-p ()
  "T if the Python session is running."
  (and *alive* t))

(defun python-start-if-not-alive ()
  "Starts Python unless it is running."
  (unless *alive* (pystart)))

(defvar *after-start-hooks* nil "Functions called (in order) at the end of PYSTART.")

(defun pystart (&key (verbose pymodgen/config:*pystart-verbosity*))
  "Starts the Python session: loads the chosen interpreter's libpython and the runtime
(once), initializes the interpreter with that interpreter's prefix and sys.path (plus
PYMODGEN/CONFIG:*PYTHON-SITE-PACKAGES-PATH*), runs *ADDITIONAL-INIT-CODES*. Returns T.
(Restarts after PYSTOP.) VERBOSE: says what runs (src/call-mode.lisp)."
  (bt:with-recursive-lock-held (*start-lock*)
    (when (and verbose *alive*) (report-start nil))
    (unless *alive*
      (let ((config (load-libraries)))
        (prepare-call-mode)                ; (src/call-mode.lisp)
        (when (minusp (pmg-initialize (python-executable config) (cffi:null-pointer)))
          (signal-last-error))
        (apply-float-switch)
        (setf *generation* (current-generation)
              *alive* t)
        (handler-bind ((error (lambda (c) (declare (ignore c))
                                (pmg-stop) (setf *alive* nil))))
          (dolist (hook *after-start-hooks*) (funcall hook))
          (dolist (code *additional-init-codes*) (raw-pyexec code)))
        (when verbose (report-start t)))))
  t)

(defun pystop ()
  "Ends the Python session: clears __main__, invalidates cached callables, and makes
further calls start a new session. CPython cannot re-initialize extension modules such as
numpy within one process, so the interpreter itself stays loaded (imported modules stay
imported). Python objects still referenced from Lisp stay valid. Does nothing while
PYMODGEN/CONFIG:*DISABLE-PYSTOP* is true."
  (bt:with-recursive-lock-held (*start-lock*)
    (when (and *alive* (not pymodgen/config:*disable-pystop*))
      (pmg-stop)
      (setf *alive* nil
            *generation* (current-generation))))
  t)
