;;;; tests/package.lisp -- fiveam suites of the pymodgen runtime, and the runner.

(defpackage #:pymodgen-tests
  (:use #:cl #:pymodgen #:fiveam)
  ;; the runtime's portability layer (src/portability.lisp): the tests name no Lisp
  ;; implementation either
  (:import-from #:pymodgen
                #:%float-traps #:%set-float-traps #:%float-nan-p #:%getpid
                #:%function-lambda-list #:%lisp-command #:%seed-random-state
                #:+double-float-positive-infinity+ #:+double-float-negative-infinity+
                #:+single-float-positive-infinity+ #:+single-float-negative-infinity+)
  (:export #:run-tests #:unless-skipped #:with-float-traps-masked #:report-results))

(in-package #:pymodgen-tests)

(def-suite pymodgen :description "The pymodgen Common Lisp runtime, against real Python.")

(defmacro unless-skipped ((condition reason &rest arguments) &body body)
  "BODY, unless CONDITION is true: then the test is reported as skipped, with REASON (a
format control with ARGUMENTS), never silently passed."
  `(if ,condition (skip ,reason ,@arguments) (progn ,@body)))

(defmacro with-float-traps-masked ((&rest traps) &body body)
  "BODY with the floating-point TRAPS (:overflow :invalid ...) disabled in this thread."
  (let ((old (gensym "TRAPS")))
    `(let ((,old (%float-traps)))
       (unwind-protect (progn (%set-float-traps (set-difference ,old ',traps)) ,@body)
         (%set-float-traps ,old)))))

(defun python-minor-version ()
  "The minor version (11 for 3.11) of the interpreter the runtime runs, asked of its
executable in a process of its own (not through the runtime under test)."
  (parse-integer
   (uiop:run-program (list (pymodgen::python-executable pymodgen::*python-config*)
                           "-c" "import sys; print(sys.version_info[1])")
                     :output :string)))

(defun leaf-suites (suite)
  "The suites below SUITE that hold tests directly (a suite of suites is not one)."
  (let ((subs (loop for name being the hash-keys of (it.bese.fiveam::tests suite)
                    for test = (get-test name)
                    when (typep test 'it.bese.fiveam::test-suite) collect test)))
    (append (and (< (length subs) (hash-table-count (it.bese.fiveam::tests suite))) (list suite))
            (mapcan #'leaf-suites subs))))

(defun print-suite-counts (results)
  "One line per suite of the root suite PYMODGEN: its passed, failed and skipped checks."
  (let ((root (get-test 'pymodgen)))
    (when root
      (dolist (suite (sort (leaf-suites root) #'string< :key (lambda (s) (string (it.bese.fiveam::name s)))))
        (let ((names (loop for name being the hash-keys of (it.bese.fiveam::tests suite)
                           unless (typep (get-test name) 'it.bese.fiveam::test-suite) collect name))
              (p 0) (f 0) (k 0))
          (dolist (r results)
            (let ((tc (ignore-errors (it.bese.fiveam::test-case r))))
              (when (or (member (and tc (it.bese.fiveam::name tc)) names) (eq tc suite))
                (typecase r
                  (it.bese.fiveam::test-passed (incf p))
                  (it.bese.fiveam::test-failure (incf f))
                  (it.bese.fiveam::test-skipped (incf k))))))
          (format t "~&suite ~(~A~) on ~A: ~D passed, ~D failed, ~D skipped~%"
                  (it.bese.fiveam::name suite) (lisp-implementation-type) p f k))))))

(defun report-results (results)
  "Prints fiveam's report of RESULTS, the skipped tests with their reasons, then as the LAST
line `N passed, N failed` (counting fiveam checks). Returns T when nothing failed."
  (let ((passed (count-if (lambda (r) (typep r 'it.bese.fiveam::test-passed)) results))
        (failed (count-if (lambda (r) (typep r 'it.bese.fiveam::test-failure)) results))
        (skipped (remove-if-not (lambda (r) (typep r 'it.bese.fiveam::test-skipped)) results)))
    (explain! results)
    (print-suite-counts results)
    (dolist (r skipped)
      (format t "~&SKIPPED ~(~A~) on ~A: ~A~%"
              (it.bese.fiveam::name (it.bese.fiveam::test-case r)) (lisp-implementation-type)
              (it.bese.fiveam::reason r)))
    (finish-output)
    (format t "~&~D passed, ~D failed~%" passed failed)
    (finish-output)
    (and (zerop failed) (plusp passed))))

(defun run-except (suite skip)
  "The results of running the suite or test named SUITE, leaving out the suites and tests
whose names SKIP lists (an alist of name and reason); each one left out is a skipped result
with its reason."
  (let ((test (get-test suite))
        (reason (cdr (assoc suite skip))))
    (cond (reason
           (list (make-instance 'it.bese.fiveam::test-skipped :reason reason :test-case test)))
          ((and (typep test 'it.bese.fiveam::test-suite)
                (labels ((within (s) (or (assoc (it.bese.fiveam::name s) skip)
                                         (and (typep s 'it.bese.fiveam::test-suite)
                                              (loop for sub being the hash-keys of (it.bese.fiveam::tests s)
                                                      thereis (within (get-test sub)))))))
                  (within test)))
           (loop for sub being the hash-keys of (it.bese.fiveam::tests test)
                 append (run-except sub skip)))
          (t (run suite)))))

(defun run-tests (&key skip)
  "Runs every suite but those SKIP names (an alist of suite or test name and the reason,
printed); prints fiveam's report, then as the LAST line `N passed, N failed` (counting
fiveam checks). Returns T when nothing failed."
  (pystart)
  (report-results (let ((*print-pretty* t)) (run-except 'pymodgen skip))))
