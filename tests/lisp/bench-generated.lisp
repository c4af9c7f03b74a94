;;;; bench-generated.lisp -- generated calls against the same loop in native Python (the
;;;; design targets: >= 0.45x taking the GIL per call, >= 0.7x inside with-python-gil), by the
;;;; compile-time route and by the run-time &rest route, and against the runtime's imported
;;;; function (the pycall-style DEFPYFUN of api.lisp), same process, best of 9. Not a test:
;;;; no timed assertions.
;;;;   sbcl --script tests/lisp/bench-generated.lisp      (PYMODGEN_BENCH_N: loop length)
;;;;   ecl --norc --load tests/lisp/bench-generated.lisp --eval '(ext:quit)'   (or scripts/lisp-bench)

(require :asdf)
(let ((here (directory-namestring *load-truename*)))
  (asdf:load-asd (merge-pathnames "../../runtime/lisp/pymodgen.asd" here))
  (asdf:load-asd (merge-pathnames "pymodgen-bindings-tests.asd" here)))
(handler-bind ((warning #'muffle-warning))
  (asdf:load-system "pymodgen-bindings-tests"))

(defpackage #:pymodgen-bench-generated (:use #:cl #:pymodgen))
(in-package #:pymodgen-bench-generated)

(defparameter *n* (let ((v (uiop:getenv "PYMODGEN_BENCH_N"))) (if v (parse-integer v) 20000)))
;; Short loops, many repetitions, the best kept (as runtime/lisp/bench.lisp): on a shared
;; machine some repetitions run undisturbed.
(defparameter *reps* (let ((v (uiop:getenv "PYMODGEN_BENCH_REPS"))) (if v (parse-integer v) 60)))

(defparameter *clock*
  (if (equal (uiop:getenv "PYMODGEN_BENCH_CLOCK") "wall") 1 3)
  "CLOCK_THREAD_CPUTIME_ID (3) by default: the time this thread ran, which a loaded machine's
preemption does not inflate; PYMODGEN_BENCH_CLOCK=wall for CLOCK_MONOTONIC (1). Native Python
runs on the same thread and is timed by the same clock.")

(defun now ()
  (cffi:with-foreign-object (ts :int64 2)
    (cffi:foreign-funcall "clock_gettime" :int *clock* :pointer ts :int)
    (+ (cffi:mem-aref ts :int64 0) (* (cffi:mem-aref ts :int64 1) 1d-9))))

(defmacro best-seconds (&body body)
  `(loop repeat *reps* minimize (let ((t0 (now))) ,@body (- (now) t0))))

(pystart)
;; The generated package BUILTINS, compiled and loaded as users get it.
(pymodgen-bindings-tests:load-generated
 (first (pymodgen-bindings-tests:generate '("builtins"))))

;; The runtime's imported functions (api.lisp's pycall-style DEFPYFUN expansion), compiled
;; (COMPILE: ECL's EVAL would interpret them).
(dolist (f '(("str" "IMPORTED-STR") ("round" "IMPORTED-ROUND")))
  (funcall (compile nil `(lambda ()
                           ,(funcall (get 'defpyfun 'pymodgen::pycall-expander)
                                     `(defpyfun ,(first f) "builtins" :lisp-fun-name ,(second f)
                                                :lisp-package "PYMODGEN-BENCH-GENERATED")
                                     nil)))))

(defun native-seconds (n)
  "Best of *REPS* of the loop `for i in range(N): str(i)` in native Python, as a function
defined in __main__ (one call from Lisp per repetition), timed by the same clock."
  (raw-pyexec "def _pymodgen_bench_str(n):
    for i in range(n): str(i)")
  (loop repeat *reps* minimize (let ((t0 (now))) (pycall "_pymodgen_bench_str" n) (- (now) t0))))

(defun report3 (what compiled parsed imported n)
  (format t "~&~52A compile-time ~7,1F ns   run-time parsing ~7,1F ns   imported ~7,1F ns/call~%"
          what (* 1d9 (/ compiled n)) (* 1d9 (/ parsed n)) (* 1d9 (/ imported n))))

(defun report-native (what seconds native n)
  (format t "~&~52A ~7,1F ns/call   native Python ~7,1F ns/call   ratio ~5,2Fx~%"
          what (* 1d9 (/ seconds n)) (* 1d9 (/ native n)) (/ native seconds)))

(let ((n *n*)
      (str (find-symbol "STR" "BUILTINS"))
      (round (find-symbol "ROUND" "BUILTINS")))
  (compile 'run-bench
           `(lambda ()
              ;; Calls compiled after the bindings are loaded take the compile-time route
              ;; (the compiler macro: one direct foreign call); declared NOTINLINE, the call goes to
              ;; the DEFUN, which parses its &REST list at run time (the route of wave 1).
              (let ((native (native-seconds ,n)))
                (format t "~&Generated call vs the same loop in native Python (n = ~:D, best of ~D, ~A clock; ratio: native time / Lisp time)~%"
                        ,n *reps* (if (= *clock* 3) "thread CPU" "wall"))
                (report-native "(builtins:str i), compile-time route, GIL per call"
                               (best-seconds (dotimes (i ,n) (,str i))) native ,n)
                (report-native "(builtins:str i), compile-time route, in with-python-gil"
                               (best-seconds (with-python-gil (dotimes (i ,n) (,str i)))) native ,n)
                (report-native "(builtins:str i) notinline: run-time &rest parsing, GIL per call"
                               (best-seconds (dotimes (i ,n) (locally (declare (notinline ,str)) (,str i)))) native ,n)
                (report-native "(builtins:str i) notinline: run-time parsing, in with-python-gil"
                               (best-seconds (with-python-gil (dotimes (i ,n) (locally (declare (notinline ,str)) (,str i))))) native ,n)
                (report-native "imported function (defpyfun), GIL per call"
                               (best-seconds (dotimes (i ,n) (imported-str i))) native ,n)
                (report-native "imported function, in with-python-gil"
                               (best-seconds (with-python-gil (dotimes (i ,n) (imported-str i)))) native ,n))
              (format t "~&~%Compile-time route vs run-time &rest parsing vs the runtime's imported function (n = ~:D, best of ~D)~%"
                      ,n *reps*)
              (report3 "(builtins:round x 2), GIL per call"
                       (best-seconds (dotimes (i ,n) (,round 1.2345d0 2)))
                       (best-seconds (dotimes (i ,n) (locally (declare (notinline ,round)) (,round 1.2345d0 2))))
                       (best-seconds (dotimes (i ,n) (imported-round 1.2345d0 2))) ,n)
              (report3 "(builtins:round x :ndigits 2) [keyword], GIL per call"
                       (best-seconds (dotimes (i ,n) (,round 1.2345d0 :ndigits 2)))
                       (best-seconds (dotimes (i ,n) (locally (declare (notinline ,round)) (,round 1.2345d0 :ndigits 2))))
                       (best-seconds (dotimes (i ,n) (imported-round 1.2345d0 :ndigits 2))) ,n)
              (report3 "(builtins:round x :ndigits 2) [keyword], in with-python-gil"
                       (best-seconds (with-python-gil (dotimes (i ,n) (,round 1.2345d0 :ndigits 2))))
                       (best-seconds (with-python-gil (dotimes (i ,n) (locally (declare (notinline ,round)) (,round 1.2345d0 :ndigits 2)))))
                       (best-seconds (with-python-gil (dotimes (i ,n) (imported-round 1.2345d0 :ndigits 2)))) ,n))))
(run-bench)
