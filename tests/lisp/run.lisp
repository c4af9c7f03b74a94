;;;; run.lisp -- runs the generated-bindings suite: sbcl --script tests/lisp/run.lisp
;;;; Last line: `N passed, N failed`; exit status 0 when nothing failed.

(require :asdf)
(let ((here (directory-namestring *load-truename*)))
  (asdf:load-asd (merge-pathnames "../../runtime/lisp/pymodgen.asd" here))
  (asdf:load-asd (merge-pathnames "pymodgen-bindings-tests.asd" here)))
(handler-bind ((warning #'muffle-warning))
  (asdf:load-system "pymodgen-bindings-tests"))
(uiop:quit (if (uiop:symbol-call :pymodgen-bindings-tests :run-tests) 0 1))
