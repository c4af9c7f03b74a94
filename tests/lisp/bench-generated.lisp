;;;; bench-generated.lisp -- the overhead of a generated call against the runtime's imported
;;;; function (the pycall-style DEFPYFUN of api.lisp, "imported function" in
;;;; runtime/lisp/bench.lisp), same process, best of 9. Not a test: no timed assertions.
;;;;   sbcl --script tests/lisp/bench-generated.lisp      (PYMODGEN_BENCH_N: loop length)

(require :asdf)
(let ((here (directory-namestring *load-truename*)))
  (asdf:load-asd (merge-pathnames "../../runtime/lisp/pymodgen.asd" here))
  (asdf:load-asd (merge-pathnames "pymodgen-bindings-tests.asd" here)))
(handler-bind ((warning #'muffle-warning))
  (asdf:load-system "pymodgen-bindings-tests"))

(defpackage #:pymodgen-bench-generated (:use #:cl #:pymodgen))
(in-package #:pymodgen-bench-generated)

(defparameter *n* (let ((v (uiop:getenv "PYMODGEN_BENCH_N"))) (if v (parse-integer v) 1000000)))

(defun now ()
  (cffi:with-foreign-object (ts :int64 2)
    (cffi:foreign-funcall "clock_gettime" :int 1 :pointer ts :int)
    (+ (cffi:mem-aref ts :int64 0) (* (cffi:mem-aref ts :int64 1) 1d-9))))

(defmacro best-seconds (&body body)
  `(loop repeat 9 minimize (let ((t0 (now))) ,@body (- (now) t0))))

(pystart)
;; The generated package BUILTINS, compiled and loaded as users get it.
(pymodgen-bindings-tests:load-generated
 (first (pymodgen-bindings-tests:generate '("builtins"))))

;; The runtime's imported functions (api.lisp's pycall-style DEFPYFUN expansion).
(dolist (f '(("str" "IMPORTED-STR") ("round" "IMPORTED-ROUND")))
  (eval (funcall (get 'defpyfun 'pymodgen::pycall-expander)
                 `(defpyfun ,(first f) "builtins" :lisp-fun-name ,(second f)
                            :lisp-package "PYMODGEN-BENCH-GENERATED")
                 nil)))

(defun report (what generated imported n)
  (format t "~&~52A generated ~7,1F ns/call   imported ~7,1F ns/call   overhead ~6,1F %~%"
          what (* 1d9 (/ generated n)) (* 1d9 (/ imported n)) (* 100 (/ (- generated imported) imported))))

(let ((n *n*)
      (str (find-symbol "STR" "BUILTINS"))
      (round (find-symbol "ROUND" "BUILTINS")))
  (compile 'run-bench
           `(lambda ()
              (format t "~&Generated call vs the runtime's imported function (n = ~:D, best of 9)~%" ,n)
              (report "(builtins:str i), GIL per call"
                      (best-seconds (dotimes (i ,n) (,str i)))
                      (best-seconds (dotimes (i ,n) (imported-str i))) ,n)
              (report "(builtins:str i), inside with-python-gil"
                      (best-seconds (with-python-gil (dotimes (i ,n) (,str i))))
                      (best-seconds (with-python-gil (dotimes (i ,n) (imported-str i)))) ,n)
              (report "(builtins:round x 2) [argument parsing], GIL per call"
                      (best-seconds (dotimes (i ,n) (,round 1.2345d0 2)))
                      (best-seconds (dotimes (i ,n) (imported-round 1.2345d0 2))) ,n)
              (report "(builtins:round x :ndigits 2) [keyword], GIL per call"
                      (best-seconds (dotimes (i ,n) (,round 1.2345d0 :ndigits 2)))
                      (best-seconds (dotimes (i ,n) (imported-round 1.2345d0 :ndigits 2))) ,n))))
(run-bench)
