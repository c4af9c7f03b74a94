;;;; tests/package.lisp -- fiveam suites of the pymodgen runtime, and the runner.

(defpackage #:pymodgen-tests
  (:use #:cl #:pymodgen #:fiveam)
  (:export #:run-tests))

(in-package #:pymodgen-tests)

(def-suite pymodgen :description "The pymodgen Common Lisp runtime, against real Python.")

(defun run-tests ()
  "Runs every suite; prints fiveam's report, then as the LAST line `N passed, N failed`
(counting fiveam checks). Returns T when nothing failed."
  (pystart)
  (let* ((results (let ((*print-pretty* t)) (run 'pymodgen)))
         (passed (count-if (lambda (r) (typep r 'it.bese.fiveam::test-passed)) results))
         (failed (count-if (lambda (r) (typep r 'it.bese.fiveam::test-failure)) results)))
    (explain! results)
    (finish-output)
    (format t "~&~D passed, ~D failed~%" passed failed)
    (finish-output)
    (and (zerop failed) (plusp passed))))
