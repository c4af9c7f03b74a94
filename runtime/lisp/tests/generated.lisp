;;;; tests/generated.lisp -- the generated-code contract and the py4cl2-cffi drop-in.

(in-package #:pymodgen-tests)

(def-suite generated :in pymodgen)
(in-suite generated)

(test callable-cells
  (let ((sqrt-cell (%callable-cell "math" "sqrt"))
        (int-cell (%callable-cell "builtins" "int"))
        (fromkeys (%callable-cell "builtins" "dict.fromkeys")))
    (is (eql 4d0 (%call-cell sqrt-cell '(16) nil)))
    (is (eql 255 (%call-cell int-cell '("ff") '("base" 16))))
    (is (equal "foo" (%call-cell (%callable-cell "builtins" "str") '(:foo) nil))
        "keywords among positional args are values")
    (is (= 2 (hash-table-count (%call-cell fromkeys '(("a" "b")) nil))))
    (is (equal "AttributeError"
               (handler-case (%call-cell (%callable-cell "math" "nope") '(1) nil)
                 (pyerror (c) (pyerror-type c)))))
    (is (equal "ModuleNotFoundError"
               (handler-case (%call-cell (%callable-cell "no_such_module_q" "f") '(1) nil)
                 (pyerror (c) (pyerror-type c)))))
    (is (typep (with-remote-objects (%call-cell int-cell '(3) nil)) 'pyobject-wrapper))
    (with-lispifiers ((integer #'1+))
      (is (eql 4 (%call-cell int-cell '(3) nil))))))

(test module-hash
  (let ((h1 (%module-hash "json" "pymodgen-test-1"))
        (h2 (%module-hash "json" "pymodgen-test-1"))
        (h3 (%module-hash "json" "pymodgen-test-2")))
    (is (stringp h1))
    (is (> (length h1) 10))
    (is (equal h1 h2))
    (is (not (equal h1 h3)))))

(test module-hash-matches-the-generator-script
  ;; the same file run by the interpreter as a subprocess (what the Rust side does)
  (let* ((script (asdf:system-relative-pathname "pymodgen" "../../pymodgen/src/python/module_hash.py"))
         (out (uiop:run-program
               (list (pymodgen::python-executable pymodgen::*python-config*) "-c"
                     (format nil "import runpy; ns = runpy.run_path(~S); print(ns['module_hash']('json', 'tag-x')['hash'])"
                             (namestring script)))
               :output :string)))
    (is (equal (string-trim '(#\Newline) out) (%module-hash "json" "tag-x")))
    ;; the runtime's copy (src/module_hash.py) is the generator's script, byte for byte
    (is (equal (uiop:read-file-string script) pymodgen::+module-hash-source+)
        "runtime/lisp/src/module_hash.py differs from its source ~A" (namestring script))))

(test py4cl2-cffi-drop-in
  (is (eq 'py4cl2-cffi:pycall 'pymodgen:pycall))
  (is (equal "1" (funcall (find-symbol "PYCALL" "PY4CL2-CFFI") "str" 1)))
  (dolist (name '("PYSTART" "PYSTOP" "PYTHON-ALIVE-P" "PYTHON-START-IF-NOT-ALIVE" "PYVERSION-INFO"
                  "PYCALL" "PYVALUE" "PYSLOT-VALUE" "PYMETHOD" "PYREF" "PYEVAL" "PYEXEC"
                  "RAW-PYEVAL" "RAW-PYEXEC" "IMPORT-MODULE" "IMPORT-FUNCTION" "EXPORT-FUNCTION"
                  "DEFPYFUN" "DEFPYMODULE" "WITH-PYTHON-OUTPUT" "WITH-PYTHON-ERROR-OUTPUT"
                  "*LISPIFIERS*" "*PYTHONIZERS*" "WITH-LISPIFIERS" "WITH-PYTHONIZERS"
                  "DEFINE-LISPIFIER" "PYTHONIZE" "WITH-REMOTE-OBJECTS" "WITH-REMOTE-OBJECTS*"
                  "PYGENERATOR" "CHAIN" "CHAIN*" "PYHELP" "PYSLOT-LIST" "PYMETHOD-LIST"
                  "PYTHON-GETATTR" "PYTHON-SETATTR" "PYOBJECT-WRAPPER" "*PRINT-PYOBJECT*"
                  "*PRINT-PYOBJECT-WRAPPER-IDENTITY*" "PYOBJECT-WRAPPER-EQ" "PYOBJECT-WRAPPER-EQ*"
                  "PYERROR" "WITH-PYTHON-GIL" "WITH-PYGC" "ENABLE-PYGC" "DISABLE-PYGC"
                  "*PYGC-THRESHOLD*" "+PY-NONE+" "+PY-EMPTY-TUPLE+" "*ADDITIONAL-INIT-CODES*"
                  "*INTERNAL-FEATURES*" "+PY-NONE-POINTER+" "+PY-EMPTY-TUPLE-POINTER+"
                  "*DEFPYMODULE-SILENT-P*" "PYTHON-OBJECT"))
    (multiple-value-bind (s status) (find-symbol name "PY4CL2-CFFI")
      (is (eq :external status) "PY4CL2-CFFI exports ~A" name)
      (is (eq s (find-symbol name "PYMODGEN"))))))

(test define-lispifier-and-features
  (define-lispifier "decimal.Decimal" (o) (list :decimal (pycall "str" o)))
  (is (equal '(:decimal "1.5") (pyeval "__import__('decimal').Decimal('1.5')")))
  (is (member :arrays *internal-features*))
  (is (member :with-python-output *internal-features*)))

(test additional-init-codes
  (let ((*additional-init-codes* (list "init_code_ran = 'yes'")))
    (pystop)
    (pystart)
    (is (equal "yes" (pyvalue "init_code_ran")))))
