;;;; pymodgen-bindings-tests.asd -- fiveam tests of generated Common Lisp bindings
;;;; (`pymodgen MODULE --lang lisp`, DEFPYMODULE, DEFPYFUN, recompile-on-change), against
;;;; real Python: the fixture package, the standard library, numpy and matplotlib.

(defsystem "pymodgen-bindings-tests"
  :description "Tests of pymodgen's generated Common Lisp bindings."
  :depends-on ("pymodgen" "fiveam" (:feature :sbcl "sb-introspect"))
  :serial t
  :components ((:file "package")
               (:file "fixture")
               (:file "readme")
               (:file "change")
               (:file "compile-time")
               (:file "arglists")
               (:file "classmethods")
               (:file "conditions")
               (:file "classes")
               (:file "adversarial")
               (:file "third-party")
               (:file "sweep"))
  :perform (test-op (o c) (uiop:symbol-call :pymodgen-bindings-tests :run-tests)))
