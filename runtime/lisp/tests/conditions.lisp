;;;; tests/conditions.lisp -- Python exceptions signalled as condition classes that mirror
;;;; Python's class hierarchy (src/conditions.lisp).

(in-package #:pymodgen-tests)

(def-suite conditions :in pymodgen)
(in-suite conditions)

(defmacro condition-of (form)
  `(handler-case (progn ,form nil)
     (pyerror (c) c)))

(test builtin-exceptions-by-class
  (is (eq :v (handler-case (pycall "int" "x") (python-value-error () :v))))
  (is (eq :z (handler-case (pyeval "1/0") (python-arithmetic-error () :z))))
  (let ((c (condition-of (pyeval "{}['missing']"))))
    (is (typep c 'python-key-error))
    (is (typep c 'python-lookup-error))
    (is (typep c 'python-exception))
    (is (typep c 'python-base-exception))
    (is (not (typep c 'python-index-error)))
    (is (equal "KeyError" (pyerror-type c))))
  (is (eq :lookup (handler-case (pyeval "[][3]") (python-lookup-error () :lookup))))
  (is (eq :os (handler-case (pycall "open" "/nonexistent/dir/file")
                (python-os-error (c) (and (typep c 'python-file-not-found-error) :os)))))
  (is (eq :unicode (handler-case (pyeval "b'\\xff'.decode('utf-8')")
                     (python-value-error (c) (and (typep c 'python-unicode-decode-error) :unicode)))))
  ;; a BaseException that is no Exception
  (let ((c (condition-of (raw-pyexec "raise SystemExit(3)"))))
    (is (typep c 'python-system-exit))
    (is (not (typep c 'python-exception)))))

(test what-py4cl2-cffi-code-sees
  ;; every Python exception is still a SIMPLE-PYERROR and a PYERROR, with the same readers
  (let ((c (condition-of (pycall "float" "abc"))))
    (is (typep c 'simple-pyerror))
    (is (typep c 'py4cl2-cffi:pyerror))
    (is (equal "ValueError" (pyerror-type c)))
    (is (search "could not convert" (pyerror-message c))))
  (is (eq :caught (handler-case (pycall "int" "x") (py4cl2-cffi::simple-pyerror () :caught))))
  (is (eq :stop (handler-case (pycall "next" (pycall "iter" #()))
                  (py4cl2-cffi::pyerror-stop-iteration () :stop))))
  (is (subtypep 'python-base-exception 'simple-pyerror))
  (is (not (subtypep 'python-not-alive-error 'python-base-exception)))
  ;; the condition classes are PYMODGEN's, not exported from PY4CL2-CFFI
  (is (not (eq :external (nth-value 1 (find-symbol "PYTHON-VALUE-ERROR" "PY4CL2-CFFI")))))
  (is (eq :external (nth-value 1 (find-symbol "PYERROR" "PY4CL2-CFFI")))))

(test classes-made-at-run-time
  (raw-pyexec "class CondTestError(KeyError): pass
class CondTestChild(CondTestError): pass
class CondTestMixed(ArithmeticError, LookupError): pass")
  ;; unknown to Lisp: signalled as the nearest ancestor that has a condition class
  (let ((c (condition-of (raw-pyexec "raise CondTestChild('x')"))))
    (is (typep c 'python-key-error))
    (is (equal "__main__.CondTestChild" (pyerror-type c))))
  (is (eq :lookup (handler-case (raw-pyexec "raise CondTestChild('x')") (python-lookup-error () :lookup))))
  (let ((c (condition-of (raw-pyexec "raise CondTestMixed()"))))
    (is (typep c 'python-arithmetic-error) "the first base in the MRO")
    (is (typep c 'python-exception)))
  ;; classes the program defines itself
  (eval '(define-python-exception cond-test-error (python-key-error) "__main__.CondTestError"))
  (let ((c (condition-of (raw-pyexec "raise CondTestChild('x')"))))
    (is (typep c (intern "COND-TEST-ERROR" '#:pymodgen-tests)) "a registration clears the cache")
    (is (typep c 'python-key-error)))
;; two classes for the same Python class (two packages' bindings): a handler for either
  (eval '(define-python-exception cond-test-error-too (python-key-error) "__main__.CondTestError"))
  (let ((c (condition-of (raw-pyexec "raise CondTestError('x')"))))
    (is (typep c (intern "COND-TEST-ERROR" '#:pymodgen-tests)))
    (is (typep c (intern "COND-TEST-ERROR-TOO" '#:pymodgen-tests)))
    (is (typep c 'python-key-error))
    (is (equal "__main__.CondTestError" (pyerror-type c))))
    ;; a class redefined with other bases under the same name is looked up again
  (raw-pyexec "class CondTestChild(IndexError): pass")
  (let ((c (condition-of (raw-pyexec "raise CondTestChild('x')"))))
    (is (typep c 'python-index-error))
    (is (not (typep c 'python-key-error)))))

(test lisp-errors-from-callbacks-keep-their-class
  (raw-pyexec "def cond_call_it(f): return f()")
  (is (typep (handler-case (pycall "cond_call_it" (lambda () (error "boom"))) (error (c) c))
             'simple-error))
  (is (typep (handler-case (pycall "cond_call_it" (lambda () (pyeval "{}[1]"))) (error (c) c))
             'python-key-error)
      "a Python error inside the callback comes out as its class"))

(test runtime-errors-without-a-python-type
  ;; the runtime's own errors (bad pointers) name a builtin type: its class
  (is (typep (condition-of (pymodgen::check-pointer (pymodgen::pmg-getattr (cffi:null-pointer) "x")))
             'simple-pyerror)))

(test the-table-is-pythons
  ;; every public exception class of the running Python's builtins is in the table, with the
  ;; same bases; every class of the table that this Python has is a builtin exception
  (let ((python (pyeval "[(n, [b.__name__ for b in c.__bases__ if b is not object])
 for n, c in sorted(vars(__import__('builtins')).items())
 if isinstance(c, type) and issubclass(c, BaseException) and c.__name__ == n
 and not n.startswith('_')]")))
    (is (> (length python) 60))
    (map nil (lambda (entry)
               (let* ((name (elt entry 0)) (bases (coerce (elt entry 1) 'list))
                      (row (find name pymodgen::+builtin-python-exceptions+ :key #'first :test #'string=)))
                 (is (not (null row)) "~A is not in the table" name)
                 (when row
                   (is (equal (mapcar (lambda (b) (first (find b pymodgen::+builtin-python-exceptions+ :key #'second)))
                                      (third row))
                              bases)
                       "bases of ~A" name))))
         python)
    (dolist (row pymodgen::+builtin-python-exceptions+)
      (let ((since (fourth row))
            (here (format nil "~{~A~^.~}" (subseq (coerce (pyeval "__import__('sys').version_info[:2]") 'list) 0 2))))
        (when (or (null since) (string<= since here))
          (is (find (first row) python :key (lambda (e) (elt e 0)) :test #'string=)
              "~A (since ~A) missing from Python ~A" (first row) since here))))))
