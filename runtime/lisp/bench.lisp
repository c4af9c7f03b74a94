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
(defparameter *reps* (let ((v (uiop:getenv "PYMODGEN_BENCH_REPS"))) (if v (parse-integer v) 60)))

(defun now ()
  "Monotonic clock in seconds (ns resolution; the Lisp's internal real time may be coarse)."
  (cffi:with-foreign-object (ts :int64 2)
    (cffi:foreign-funcall "clock_gettime" :int 1 :pointer ts :int) ; CLOCK_MONOTONIC
    (+ (cffi:mem-aref ts :int64 0) (* (cffi:mem-aref ts :int64 1) 1d-9))))

(defmacro best-seconds ((&key (reps '*reps*)) &body body)
  "Minimum wall time of BODY over REPS runs."
  `(loop repeat ,reps
         minimize (let ((t0 (now))) ,@body (- (now) t0))))

(defun native-seconds (stmt &key (number 1) (setup "pass") (reps *reps*))
  "Best time of Python's timeit(STMT, number=NUMBER) in this interpreter."
  (loop repeat reps minimize (pycall "_pymodgen.timeit" stmt number setup)))

(defun report (what lisp-s native-s n)
  (format t "~&~44A ~9,1F ns/call ~12:D calls/s   native ~7,1F ns   ratio ~5,2Fx~%"
          what (* 1d9 (/ lisp-s n)) (round n lisp-s) (* 1d9 (/ native-s n)) (/ native-s lisp-s)))

(defpyfun "str" "builtins" :lisp-fun-name "PYSTR")
(defpyfun "abs" "builtins" :lisp-fun-name "PYABS")

(defun bench-calls ()
  (let* ((n *n*)
         (native-str (native-seconds (format nil "for i in range(~D): str(i)" n)))
         (cell (%callable-cell "builtins" "str")))
    (format t "~&Calls (n = ~:D; native: the same loop in Python, timeit)~%" n)
    (report "(pycall \"str\" i), GIL per call"
            (best-seconds () (dotimes (i n) (pycall "str" i))) native-str n)
    (report "(pycall \"str\" i), inside with-python-gil"
            (best-seconds () (with-python-gil (dotimes (i n) (pycall "str" i)))) native-str n)
    (report "imported function (defpyfun), GIL per call"
            (best-seconds () (dotimes (i n) (pystr i))) native-str n)
    (report "imported function, inside with-python-gil"
            (best-seconds () (with-python-gil (dotimes (i n) (pystr i)))) native-str n)
    (report "generated call (%call-cell), GIL per call"
            (best-seconds () (dotimes (i n) (%call-cell cell (list i) nil))) native-str n)
    (report "generated call, inside with-python-gil"
            (best-seconds () (with-python-gil (dotimes (i n) (%call-cell cell (list i) nil))))
            native-str n)
    (let ((native-abs (native-seconds (format nil "for i in range(~D): abs(i)" n))))
      (report "imported abs (no specialization), GIL per call"
              (best-seconds () (dotimes (i n) (pyabs i))) native-abs n)
      (report "imported abs, inside with-python-gil"
              (best-seconds () (with-python-gil (dotimes (i n) (pyabs i)))) native-abs n))
    ;; containers as arguments (the general path: conversion, cycle and sharing checks)
    (let ((native-list (native-seconds (format nil "for i in range(~D): len((i, 2, 3))" n)))
          (native-nested (native-seconds (format nil "for i in range(~D): len(((i, 2), (3, 4)))" n))))
      (report "(pycall \"len\" (list i 2 3)), GIL per call"
              (best-seconds () (dotimes (i n) (pycall "len" (list i 2 3)))) native-list n)
      (report "(pycall \"len\" (list (list i 2) (list 3 4)))"
              (best-seconds () (dotimes (i n) (pycall "len" (list (list i 2) (list 3 4)))))
              native-nested n))
    (raw-pyexec "bench_x = 1")
    (let ((native-eval (native-seconds (format nil "for i in range(~D): eval('bench_x + 1')" n)))
          (native-code (native-seconds (format nil "for i in range(~D): eval(c)" n)
                                       :setup "c = compile('bench_x + 1', '<string>', 'eval')")))
      (report "(pyeval \"bench_x + 1\"), GIL per call"
              (best-seconds () (dotimes (i n) (pyeval "bench_x + 1"))) native-eval n)
      (report "(pyeval \"bench_x + 1\"), inside with-python-gil"
              (best-seconds () (with-python-gil (dotimes (i n) (pyeval "bench_x + 1"))))
              native-eval n)
      (report "  same, against eval(precompiled code)"
              (best-seconds () (with-python-gil (dotimes (i n) (pyeval "bench_x + 1"))))
              native-code n))))

(defun bench-float-switch ()
  "The cost of switching to Python's floating-point environment at every entry (and back),
in this run: the same loops with the switch turned off (unsafe; only measured here)."
  (let* ((n *n*)
         (cell (%callable-cell "builtins" "str"))
         (on-gil (best-seconds () (with-python-gil (dotimes (i n) (%call-cell cell (list i) nil)))))
         (on (best-seconds () (dotimes (i n) (%call-cell cell (list i) nil))))
         (off-gil (progn (pymodgen::pmg-set-fp-switch 0)
                         (unwind-protect
                              (best-seconds () (with-python-gil (dotimes (i n) (%call-cell cell (list i) nil))))
                           (pymodgen::pmg-set-fp-switch 1))))
         (off (progn (pymodgen::pmg-set-fp-switch 0)
                     (unwind-protect (best-seconds () (dotimes (i n) (%call-cell cell (list i) nil)))
                       (pymodgen::pmg-set-fp-switch 1)))))
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
