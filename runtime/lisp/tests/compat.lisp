;;;; tests/compat.lisp -- py4cl2-cffi drop-in fidelity: code written for py4cl2-cffi, run on
;;;; package PY4CL2-CFFI, behaves as py4cl2-cffi's documentation and source describe
;;;; (issue 14). Each test names the py4cl2-cffi behaviour it checks.

(defpackage #:pymodgen-compat-tests
  (:use #:cl #:py4cl2-cffi #:fiveam))

(in-package #:pymodgen-compat-tests)

(def-suite compat :in pymodgen-tests::pymodgen
  :description "py4cl2-cffi code runs unchanged on package PY4CL2-CFFI.")
(in-suite compat)

(defstruct compat-point x y)

(defclass compat-thing ()
  ((value :initarg :value :accessor compat-value)))

(defmethod python-getattr ((o compat-thing) slot-name)
  (if (string= slot-name "value")
      (compat-value o)
      (call-next-method)))

;;; 1. A python-function designator that is not a name is Python code

(test designator-python-code
  (is (eql 9 (pycall "lambda x: x*x" 3)))
  (let ((table (make-hash-table :test #'equal)))
    (setf (gethash "more" table) "data")
    (is (equal "data" (pycall "lambda d: d[\"more\"]" table))))
  (is (eql 7 (pycall "lambda x: x.value" (make-instance 'compat-thing :value 7))))
  ;; the same text in a variable (not a compile-time constant) is code as well
  (let ((code (format nil "lambda a, b=10: a + b")))
    (is (eql 13 (pycall code 3)))
    (is (eql 5 (pycall code 3 :b 2))))
  ;; names still resolve at each call: a redefinition is seen
  (raw-pyexec "def compat_f(x): return x + 1")
  (is (eql 2 (pycall "compat_f" 1)))
  (raw-pyexec "def compat_f(x): return x + 2")
  (is (eql 3 (pycall "compat_f" 1)))
  ;; code is evaluated at each call too (it may refer to state that changes)
  (raw-pyexec "compat_handlers = {'a': lambda: 1}")
  (is (eql 1 (pycall "compat_handlers['a']")))
  (raw-pyexec "compat_handlers['a'] = lambda: 2")
  (is (eql 2 (pycall "compat_handlers['a']")))
  ;; bad code is a pyerror, not a crash
  (signals pyerror (pycall "lambda x: (" 1)))

(test designator-in-pythonizers-and-pymethod
  (is (equalp '(1 2 3) (with-pythonizers ((vector "lambda v: tuple(v)"))
                         (pycall "lambda x: x" #(1 2 3)))))
  (is (equal "HELLO" (pymethod "hello" "upper"))))

;;; 2. chain / chain*

(test chain-grammar
  ;; a string head is a Python string
  (is (equal "Hello world" (chain "hello {0}" (format "world") (capitalize))))
  (is (equal "Hello world" (chain* "hello {0}" '(format "world") '(capitalize))))
  (let ((format-str "hello {0}") (argument "world"))
    (is (equal "Hello world" (chain* format-str `(format ,argument) '(capitalize)))))
  ;; symbols and strings as method names; keyword arguments
  (is (equalp #("a" "b") (chain* "a,b" '(split :sep ","))))
  (is (equalp #("a" "b") (chain* "a,b" '("split" ","))))
  (let ((x 3))
    (is (equal "***abc***" (chain "abc" (center (* 3 x) "*")))))
  ;; a call as the head
  (is (equal "ABC" (chain* '("str" "abc") '("upper"))))
  (is (equal "ABC" (chain ("str" "abc") (upper))))
  ;; (aref obj i j), with slices
  (let ((nested (with-remote-objects (raw-pyeval "[[1, 2, 3], [4, 5, 6]]"))))
    (is (eql 6 (chain* `(aref ,nested 1) '(aref 2))))
    (is (equalp #(4 5) (chain* `(aref ,nested 1) '(aref (slice 0 2)))))
    (is (equalp #(5 6) (chain* nested '(aref 1) '(aref (slice 1 nil))))))
  (let ((m (with-remote-objects (raw-pyeval "__import__('numpy').arange(6).reshape(2, 3)"))))
    (is (eql 5 (chain* `(aref ,m 1 2))))
    (is (equalp #(4 5) (chain* `(aref ,m 1 (slice 1 3))))))
  ;; (@ obj attr): attribute access; nested chains
  (raw-pyexec "import sys")
  (is (eql 3 (chain (@ sys version-info) (aref 0))))
  (is (eql 3 (chain sys version-info (aref 0))))
  (is (eql 3 (chain* (with-remote-objects (pyvalue "sys")) '(@ "version_info") '(aref 0))))
  (is (eql 11 (chain* (with-remote-objects (pyvalue "sys")) 'version-info
                      (list "__getitem__" (chain* '("int" "1"))))))
  ;; a Lisp object head reads attributes through python-getattr
  (is (eql 4 (chain* (make-instance 'compat-thing :value 4) 'value))))

(test setf-chain
  (raw-pyexec "class CompatObj: pass
compat_obj = CompatObj()")
  (let ((obj (with-remote-objects (pyvalue "compat_obj"))))
    (is (eql 21 (setf (chain* obj 'data-attrib) 21)))
    (is (eql 21 (raw-pyeval "compat_obj.data_attrib")))
    (setf (chain* obj "otherAttrib") "x")
    (is (equal "x" (raw-pyeval "compat_obj.otherAttrib"))))
  (let ((a (with-remote-objects (raw-pyeval "[1, 2, 3]"))))
    (is (eql 4 (setf (chain* `(aref ,a 0)) 4)))
    (setf (chain* a '(aref 2)) 9)
    (is (equalp #(4 2 9) (lispify a))))
  (raw-pyexec "compat_list = [0, 0]")
  (setf (chain compat-list (aref 1)) 5)
  (is (equalp #(0 5) (pyvalue "compat_list")))
  (signals error (setf (chain* "abc" '(upper)) 1)))

;;; 3. (setf pyeval)

(test setf-pyeval
  (is (eql 42 (setf (pyeval "compat_test_value") 42)))
  (is (eql 42 (pyeval "compat_test_value")))
  (setf (pyeval "compat_test_value") (list 1 "two"))
  (is (equal '(1 "two") (pyeval "compat_test_value"))))

(test pyeval-number-texts
  ;; pyeval / pyexec pass strings that read as numbers as Python strings
  (is (equal "42" (pyeval "42")))
  (is (equal "-1.5" (pyeval "-1.5")))
  (is (eql 42 (raw-pyeval "42")))
  (is (eql 5 (pyeval "len(" "12345" ")")))
  (is (eql 42 (pyeval "40 + 2")))
  (is (equal "1/2" (pyeval "1/2")) "a Lisp ratio text")
  (signals pyerror (pyeval "1/0"))     ; not a number in Lisp: Python code
  (let ((text (copy-seq "7")))          ; not a compile-time constant
    (is (equal "7" (pyeval text)))))

;;; 4. Floats: single-floats stay single-floats; infinities and NaN of both widths

(test single-floats-round-trip
  (is (eql 1.0 (pyeval 1.0)))
  (is (eql 1.0e5 (pyeval 1.0e5)))
  (is (eql 1.5f0 (pycall "lambda x: x" 1.5f0)))
  (is (eql 2.5d0 (pycall "lambda x: x" 2.5d0)))
  (is (eql 0.5f0 (raw-pyeval "__import__('numpy').float32(0.5)")))
  (is (eql 0.5d0 (raw-pyeval "__import__('numpy').float64(0.5)")))
  (is (eql 0.5d0 (raw-pyeval "0.5")))
  (is (eql 3.0f0 (pycall "lambda x: x * 2" 1.5f0)) "float32 arithmetic stays float32")
  (is (equalp #(1.0 2.0) (pycall "lambda x: x" (vector 1.0 2.0)))))

(test float-infinities-and-nan
  (is (eql sb-ext:single-float-positive-infinity (raw-pyeval "__import__('numpy').float32('inf')")))
  (is (eql sb-ext:single-float-negative-infinity (raw-pyeval "-__import__('numpy').float32('inf')")))
  (is (eql sb-ext:double-float-positive-infinity (raw-pyeval "float('inf')")))
  (is (eql sb-ext:double-float-negative-infinity (raw-pyeval "float('-inf')")))
  (let ((n32 (raw-pyeval "__import__('numpy').float32('nan')"))
        (n64 (raw-pyeval "float('nan')")))
    (is (typep n32 'single-float))
    (is (typep n64 'double-float))
    (is (sb-ext:float-nan-p n32))
    (is (sb-ext:float-nan-p n64))
    (is (eq t (pycall "lambda x: x != x" n32)))
    (is (eq t (pycall "lambda x: x != x" n64)))
    (is (sb-ext:float-nan-p (pycall "lambda x: x" n32))))
  (dolist (inf (list sb-ext:single-float-positive-infinity sb-ext:single-float-negative-infinity
                     sb-ext:double-float-positive-infinity sb-ext:double-float-negative-infinity))
    (is (eql inf (pycall "lambda x: x" inf)) "~A round trip" inf))
  (is (equal "inf" (pycall "str" sb-ext:single-float-positive-infinity)))
  (is (equal "<class 'numpy.float32'>"
             (pycall "str" (pycall "type" sb-ext:single-float-positive-infinity)))))
