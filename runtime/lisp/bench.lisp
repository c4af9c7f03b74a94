;;;; bench.lisp -- calls/s of the pymodgen Lisp runtime against the same loops in native
;;;; Python, measured in the same process and run (Python's timeit through the embedded
;;;; interpreter). Every figure is the best of several repetitions. Run: scripts/lisp-bench
;;;; (SBCL loads this file, compiling each form; ECL, whose LOAD of a source interprets it,
;;;; runs its COMPILE-FILE output).

(eval-when (:compile-toplevel :load-toplevel :execute)
  (require :asdf))
(eval-when (:compile-toplevel :load-toplevel :execute)
  (push (make-pathname :name nil :type nil :defaults (or *compile-file-truename* *load-truename*))
        asdf:*central-registry*)
  (handler-bind ((warning #'muffle-warning))
    ;; PYMODGEN_BENCH_CALL_MODE=single-threaded: the same loops in the single-threaded mode
    (when (equal (uiop:getenv "PYMODGEN_BENCH_CALL_MODE") "single-threaded")
      (asdf:load-system "pymodgen/select-single-threaded"))
    (asdf:load-system "pymodgen")))

(defpackage #:pymodgen-bench (:use #:cl #:pymodgen))
(in-package #:pymodgen-bench)

(defparameter *n* (let ((v (uiop:getenv "PYMODGEN_BENCH_N"))) (if v (parse-integer v) 20000)))
(defparameter *reps* (let ((v (uiop:getenv "PYMODGEN_BENCH_REPS"))) (if v (parse-integer v) 60))
  "Timed runs of each loop in all (the best kept), spread over *ROUNDS* interleaved rounds.")
(defparameter *rounds* (let ((v (uiop:getenv "PYMODGEN_BENCH_ROUNDS"))) (if v (parse-integer v) 15))
  "Rounds: in each, every loop (native Python and the Lisp variant beside it, A B A B ...)
runs *REPS* / *ROUNDS* times, so both sides of a ratio see the same machine state.")
(defparameter *clock*
  (if (or (equal (uiop:getenv "PYMODGEN_BENCH_CLOCK") "wall")
          (eq +python-call-mode+ :single-threaded))
      1 3)
  "CLOCK_THREAD_CPUTIME_ID (3) by default: the time this thread ran, which a loaded machine's
preemption does not inflate; PYMODGEN_BENCH_CLOCK=wall for CLOCK_MONOTONIC (1). Native Python
runs on the same thread and is timed by the same clock. In the single-threaded call mode the
wall clock always: Python runs on another thread there (the dedicated one), whose time this
thread's CPU clock would not see.")

(defun now ()
  "The benchmark clock in seconds (ns resolution; the Lisp's internal real time may be coarse)."
  (cffi:with-foreign-object (ts :int64 2)
    (cffi:foreign-funcall "clock_gettime" :int *clock* :pointer ts :int)
    (+ (cffi:mem-aref ts :int64 0) (* (cffi:mem-aref ts :int64 1) 1d-9))))

(defmacro best-seconds ((&key (reps '*reps*)) &body body)
  "Minimum time of BODY over REPS runs."
  `(loop repeat ,reps
         minimize (let ((t0 (now))) ,@body (- (now) t0))))

(defun native-seconds (stmt &key (number 1) (setup "pass") (reps *reps*))
  "Best time of Python's timeit(STMT, number=NUMBER) in this interpreter, by the Lisp clock."
  (loop repeat reps minimize (let ((t0 (now))) (pycall "_pymodgen.timeit" stmt number setup)
                               (- (now) t0))))

(defun report (what lisp-s native-s n)
  (format t "~&~44A ~9,1F ns/call ~12:D calls/s   native ~7,1F ns   ratio ~5,2Fx~%"
          what (* 1d9 (/ lisp-s n)) (round n lisp-s) (* 1d9 (/ native-s n)) (/ native-s lisp-s)))

(defpyfun "str" "builtins" :lisp-fun-name "PYSTR")
(defpyfun "abs" "builtins" :lisp-fun-name "PYABS")

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
  (with-python-gil (dotimes (i n) (floor-str i))))

;;; Interleaved rounds

(defstruct row
  label native lisp          ; NATIVE: a Python statement (timeit); LISP: a thunk
  floor                      ; :per-call, :held or NIL: the floor printed beside the ratio
  (lisp-best 1d9) (native-best 1d9) (ratios '()))

(defun median (xs)
  (let ((v (sort (copy-list xs) #'<)))
    (nth (floor (length v) 2) v)))

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

(defun report-row (row n &optional floors)
  (let ((rs (row-ratios row))
        (floor (and (row-floor row) (cdr (assoc (row-floor row) floors)))))
    (format t "~&~44A ~9,1F ns/call ~12:D calls/s   native ~7,1F ns   ratio ~5,2Fx  rounds ~,2F/~,2F/~,2F~@[  floor ~5,2Fx~]~%"
            (row-label row) (* 1d9 (/ (row-lisp-best row) n)) (round n (row-lisp-best row))
            (* 1d9 (/ (row-native-best row) n)) (row-ratio row)
            (reduce #'min rs) (median rs) (reduce #'max rs)
            (and floor (row-ratio floor)))))

(defun bench-calls ()
  (let* ((n *n*)
         (str (format nil "for i in range(~D): str(i)" n))
         (abs (format nil "for i in range(~D): abs(i)" n))
         (cell (%callable-cell "builtins" "str"))
         (floors
           (list (make-row :label "floor: bare CFFI, GIL per call (GILState)"
                           :native str :lisp (lambda () (floor-gilstate n)))
                 (make-row :label "floor: bare CFFI, GIL per call (tstate)"
                           :native str :lisp (lambda () (floor-tstate n)))
                 (make-row :label "floor: bare CFFI, inside with-python-gil"
                           :native str :lisp (lambda () (floor-held n)))))
         (rows
           (list (make-row :label "(pycall \"str\" i), GIL per call" :native str :floor :per-call
                           :lisp (lambda () (dotimes (i n) (pycall "str" i))))
                 (make-row :label "(pycall \"str\" i), inside with-python-gil" :native str :floor :held
                           :lisp (lambda () (with-python-gil (dotimes (i n) (pycall "str" i)))))
                 (make-row :label "imported function (defpyfun), GIL per call" :native str :floor :per-call
                           :lisp (lambda () (dotimes (i n) (pystr i))))
                 (make-row :label "imported function, inside with-python-gil" :native str :floor :held
                           :lisp (lambda () (with-python-gil (dotimes (i n) (pystr i)))))
                 (make-row :label "generated call (%call-cell), GIL per call" :native str :floor :per-call
                           :lisp (lambda () (dotimes (i n) (%call-cell cell (list i) nil))))
                 (make-row :label "generated call, inside with-python-gil" :native str :floor :held
                           :lisp (lambda () (with-python-gil (dotimes (i n) (%call-cell cell (list i) nil)))))
                 (make-row :label "imported abs (no specialization), GIL per call" :native abs
                           :lisp (lambda () (dotimes (i n) (pyabs i))))
                 (make-row :label "imported abs, inside with-python-gil" :native abs
                           :lisp (lambda () (with-python-gil (dotimes (i n) (pyabs i)))))
                 ;; containers as arguments (the general path: conversion, cycle and sharing checks)
                 (make-row :label "(pycall \"len\" (list i 2 3)), GIL per call"
                           :native (format nil "for i in range(~D): len((i, 2, 3))" n)
                           :lisp (lambda () (dotimes (i n) (pycall "len" (list i 2 3)))))
                 (make-row :label "(pycall \"len\" (list (list i 2) (list 3 4)))"
                           :native (format nil "for i in range(~D): len(((i, 2), (3, 4)))" n)
                           :lisp (lambda () (dotimes (i n) (pycall "len" (list (list i 2) (list 3 4))))))))
         (eval-rows
           (list (make-row :label "(pyeval \"bench_x + 1\"), GIL per call"
                           :native (format nil "for i in range(~D): eval('bench_x + 1')" n)
                           :lisp (lambda () (dotimes (i n) (pyeval "bench_x + 1"))))
                 (make-row :label "(pyeval \"bench_x + 1\"), inside with-python-gil"
                           :native (format nil "for i in range(~D): eval('bench_x + 1')" n)
                           :lisp (lambda () (with-python-gil (dotimes (i n) (pyeval "bench_x + 1")))))
                 (make-row :label "  same, against eval(precompiled code)"
                           :native (format nil "c = compile('bench_x + 1', '<string>', 'eval')~%for i in range(~D): eval(c)" n)
                           :lisp (lambda () (with-python-gil (dotimes (i n) (pyeval "bench_x + 1"))))))))
    (raw-pyexec "bench_x = 1")
    (run-rows (append floors rows eval-rows))
    (let ((per-call (if (< (row-lisp-best (first floors)) (row-lisp-best (second floors)))
                        (first floors) (second floors))))
      (format t "~&Calls (n = ~:D; native: the same loop in Python, a function of __main__; ~D interleaved rounds, best of ~D runs in all, ~A clock; rounds: min/median/max of the ratios of each round; floor: the bare CFFI call's ratio, same run)~%"
              n *rounds* (* *rounds* (max 1 (ceiling *reps* *rounds*)))
              (if (= *clock* 3) "thread CPU" "wall"))
      (dolist (row floors) (report-row row n))
      (dolist (row (append rows eval-rows))
        (report-row row n (list (cons :per-call per-call) (cons :held (third floors))))))))

(defun bench-float-switch ()
  "The cost of switching to Python's floating-point environment at every entry (and back),
in this run: the same loops with the switch turned off (unsafe; only measured here),
alternately, best of each."
  (let* ((n *n*)
         (cell (%callable-cell "builtins" "str"))
         (reps (max 1 (ceiling *reps* *rounds*)))
         (on-gil 1d9) (on 1d9) (off-gil 1d9) (off 1d9))
    (flet ((in-gil () (best-seconds (:reps reps) (with-python-gil (dotimes (i n) (%call-cell cell (list i) nil)))))
           (per-call () (best-seconds (:reps reps) (dotimes (i n) (%call-cell cell (list i) nil))))
           (switch-off (thunk)
             (pymodgen::pmg-set-fp-switch 0)
             (unwind-protect (funcall thunk) (pymodgen::pmg-set-fp-switch 1))))
      (dotimes (r *rounds*)
        (setf on-gil (min on-gil (in-gil))
              off-gil (min off-gil (switch-off #'in-gil))
              on (min on (per-call))
              off (min off (switch-off #'per-call)))))
    (format t "~&~%Float-environment switch (generated call; same run, switch off = Lisp's traps in Python)~%")
    (format t "~&GIL per call: ~,1F ns/call with the switch, ~,1F without (~,1F ns, ~,1F %)~%"
            (* 1d9 (/ on n)) (* 1d9 (/ off n)) (* 1d9 (/ (- on off) n)) (* 100 (/ (- on off) off)))
    (format t "~&inside with-python-gil: ~,1F ns/call with the switch, ~,1F without (~,1F ns, ~,1F %)~%"
            (* 1d9 (/ on-gil n)) (* 1d9 (/ off-gil n)) (* 1d9 (/ (- on-gil off-gil) n))
            (* 100 (/ (- on-gil off-gil) off-gil)))))

(defun bench-arrays ()
  (format t "~&~%Arrays~%")
  (raw-pyexec "import numpy")
  (dolist (size '(1000 1000000))
    (let* ((a (make-array size :element-type 'double-float :initial-element 0.5d0))
           (calls (if (> size 100000) 5 200))
           (native 1d9) (lisp 1d9))
      (raw-pyexec (format nil "bench_arr = numpy.full(~D, 0.5)" size))
      ;; interleaved rounds, best of each: the two sides see the same machine state
      (dotimes (round 40)
        (setf native (min native (/ (native-seconds "numpy.sum(bench_arr)" :number calls :reps 1)
                                    calls))
              lisp (min lisp (/ (best-seconds (:reps 1) (dotimes (i calls) (pycall "numpy.sum" a)))
                                calls))))
      (format t "~&numpy.sum of ~:D doubles: Lisp array ~9,2F us, numpy array in Python ~9,2F us: overhead ~,2F us (~,1F %)~%"
              size (* 1d6 lisp) (* 1d6 native) (* 1d6 (- lisp native))
              (* 100 (/ (- lisp native) native)))))
  (let* ((size 10000000)
         (bytes (* 8 size)))
    (raw-pyexec (format nil "bench_big = numpy.ones(~D)" size))
    (let* ((copy (best-seconds () (pyvalue "bench_big")))
           (alloc (best-seconds () (make-array size :element-type 'double-float)))
           (src (cffi:foreign-alloc :double :count size))
           (memcpy (unwind-protect
                        (let ((dst (make-array size :element-type 'double-float)))
                          (best-seconds ()
                            (pymodgen::%with-pinned (dst)
                              (pymodgen::%memcpy (pymodgen::%vector-pointer dst) src bytes))))
                     (cffi:foreign-free src))))
      (format t "~&numpy -> Lisp, ~:D doubles (~D MB): ~,2F GB/s (~,1F ms: allocation of the Lisp array ~,1F ms + copy); bare memcpy ~,2F GB/s~%"
              size (round bytes 1000000) (/ bytes copy 1d9) (* 1d3 copy) (* 1d3 alloc)
              (/ bytes memcpy 1d9)))))

(pystart)
(format t "~&pymodgen Lisp runtime benchmark -- ~A ~A, Python ~{~A~^.~}, call mode ~(~S~)~%"
        (lisp-implementation-type) (lisp-implementation-version) (subseq (pyversion-info) 0 3)
        +python-call-mode+)
(bench-calls)
(bench-float-switch)
(bench-arrays)
(finish-output)
