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
    (asdf:load-system "pymodgen/bench-support")))

(defpackage #:pymodgen-bench (:use #:cl #:pymodgen #:pymodgen-bench-support))
(in-package #:pymodgen-bench)

;; (the settings, clock, floor and interleaved rounds: bench-support.lisp)

(defun native-seconds (stmt &key (number 1) (setup "pass") (reps *reps*))
  "Best time of Python's timeit(STMT, number=NUMBER) in this interpreter, by the Lisp clock."
  (loop repeat reps minimize (let ((t0 (now))) (pycall "_pymodgen.timeit" stmt number setup)
                               (- (now) t0))))

(defpyfun "str" "builtins" :lisp-fun-name "PYSTR")
(defpyfun "abs" "builtins" :lisp-fun-name "PYABS")

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
                 ;; the opt-in per-scope float switch: no switch per call
                 (make-row :label "generated call, in float scope, GIL per call" :native str :floor :per-call
                           :lisp (lambda () (with-python-float-environment (dotimes (i n) (%call-cell cell (list i) nil)))))
                 (make-row :label "generated call, float scope + with-python-gil" :native str :floor :held
                           :lisp (lambda () (with-python-gil (with-python-float-environment
                                                               (dotimes (i n) (%call-cell cell (list i) nil))))))
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
    (format t "~&Calls (n = ~:D; native: the same loop in Python, a function of __main__; ~D interleaved rounds, best of ~D runs in all, ~A clock; rounds: min/median/max of the ratios of each round; floor: the bare CFFI call's ratio, same run)~%"
            n *rounds* (* *rounds* (max 1 (ceiling *reps* *rounds*))) (clock-name))
    (report-rows floors (append rows eval-rows) n)))

(defun bench-float-switch ()
  "The cost of the per-call float switch, in this run: the same loops with the switch in
force (on demand, the default), with the every-call switch, and with no switch at all
(unsafe; only measured here), alternately, best of each."
  (let* ((n *n*)
         (cell (%callable-cell "builtins" "str"))
         (reps (max 1 (ceiling *reps* *rounds*)))
         (mode (pymodgen::pmg-fp-switch))
         (modes '((2 . "on demand") (1 . "every call") (0 . "no switch")))
         (best (make-hash-table :test (quote equal))))
    (flet ((in-gil () (best-seconds (:reps reps) (with-python-gil (dotimes (i n) (%call-cell cell (list i) nil)))))
           (per-call () (best-seconds (:reps reps) (dotimes (i n) (%call-cell cell (list i) nil))))
           (with-mode (m thunk)
             (pymodgen::pmg-set-fp-switch m)
             (unwind-protect (funcall thunk) (pymodgen::pmg-set-fp-switch mode))))
      (dotimes (r *rounds*)
        (dolist (m modes)
          (let ((k (car m)))
            (setf (gethash (cons k :gil) best)
                  (min (gethash (cons k :gil) best 1d9) (with-mode k #'in-gil))
                  (gethash (cons k :call) best)
                  (min (gethash (cons k :call) best 1d9) (with-mode k #'per-call)))))))
    (format t "~&~%Float-environment switch (generated call, `str(i)`; same run, alternately; no switch = Lisp's traps in Python; in force: ~A)~%"
            (cdr (assoc mode modes)))
    (let ((off-call (gethash (cons 0 :call) best)) (off-gil (gethash (cons 0 :gil) best)))
      (dolist (m modes)
        (let ((call (gethash (cons (car m) :call) best)) (gil (gethash (cons (car m) :gil) best)))
          (format t "~&~12A GIL per call ~6,1F ns/call (~,1@F ns), inside with-python-gil ~6,1F ns/call (~,1@F ns)~%"
                  (cdr m) (* 1d9 (/ call n)) (* 1d9 (/ (- call off-call) n))
                  (* 1d9 (/ gil n)) (* 1d9 (/ (- gil off-gil) n))))))))

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
