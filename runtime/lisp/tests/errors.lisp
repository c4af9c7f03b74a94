;;;; tests/errors.lisp -- Python exceptions as PYERROR; bad input never crashes.

(in-package #:pymodgen-tests)

(def-suite errors :in pymodgen)
(in-suite errors)

(defmacro pyerror-of (form)
  `(handler-case (progn ,form nil)
     (pyerror (c) c)))

(test exception-type-message-traceback
  (let ((c (pyerror-of (pyeval "1/0"))))
    (is (typep c 'pyerror))
    (is (equal "ZeroDivisionError" (pyerror-type c)))
    (is (equal "division by zero" (pyerror-message c)))
    (is (search "ZeroDivisionError: division by zero" (pyerror-traceback c)))
    (is (search "ZeroDivisionError" (princ-to-string c))))
  (raw-pyexec "def inner(): raise KeyError('missing')
def outer(): return inner()")
  (let ((c (pyerror-of (pycall "outer"))))
    (is (equal "KeyError" (pyerror-type c)))
    (is (equal "'missing'" (pyerror-message c)))
    (is (search "in inner" (pyerror-traceback c)))
    (is (search "in outer" (pyerror-traceback c))))
  (let ((c (pyerror-of (pycall "json.loads" "{bad json"))))
    (is (equal "json.decoder.JSONDecodeError" (pyerror-type c)))))

(test unknown-names
  (let ((c (pyerror-of (pycall "no_such_function_xyz" 1))))
    (is (equal "NameError" (pyerror-type c)))
    (is (search "no_such_function_xyz" (pyerror-message c))))
  (is (equal "AttributeError" (pyerror-type (pyerror-of (pyvalue "sys.no_such_attribute")))))
  (is (equal "AttributeError" (pyerror-type (pyerror-of (pycall "math.no_such_fn")))))
  (is (equal "NameError" (pyerror-type (pyerror-of (pyeval "undefined_variable_q")))))
  (is (equal "SyntaxError" (pyerror-type (pyerror-of (raw-pyexec "def (:")))))
  (is (equal "AttributeError" (pyerror-type (pyerror-of (pymethod "abc" "no_such_method"))))))

(test wrong-arity-and-bad-values
  (is (equal "TypeError" (pyerror-type (pyerror-of (pycall "len" 1 2)))))
  (is (equal "TypeError" (pyerror-type (pyerror-of (pycall "len")))))
  (is (equal "TypeError" (pyerror-type (pyerror-of (pycall "len" 5)))))
  (is (equal "TypeError" (pyerror-type (pyerror-of (pycall "int" "1" :no_such_kw 3)))))
  (is (equal "ValueError" (pyerror-type (pyerror-of (pycall "float" "abc")))))
  (signals error (pycall 'len (make-hash-table) :x))
  (signals error (pycall "str" (cons 1 2)))
  (signals error (pycall "str" 1 :key))
  (is (equal "TypeError" (pyerror-type (pyerror-of (pycall (pycall "object")))))))

(test errors-inside-callbacks
  (raw-pyexec "def call_it(f, *a): return f(*a)")
  (let ((c (handler-case (pycall "call_it" (lambda () (error "boom from lisp")))
             (error (c) c))))
    (is (typep c 'simple-error) "the Lisp condition itself comes out of the Python call")
    (is (search "boom from lisp" (princ-to-string c))))
  (let ((c (handler-case (pycall "call_it" (lambda () (/ 1 (length "")))) (error (c) c))))
    (is (typep c 'division-by-zero)))
  (raw-pyexec "def call_catching(f):
    try:
        f()
    except RuntimeError as e:
        return 'python caught: ' + str(e)")
  (is (search "python caught: Lisp error" (pycall "call_catching" (lambda () (error "inner")))))
  (signals program-error (pycall "call_it" (lambda (x) x) 1 2)))

(test low-level-bad-pointers
  (signals pyerror (pymodgen::check-pointer (pymodgen::pmg-getattr (cffi:null-pointer) "x")))
  (signals pyerror (pymodgen::check-pointer (pymodgen::pmg-str (cffi:null-pointer) 0)))
  (cffi:with-foreign-object (out :uint8 64)
    (is (= 0 (pymodgen::pmg-call (cffi:null-pointer) (cffi:null-pointer) 0
                                 (cffi:null-pointer) 0 out 0)))
    (is (= 0 (pymodgen::pmg-call (cffi:null-pointer) (cffi:null-pointer) 3
                                 (cffi:null-pointer) 0 out 0)))
    (is (= 0 (pymodgen::pmg-classify (cffi:null-pointer) out))))
  (pymodgen::pmg-error-clear)
  (is (= -1 (pymodgen::pmg-len (cffi:null-pointer))))
  (pymodgen::pmg-decref (cffi:null-pointer))
  (pymodgen::pmg-decref-deferred (cffi:null-pointer))
  (is (eql 4 (pycall "len" "four")) "still alive after all that"))

(test calls-while-stopped-signal
  (pystop)
  (is (not (python-alive-p)))
  (signals python-not-alive-error (pymodgen::check-pointer (pymodgen::pmg-long 1)))
  (signals python-not-alive-error
    (when (zerop (pymodgen::pmg-gil-enter)) (pymodgen::signal-last-error)))
  (pystart)
  (is (python-alive-p))
  (is (eql 2 (pycall "len" "ab"))))

(test cyclic-and-deep-containers
  (raw-pyexec "cyc = [1]
cyc.append(cyc)")
  (signals error (pyvalue "cyc"))
  (is (typep (with-remote-objects (pyvalue "cyc")) 'pyobject-wrapper))
  (let ((v (vector 1 nil)))
    (setf (aref v 1) v)
    (signals circular-structure-error (pycall "len" v)))
  (let ((l (list 1 2)))
    (setf (cdr (last l)) l)
    (signals circular-structure-error (pycall "len" l)))
  ;; (the printed forms of circular structure are checked in a child image: robustness.lisp)
  (let ((deep (let ((x 0)) (dotimes (i 100 x) (setf x (vector x))))))
    (is (= 1 (pycall "len" deep)) "moderate nesting is fine"))
  (let ((c (handler-case (pycall "len" (let ((x 0)) (dotimes (i 2000 x) (setf x (list x)))))
             (error (c) c))))
    (is (typep c 'python-conversion-error))
    (is (not (typep c 'circular-structure-error)))
    (is (search "nested more than 1000 deep" (princ-to-string c))))
  (let ((c (handler-case (pycall "str" (list* 1 2 3)) (error (c) c))))
    (is (typep c 'python-conversion-error))
    (is (search "dotted list" (princ-to-string c))))
  (is (equal "3" (pycall "str" 3)) "and Python is fine afterwards"))

(test shared-structure-is-converted-once
  ;; shared containers arrive as one Python object, as pickle and copy.deepcopy keep them;
  ;; unshared ones as distinct objects; tails shared between lists do not make them shared
  (let ((v (vector 1 2)) (w (vector 1 2)) (tail (list 3 4)))
    (is (eq t (pycall "lambda a: a[0] is a[1]" (list v v))))
    (is (eq nil (pycall "lambda a: a[0] is a[1]" (list v w))))
    (is (equalp #(t #(1 2 5 3 4) #(5 3 4))
                (pycall "lambda a, b: [a[0] is a[1], a[1] + list(b), list(b)]" (vector v v) (list* 5 tail))))
    (is (eq nil (pycall "lambda a: a[0] is a[1]" (list (list* 1 tail) (list* 2 tail)))))
    (let ((h (make-hash-table :test #'equal)))
      (setf (gethash "a" h) v (gethash "b" h) v)
      (is (eq t (pycall "lambda d: d['a'] is d['b']" h))))
    ;; 2^40 paths through 41 distinct lists
    (let ((x (list 1)))
      (dotimes (i 40) (setf x (list x x)))
      (is (eql 2 (pycall "len" x))))
    ;; sharing with a pythonizer (the record keeps its own reference)
    (is (equalp #(#(1 2) #(1 2))
                (with-pythonizers ((vector "tuple"))
                  (pycall "lambda a: [list(x) for x in a]" (list v v)))))
    (is (equal "3" (pycall "str" 3)))))

(defmacro type-error-of (form)
  `(handler-case (progn ,form nil)
     (pymodgen-type-error (c) c)
     (error (c) (format nil "not a pymodgen-type-error: ~S ~A" (type-of c) c))))

(test runtime-entries-say-what-they-accept
  ;; each entry given an argument of a type it does not take: a PYMODGEN-TYPE-ERROR (a
  ;; TYPE-ERROR) naming the entry and what it accepts
  (dolist (case `((pycall ,(lambda () (pycall 42)) "a Python function designator")
                  (pycall ,(lambda () (pycall '(1 2) 3)) "a Python function designator")
                  (pycall ,(lambda () (pycall #\a)) "a Python function designator")
                  (pyvalue ,(lambda () (pyvalue 42)) "a Python name")
                  ("(setf pyvalue)" ,(lambda () (setf (pyvalue 42) 1)) "a Python name")
                  (pyslot-value ,(lambda () (pyslot-value "abc" 42)) "a Python name")
                  ("(setf pyslot-value)" ,(lambda () (setf (pyslot-value "abc" 1.5) 1)) "a Python name")
                  (pymethod ,(lambda () (pymethod "abc" 42)) "a method name")
                  (raw-pyeval ,(lambda () (raw-pyeval 42)) "a string of Python code")
                  (raw-pyeval ,(lambda () (raw-pyeval "1 +" 2)) "a string of Python code")
                  (raw-pyexec ,(lambda () (raw-pyexec 'x)) "a string of Python code")
                  (import-module ,(lambda () (import-module 42)) "a module name")
                  (import-module ,(lambda () (import-module "math" :as 42)) "for :AS")
                  (import-function ,(lambda () (import-function "sqrt" 42)) "a module name")
                  (import-function ,(lambda () (import-function 42 "math")) "a Python name")
                  (export-function ,(lambda () (export-function 42 "f")) "a Lisp function")
                  (export-function ,(lambda () (export-function #'identity 42)) "a Python name")
                  (pygenerator ,(lambda () (pygenerator "no" nil)) "a Lisp function")
                  (python-object-type ,(lambda () (python-object-type 42)) "a pyobject-wrapper")
                  (pybytes ,(lambda () (pybytes "abc")) "a sequence of octets")
                  (pybytes ,(lambda () (pybytes '(1 256))) "a sequence of octets")
                  (pybytes ,(lambda () (pybytes 42)) "a sequence of octets")
                  (defpymodule ,(lambda () (macroexpand-1 '(defpymodule 42))) "a Python module name")
                  (defpymodule ,(lambda () (macroexpand-1 '(defpymodule "json" nil :lisp-package 42)))
                   ":LISP-PACKAGE")
                  (defpyfun ,(lambda () (macroexpand-1 '(defpyfun "sqrt" 42))) "a Python module name")
                  (nil ,(lambda () (macroexpand-1 '(defpyfun 42))) "a Python name")
                  (defpyfun ,(lambda () (macroexpand-1 '(defpyfun "sqrt" "math" :lisp-package "NO SUCH PACKAGE")))
                   ":LISP-PACKAGE")
                  (defpyfun ,(lambda () (macroexpand-1 '(defpyfun "sqrt" "math" :lisp-fun-name 42)))
                   ":LISP-FUN-NAME")))
    (destructuring-bind (entry thunk accepts) case
      (let* ((c (type-error-of (funcall thunk)))
             (text (princ-to-string c)))
        (is (typep c 'pymodgen-type-error) "~A: ~A" entry text)
        (is (typep c 'type-error))
        (is (search accepts text) "~A: ~S lacks ~S" entry text accepts)
        (when entry
          (is (search (format nil "pymodgen: ~(~A~): " entry) text) "~A: ~S" entry text))
        (is (not (search "fell through" text)) "~A: ~S" entry text))))
  ;; what they do accept still works
  (is (equal "42" (pycall 'str 42)))
  (is (equal "42" (pycall #'princ-to-string 42)))
  (is (eql 3 (pyeval 1 "+" 2)))
  (is (eql 3 (pymethod "abc" '__len__)))
  (is (typep (pybytes #(1 2 255)) 'pyobject-wrapper))
  (is (equal "f" (export-function 'identity "f")))
  (is (eql 5 (pycall "f" 5)) "a symbol's function is exported, not its name"))

(test bad-arguments-to-the-generated-contract
  (signals error (%call-cell (%callable-cell "math" "sqrt") #(1) nil))
  (signals error (%call-cell (%callable-cell "math" "sqrt") '(4) '("x")))
  (signals error (%call-cell "not a cell" '(4) nil))
  (signals error (%callable-cell 'math "sqrt"))
  (is (eql 2d0 (%call-cell (%callable-cell "math" "sqrt") '(4) nil))))

(test python-version-mismatch-is-a-clear-error
  ;; an "interpreter" claiming Python 3.99 while the runtime was built for this one
  (let* ((config pymodgen::*python-config*)
         (fake (format nil "/tmp/pymodgen-fake-python-~D" (%getpid))))
    (with-open-file (s fake :direction :output :if-exists :supersede)
      (format s "#!/bin/sh~%printf '%s\\n' ~S ~S ~S 3.99.0 3.99~%"
              (pymodgen::python-executable config) (pymodgen::python-prefix config)
              (pymodgen::python-libpython config)))
    (uiop:run-program (list "chmod" "755" fake))
    (unwind-protect
         (let ((out (uiop:run-program
                     ;; (env(1): UIOP:RUN-PROGRAM's :ENVIRONMENT is ignored by ECL's ASDF 3.1.8)
                     (list* "env" (format nil "PYMODGEN_PYTHON=~A" fake)
                      (%lisp-command
                      (list "(require :asdf)"
                            (format nil "(push #p~S asdf:*central-registry*)"
                                    (namestring (asdf:system-source-directory "pymodgen")))
                            "(handler-case (progn (asdf:load-system \"pymodgen\") (print :loaded)) (error (c) (format t \"~&CAUGHT: ~A~%\" c)))")))
                     :output :string :error-output :output :ignore-error-status t)))
           (is (search "CAUGHT:" out) "~A" out)
           (is (search "was built for Python" out))
           (is (search "3.99" out)))
      (delete-file fake))))
