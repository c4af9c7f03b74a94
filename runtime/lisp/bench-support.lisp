;;;; bench-support.lisp -- what both benchmarks share (runtime/lisp/bench.lisp and
;;;; tests/lisp/bench-generated.lisp, run by scripts/lisp-bench): the settings, the clock, the
;;;; floor (the bare CFFI call into libpython) and the interleaved rounds against native
;;;; Python. System "pymodgen/bench-support" (compiled by ASDF on every Lisp: on ECL a loaded
;;;; source file would be interpreted, and the floor with it).

(defpackage #:pymodgen-bench-support
  (:use #:cl #:pymodgen)
  (:export #:*n* #:*reps* #:*rounds* #:*clock* #:clock-name #:now #:best-seconds #:median
           #:ff #:floor-str #:floor-gilstate #:floor-tstate #:floor-held
           #:make-row #:row-label #:row-lisp-best #:row-native-best #:row-ratio
           #:run-rows #:report-row #:report-rows))
(in-package #:pymodgen-bench-support)

(defparameter *n* (let ((v (uiop:getenv "PYMODGEN_BENCH_N"))) (if v (parse-integer v) 20000))
  "Calls per timed loop.")
;; Short loops, many repetitions, the best kept: on a shared machine some run undisturbed.
(defparameter *reps* (let ((v (uiop:getenv "PYMODGEN_BENCH_REPS"))) (if v (parse-integer v) 60))
  "Timed runs of each loop in all (the best kept), spread over *ROUNDS* interleaved rounds.")
(defparameter *rounds* (let ((v (uiop:getenv "PYMODGEN_BENCH_ROUNDS"))) (if v (parse-integer v) 15))
  "Rounds: in each, every loop (native Python and the Lisp variant beside it, A B A B ...)
runs *REPS* / *ROUNDS* times, so both sides of a ratio see the same machine state.")
(defparameter *clock*
  (if (or (equal (uiop:getenv "PYMODGEN_BENCH_CLOCK") "wall")
          ;; (the variable, not +PYTHON-CALL-MODE+: a compiler folds the constant into this
          ;; file's fasl, which the run in the other mode loads from the cache)
          (eq pymodgen::*call-mode* :single-threaded))
      1 3)
  "CLOCK_THREAD_CPUTIME_ID (3) by default: the time this thread ran, which a loaded machine's
preemption does not inflate; PYMODGEN_BENCH_CLOCK=wall for CLOCK_MONOTONIC (1). Native Python
runs on the same thread and is timed by the same clock. In the single-threaded call mode the
wall clock always: Python runs on another thread there (the dedicated one), whose time this
thread's CPU clock would not see.")

(defun clock-name () (if (= *clock* 3) "thread CPU" "wall"))

(defun now ()
  "The benchmark clock in seconds (ns resolution; the Lisp's internal real time may be coarse)."
  (cffi:with-foreign-object (ts :int64 2)
    (cffi:foreign-funcall "clock_gettime" :int *clock* :pointer ts :int)
    (+ (cffi:mem-aref ts :int64 0) (* (cffi:mem-aref ts :int64 1) 1d-9))))

(defmacro best-seconds ((&key (reps '*reps*)) &body body)
  "Minimum time of BODY over REPS runs."
  `(loop repeat ,reps
         minimize (let ((t0 (now))) ,@body (- (now) t0))))

(defun median (xs)
  (nth (floor (length xs) 2) (sort (copy-list xs) #'<)))

;;; The floor: what a call from this Lisp into libpython costs at the least, by bare CFFI, no
;;; float switch, no conversion layer: PyLong_FromLong, PyObject_Str, a hand-written ASCII
;;; copy of the result into a Lisp string, two decrefs.

;; A foreign call by name. On ECL, CFFI's dynamic FFI would look the symbol up and go through
;; libffi at every call (microseconds): there the address is looked up once, at the first call,
;; and called from inline C (what ECL's compiled code can do at best).
(defmacro symbol-address (name)
  `(let ((cell (load-time-value (vector nil))))
     (or (svref cell 0) (setf (svref cell 0) (cffi:foreign-symbol-pointer ,name)))))

(defmacro ff (name &rest args)
  #-ecl `(cffi:foreign-funcall ,name ,@args)
  #+ecl (let* ((pairs (loop for (type arg) on (butlast args) by #'cddr collect (list type arg)))
               (rtype (car (last args))))
          (flet ((ecl-type (ty) (ecase ty (:long :long) (:int :int) (:pointer :pointer-void) (:void :void)))
                 (c-type (ty) (ecase ty (:long "long") (:int "int") (:pointer "void*") (:void "void"))))
            `(ffi:c-inline
              ((symbol-address ,name) ,@(mapcar #'second pairs))
              (:pointer-void ,@(mapcar (lambda (p) (ecl-type (first p))) pairs))
              ,(ecl-type rtype)
              ,(format nil "((~A(*)(~{~A~^,~}))#0)(~{#~D~^,~})" (c-type rtype)
                       (or (mapcar (lambda (p) (c-type (first p))) pairs) '("void"))
                       (loop for k from 1 to (length pairs) collect k))
              :one-liner t :side-effects t))))

(defvar *size-cell* (cffi:foreign-alloc :long))

(defmacro ascii-copy (s)
  "A Lisp string of the characters of the ASCII Python str S, copied by hand."
  #-ecl `(let* ((p (ff "PyUnicode_AsUTF8AndSize" :pointer ,s :pointer *size-cell* :pointer))
                (len (cffi:mem-ref *size-cell* :long))
                (r (make-string len)))
           (dotimes (k len r) (setf (schar r k) (code-char (cffi:mem-aref p :uint8 k)))))
  #+ecl `(ffi:c-inline ((symbol-address "PyUnicode_AsUTF8AndSize") ,s) (:pointer-void :pointer-void) :object
                       "{ long n; const unsigned char *p = ((const unsigned char *(*)(void *, long *))#0)(#1, &n);
  cl_object r = ecl_alloc_simple_base_string(n);
  for (long k = 0; k < n; k++) r->base_string.self[k] = p[k];
  @(return) = r; }" :one-liner nil :side-effects t))

(defun floor-str (i)
  "str(I) by bare CFFI (the GIL held by the caller)."
  (declare (type fixnum i) (optimize speed (safety 0)))
  (let* ((o (ff "PyLong_FromLong" :long i :pointer))
         (s (ff "PyObject_Str" :pointer o :pointer))
         (r (ascii-copy s)))
    (ff "Py_DecRef" :pointer s :void)
    (ff "Py_DecRef" :pointer o :void)
    r))

(defun floor-gilstate (n)
  "N calls of FLOOR-STR, each taking the GIL by PyGILState_Ensure/Release."
  (dotimes (i n)
    (let ((g (ff "PyGILState_Ensure" :int)))
      (floor-str i)
      (ff "PyGILState_Release" :int g :void))))

(defun floor-tstate (n)
  "N calls of FLOOR-STR, each taking the GIL by PyEval_RestoreThread/SaveThread with this
thread's state cached."
  (let* ((g (ff "PyGILState_Ensure" :int))
         (ts (ff "PyEval_SaveThread" :pointer)))
    (unwind-protect
         (dotimes (i n)
           (ff "PyEval_RestoreThread" :pointer ts :void)
           (floor-str i)
           (ff "PyEval_SaveThread" :pointer))
      (ff "PyEval_RestoreThread" :pointer ts :void)
      (ff "PyGILState_Release" :int g :void))))

(defun floor-held (n)
  "N calls of FLOOR-STR inside WITH-PYTHON-GIL."
  (with-python-gil (dotimes (i n) (floor-str i))))

;;; Interleaved rounds

(defstruct row
  label native lisp          ; NATIVE: a Python statement (run in a function of __main__); LISP: a thunk
  floor                      ; :per-call, :held or NIL: the floor printed beside the ratio
  (lisp-best 1d9) (native-best 1d9) (ratios '()))

(defvar *native-functions* (make-hash-table :test 'equal))

(defun native-function (stmt)
  "The name of a function of no argument defined in __main__ whose body is STMT (defined once):
the native side of a row, called once per timed run (its call costs a few hundred ns, once
per loop of *N* iterations)."
  (or (gethash stmt *native-functions*)
      (let ((name (format nil "_pymodgen_bench_~D" (hash-table-count *native-functions*))))
        (raw-pyexec (format nil "def ~A():~%~{    ~A~%~}" name
                            (uiop:split-string stmt :separator '(#\Newline))))
        (setf (gethash stmt *native-functions*) name))))

(defun native-loop-seconds (stmt reps)
  (let ((f (native-function stmt)))
    (loop repeat reps minimize (let ((t0 (now))) (pycall f) (- (now) t0)))))

(defun run-rows (rows &key (rounds *rounds*) (reps (max 1 (ceiling *reps* *rounds*))))
  "Times every row, native then Lisp, ROUNDS times round-robin, REPS runs each time (the best
kept): fills each row's bests and its per-round ratios."
  (dotimes (r rounds rows)
    (dolist (row rows)
      (let ((native (native-loop-seconds (row-native row) reps))
            (lisp (best-seconds (:reps reps) (funcall (row-lisp row)))))
        (setf (row-native-best row) (min native (row-native-best row))
              (row-lisp-best row) (min lisp (row-lisp-best row)))
        (push (/ native lisp) (row-ratios row))))))

(defun row-ratio (row) (/ (row-native-best row) (row-lisp-best row)))

(defun report-row (row n &key floors (width 44))
  "One line: ns/call, calls/s, native ns, the best ratio, the min/median/max of the rounds'
ratios, and the ratio of the row's floor (FLOORS: an alist :PER-CALL / :HELD -> row)."
  (let ((rs (row-ratios row))
        (floor (and (row-floor row) (cdr (assoc (row-floor row) floors)))))
    (format t "~&~vA ~9,1F ns/call ~12:D calls/s   native ~7,1F ns   ratio ~5,2Fx  rounds ~,2F/~,2F/~,2F~@[  floor ~5,2Fx~]~%"
            width (row-label row) (* 1d9 (/ (row-lisp-best row) n)) (round n (row-lisp-best row))
            (* 1d9 (/ (row-native-best row) n)) (row-ratio row)
            (reduce #'min rs) (median rs) (reduce #'max rs)
            (and floor (row-ratio floor)))))

(defun report-rows (floors rows n &key (width 44))
  "Prints FLOORS (rows: the GIL-per-call floors first, the held floor last), then ROWS, each
beside its floor: the faster of the per-call floors, the held one."
  (let* ((per-call (reduce (lambda (a b) (if (< (row-lisp-best a) (row-lisp-best b)) a b))
                           (butlast floors)))
         (alist (list (cons :per-call per-call) (cons :held (car (last floors))))))
    (dolist (row floors) (report-row row n :width width))
    (dolist (row rows) (report-row row n :floors alist :width width))))
