;;;; pymodgen.asd -- the Common Lisp runtime of pymodgen (successor of py4cl2-cffi).

(defsystem "pymodgen"
  :description "Fast, typed Common Lisp bindings to Python (CPython embedded through the
pymodgen-capi C ABI): the py4cl2-cffi API, without segfaults."
  :version "0.1.0"
  :license "MIT OR Apache-2.0"
  :depends-on ("pymodgen/config" "cffi" "trivial-garbage" "bordeaux-threads" "alexandria"
               "uiop")
  ;; ECL: the runtime's foreign calls compile to direct C calls (CFFI's default there, the
  ;; dynamic FFI, conses argument lists at each call). See src/portability-ecl.lisp.
  :around-compile (lambda (compile)
                    (let ((method (and (find-package "CFFI-SYS")
                                       (find-symbol "*CFFI-ECL-METHOD*" "CFFI-SYS"))))
                      (if method
                          (progv (list method) '(:c/c++) (funcall compile))
                          (funcall compile))))
  :serial t
  :components ((:file "package")
               (:module "src"
                :serial t
                :components ((:file "library")
                             ;; the implementation's side of the portability layer
                             ;; (interface: portability.lisp)
                             (:file "portability-sbcl" :if-feature :sbcl)
                             (:file "portability-ecl" :if-feature :ecl)
                             (:file "portability-generic" :if-feature (:not (:or :sbcl :ecl)))
                             (:file "ffi")
                             (:file "portability")
                             (:file "core")
                             (:file "conditions")
                             (:file "objects")
                             (:file "pythonize")
                             (:file "lispify")
                             (:file "designators")
                             (:file "call")
                             (:static-file "helper.py")     ; the module _pymodgen, read by api.lisp
                             (:file "api")
                             (:file "classes")
                             (:static-file "module_hash.py") ; read by generated.lisp
                             (:file "generated")
                             (:file "defpymodule")
                             (:file "defpyclass")
                             (:file "compat")
                             (:file "call-mode"))))
  :in-order-to ((test-op (test-op "pymodgen/tests"))))

(defsystem "pymodgen/config"
  :description "Package PYMODGEN/CONFIG (nickname PY4CL2-CFFI/CONFIG): the interpreter, call
mode and start options, set before the runtime is loaded. Does not load libpython."
  :depends-on ("uiop")
  :components ((:file "src/config")))

(defsystem "pymodgen/select-single-threaded"
  :description "Sets PYMODGEN/CONFIG:*PYTHON-CALL-MODE* to :SINGLE-THREADED (before the runtime
loads; an error if it is already loaded in the other mode)."
  :depends-on ("pymodgen/config")
  :components ((:file "src/select-single-threaded")))

(defsystem "pymodgen/single-threaded"
  :description "The runtime in the single-threaded call mode: every Python call, from any Lisp
thread, runs on Python's main thread."
  :depends-on ("pymodgen/select-single-threaded" "pymodgen"))

(defsystem "pymodgen/py4cl2-cffi"
  :description "Drop-in replacement for py4cl2-cffi: package PY4CL2-CFFI over pymodgen."
  :depends-on ("pymodgen")
  :weakly-depends-on ("iterate")          ; for the PYFOR clause, when installed
  :components ((:file "src/py4cl2-cffi")))

(defsystem "pymodgen/bench-support"
  :description "What runtime/lisp/bench.lisp and tests/lisp/bench-generated.lisp share (scripts/lisp-bench)."
  :depends-on ("pymodgen")
  :components ((:file "bench-support")))

(defsystem "pymodgen/tests"
  :description "fiveam tests of the pymodgen Lisp runtime against real Python and numpy."
  :depends-on ("pymodgen" "pymodgen/py4cl2-cffi" "fiveam" "iterate" "bordeaux-threads"
               (:feature :sbcl "sb-introspect"))
  :pathname "tests/"
  :serial t
  :components ((:file "package")
               (:file "readme")
               (:file "types")
               (:file "errors")
               (:file "conditions")
               (:file "abi")
               (:file "arrays")
               (:file "stress")
               (:file "generated")
               (:file "robustness")
               (:file "fuzz")
               (:file "compat")
               (:file "config")
               (:file "defpyclass"))
  :perform (test-op (o c) (uiop:symbol-call :pymodgen-tests :run-tests)))
