;;;; package.lisp -- the suite, helpers to generate and load bindings, the runner.

(defpackage #:pymodgen-bindings-tests
  (:use #:cl #:pymodgen #:fiveam)
  (:import-from #:pymodgen #:%function-lambda-list) ; (the portability layer)
  (:export #:run-tests #:generate #:load-generated #:*out*))

(in-package #:pymodgen-bindings-tests)

;;; The suite BINDINGS sits inside the runtime's root suite PYMODGEN-TESTS::PYMODGEN when that
;;; is loaded already (scripts/lisp-test loads "pymodgen/tests" first), so the runtime's
;;; RUN-TESTS runs these tests too; it stands alone otherwise (tests/lisp/run.lisp). Decided
;;; when the file is loaded, not when it is compiled.
(eval-when (:compile-toplevel :load-toplevel :execute)
  (let ((parent (and (find-package "PYMODGEN-TESTS") (find-symbol "PYMODGEN" "PYMODGEN-TESTS"))))
    (apply #'it.bese.fiveam::make-suite 'bindings
           :description "Generated Common Lisp bindings, against real Python."
           (and parent (get-test parent) (list :in parent)))))

(defparameter *root*
  (truename (merge-pathnames "../../" (asdf:system-source-directory "pymodgen-bindings-tests")))
  "The repository root.")

(defparameter *fixtures* (merge-pathnames "tests/fixtures/python/" *root*))

(defparameter *out* (merge-pathnames "tests/lisp/out/" *root*)
  "Where the tests generate systems (git-ignored).")

;; DEFPYMODULE writes its systems here during the tests, not into the user's cache.
(setf pymodgen:*defpymodule-directory* (merge-pathnames "defpymodule/" *out*))

(defun generate (modules &key submodules pythonpath (out *out*))
  "Runs the pymodgen CLI for MODULES (a list) into OUT; returns the system directories."
  (let ((command (append (list (pymodgen::pymodgen-executable) "generate")
                         modules
                         (list "--lang" "lisp" "--out" (namestring out))
                         (and submodules (list "--submodules"))
                         (and pythonpath (list "--pythonpath" (namestring pythonpath)))
                         (let ((python (pymodgen::%python-executable)))
                           (and python (list "--python" python))))))
    (multiple-value-bind (output error-output code)
        (uiop:run-program command :output :string :error-output :string :ignore-error-status t)
      (declare (ignore output))
      (unless (eql code 0)
        (error "pymodgen failed (~{~A~^ ~}):~%~A" command error-output))
      (mapcar (lambda (m) (merge-pathnames (format nil "~A/" m) out)) modules))))

(defun system-name (dir)
  (pathname-name (first (directory (merge-pathnames "*.asd" dir)))))

(defun load-generated (dir &key force reloading)
  "Compiles and loads the generated system in DIR. Returns (values WARNINGS STYLE-WARNINGS
ERROR), the conditions signalled while compiling and loading it (ERROR: NIL or the error).
RELOADING: the system was loaded before, so redefinitions are expected, not counted."
  (let ((warnings '()) (style '()))
    (handler-case
        (handler-bind ((style-warning (lambda (c)
                                        (unless (and reloading (pymodgen::%redefinition-warning-p c))
                                          (push c style))
                                        (muffle-warning c)))
                       (warning (lambda (c)
                                  ;; ASDF's summary of the conditions counted already.
                                  (unless (typep c 'uiop:compile-warned-warning) (push c warnings))
                                  (muffle-warning c))))
          (asdf:load-asd (first (directory (merge-pathnames "*.asd" dir))))
          (let ((name (system-name dir)))
            (asdf:load-system name :force (and force (list name)))))
      (error (e) (return-from load-generated (values (nreverse warnings) (nreverse style) e))))
    (values (nreverse warnings) (nreverse style) nil)))

(defun python-path-insert (dir)
  "Makes DIR importable in the runtime's interpreter (as --pythonpath does for the CLI)."
  (raw-pyexec (format nil "import sys~%if ~S not in sys.path: sys.path.insert(0, ~S)"
                      (namestring dir) (namestring dir))))

(defun sym (package name)
  "The symbol NAME of PACKAGE (a generated package that does not exist when this file is read)."
  (or (find-symbol (string-upcase name) (string-upcase package))
      (error "no symbol ~A in ~A" name package)))

(defun call (package name &rest args)
  (apply (sym package name) args))

(defun run-tests ()
  "Runs the suite; prints fiveam's report, then as the LAST line `N passed, N failed`."
  (pystart)
  (let* ((results (let ((*print-pretty* t)) (run 'bindings)))
         (passed (count-if (lambda (r) (typep r 'it.bese.fiveam::test-passed)) results))
         (failed (count-if (lambda (r) (typep r 'it.bese.fiveam::test-failure)) results)))
    (explain! results)
    (finish-output)
    (format t "~&~D passed, ~D failed~%" passed failed)
    (finish-output)
    (and (zerop failed) (plusp passed))))
