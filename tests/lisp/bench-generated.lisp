;;;; bench-generated.lisp -- generated calls against the same loop in native Python (the
;;;; design targets: >= 0.45x taking the GIL per call, >= 0.7x inside with-python-gil), by the
;;;; compile-time route and by the run-time &rest route, and against the runtime's imported
;;;; function (the pycall-style DEFPYFUN of api.lisp), same process, native Python and each Lisp
;;;; loop in interleaved rounds (best kept, the spread of the rounds' ratios printed), beside the
;;;; floor (the bare CFFI call into libpython). Not a test: no timed assertions.
;;;;   sbcl --script tests/lisp/bench-generated.lisp      (PYMODGEN_BENCH_N: loop length)
;;;;   ecl --norc --load tests/lisp/bench-generated.lisp --eval '(ext:quit)'   (or scripts/lisp-bench)

(require :asdf)
(let ((here (directory-namestring *load-truename*)))
  (asdf:load-asd (merge-pathnames "../../runtime/lisp/pymodgen.asd" here))
  (asdf:load-asd (merge-pathnames "pymodgen-bindings-tests.asd" here)))
(handler-bind ((warning #'muffle-warning))
  (asdf:load-system "pymodgen-bindings-tests")
  (asdf:load-system "pymodgen/bench-support"))

(defpackage #:pymodgen-bench-generated (:use #:cl #:pymodgen #:pymodgen-bench-support))
(in-package #:pymodgen-bench-generated)

;; (the settings, clock, floor and interleaved rounds: runtime/lisp/bench-support.lisp)

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

(defun report3 (what compiled parsed imported n)
  (format t "~&~52A compile-time ~7,1F ns   run-time parsing ~7,1F ns   imported ~7,1F ns/call~%"
          what (* 1d9 (/ compiled n)) (* 1d9 (/ parsed n)) (* 1d9 (/ imported n))))

(let ((n *n*)
      (str (find-symbol "STR" "BUILTINS"))
      (round (find-symbol "ROUND" "BUILTINS")))
  (compile 'run-bench
           `(lambda ()
              ;; Calls compiled after the bindings are loaded take the compile-time route
              ;; (the compiler macro: one direct foreign call); declared NOTINLINE, the call goes to
              ;; the DEFUN, which parses its &REST list at run time (the route of wave 1).
              (format t "~&Generated call vs the same loop in native Python (n = ~:D, ~D interleaved rounds, best of ~D runs in all, ~A clock; ratio: native time / Lisp time; rounds: min/median/max of the rounds' ratios; floor: the bare CFFI call's ratio, same run)~%"
                      ,n *rounds* (* *rounds* (max 1 (ceiling *reps* *rounds*))) (clock-name))
              (let* ((native (format nil "for i in range(~D): str(i)" ,n))
                     (floors (list (make-row :label "floor: bare CFFI, GIL per call (cached tstate)"
                                             :native native :lisp (lambda () (floor-tstate ,n)))
                                   (make-row :label "floor: bare CFFI, inside with-python-gil"
                                             :native native :lisp (lambda () (floor-held ,n)))))
                     (rows
                       (loop for (label thunk floor)
                               in (list (list "(builtins:str i), compile-time route, GIL per call"
                                              (lambda () (dotimes (i ,n) (,str i))) :per-call)
                                        (list "(builtins:str i), compile-time route, in with-python-gil"
                                              (lambda () (with-python-gil (dotimes (i ,n) (,str i)))) :held)
                                        (list "(builtins:str i), compile-time, float scope, GIL per call"
                                              (lambda () (with-python-float-environment (dotimes (i ,n) (,str i))))
                                              :per-call)
                                        (list "(builtins:str i), compile-time, float scope + with-python-gil"
                                              (lambda () (with-python-gil
                                                           (with-python-float-environment (dotimes (i ,n) (,str i)))))
                                              :held)
                                        (list "(builtins:str i) notinline: run-time &rest parsing, GIL per call"
                                              (lambda () (dotimes (i ,n) (locally (declare (notinline ,str)) (,str i)))) :per-call)
                                        (list "(builtins:str i) notinline: run-time parsing, in with-python-gil"
                                              (lambda () (with-python-gil (dotimes (i ,n) (locally (declare (notinline ,str)) (,str i))))) :held)
                                        (list "imported function (defpyfun), GIL per call"
                                              (lambda () (dotimes (i ,n) (imported-str i))) :per-call)
                                        (list "imported function, in with-python-gil"
                                              (lambda () (with-python-gil (dotimes (i ,n) (imported-str i)))) :held))
                             collect (make-row :label label :native native :lisp thunk :floor floor))))
                (run-rows (append floors rows))
                (report-rows floors rows ,n :width 62))
              (format t "~&~%Compile-time route vs run-time &rest parsing vs the runtime's imported function (n = ~:D, best of ~D)~%"
                      ,n *reps*)
              (report3 "(builtins:round x 2), GIL per call"
                       (best-seconds () (dotimes (i ,n) (,round 1.2345d0 2)))
                       (best-seconds () (dotimes (i ,n) (locally (declare (notinline ,round)) (,round 1.2345d0 2))))
                       (best-seconds () (dotimes (i ,n) (imported-round 1.2345d0 2))) ,n)
              (report3 "(builtins:round x :ndigits 2) [keyword], GIL per call"
                       (best-seconds () (dotimes (i ,n) (,round 1.2345d0 :ndigits 2)))
                       (best-seconds () (dotimes (i ,n) (locally (declare (notinline ,round)) (,round 1.2345d0 :ndigits 2))))
                       (best-seconds () (dotimes (i ,n) (imported-round 1.2345d0 :ndigits 2))) ,n)
              (report3 "(builtins:round x :ndigits 2) [keyword], in with-python-gil"
                       (best-seconds () (with-python-gil (dotimes (i ,n) (,round 1.2345d0 :ndigits 2))))
                       (best-seconds () (with-python-gil (dotimes (i ,n) (locally (declare (notinline ,round)) (,round 1.2345d0 :ndigits 2)))))
                       (best-seconds () (with-python-gil (dotimes (i ,n) (imported-round 1.2345d0 :ndigits 2)))) ,n))))
(run-bench)
