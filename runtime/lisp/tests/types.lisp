;;;; tests/types.lisp -- round trips of every translated type, against real Python.

(in-package #:pymodgen-tests)

(def-suite types :in pymodgen)
(in-suite types)

(defun ensure-ident ()
  "Defines ident() in __main__ (the stress suite's pystop clears __main__)."
  (raw-pyexec "def ident(x): return x"))

(defmacro deftest (name &body body)
  `(test ,name (ensure-ident) ,@body))

(deftest integers-of-any-size
  (dolist (n (list 0 1 -1 255 256 most-positive-fixnum most-negative-fixnum
                   (1- (expt 2 63)) (- (expt 2 63)) (expt 2 63) (expt 2 64) (- (expt 2 100))
                   (expt 7 200) (- (expt 3 333))))
    (is (eql n (pycall "ident" n)) "identity ~A" n)
    (is (equal (format nil "~D" n) (pycall "str" n)))
    (is (eql n (pycall "int" (format nil "~D" n)))))
  (is (eql (expt 2 200) (pyeval "2**200")))
  (is (eql (- (expt 10 40)) (pyeval "-10**40")))
  (is (eql 5 (pycall "int" 5.7d0))))

(deftest ratios-and-fractions
  (is (eql 1/3 (pycall "ident" 1/3)))
  (is (equal "1/3" (pycall "str" 1/3)))
  (is (eql -7/2 (pyeval "__import__('fractions').Fraction(-7, 2)")))
  (is (eql (/ (expt 2 70) 3) (pycall "ident" (/ (expt 2 70) 3)))))

(deftest floats
  (is (eql 1.5d0 (pycall "ident" 1.5d0)))
  (is (eql 1.5d0 (pycall "ident" 1.5f0)) "single-floats reach Python as float")
  (is (eql most-positive-double-float (pycall "ident" most-positive-double-float)))
  (is (eql least-positive-double-float (pycall "ident" least-positive-double-float)))
  (is (eql -0d0 (pycall "ident" -0d0)))
  (is (eql 0.1d0 (raw-pyeval "0.1")))
  (is (equal "0.1" (pyeval "0.1")) "pyeval passes number texts as strings (py4cl2-cffi)")
  (is (eql 2.5d0 (pyeval "__import__('numpy').float64(2.5)")))
  (is (eql 7 (pyeval "__import__('numpy').int32(7)")))
  (is (eql 0.5f0 (pyeval "__import__('numpy').float32(0.5)"))))

(deftest complex-numbers
  (is (eql #C(1d0 2d0) (pyeval "1+2j")))
  (is (eql #C(1d0 -2.5d0) (pycall "ident" #C(1d0 -2.5d0))))
  (is (eql #C(3d0 4d0) (pycall "ident" #C(3 4))))
  (is (eql 5d0 (pycall "abs" #C(3d0 4d0)))))

(deftest unicode-strings
  (dolist (s (list "" "hello" "héllo wörld" "λ → ∞" "日本語テキスト" "emoji 😀 🎉"
                   (coerce "base" 'simple-base-string)
                   (make-string 3 :initial-element (code-char #x10FFFF))
                   (format nil "tab~Cnewline~%nul~Cend" #\Tab (code-char 0))))
    (is (string= s (pycall "ident" s)) "round trip ~S" s)
    (is (= (length s) (pycall "len" s)) "length of ~S" s))
  (is (= #x1F600 (pycall "ord" "😀")))
  (is (string= (string (code-char #x1F600)) (pycall "chr" #x1F600)))
  (is (string= "HÉLLO" (pymethod "héllo" "upper")))
  (is (string= (format nil "~C" (code-char 233)) (pyeval "'\\xe9'")))
  (is (typep (pycall "str" 1) '(simple-array character (*)))))

(deftest booleans-and-none
  (is (eq t (pyeval "True")))
  (is (eq nil (pyeval "False")))
  (is (eq t (pycall "ident" t)))
  (is (eq nil (pycall "ident" nil)))
  (is (equal "True" (pycall "str" t)))
  (is (equal "False" (pycall "str" nil)))
  (is (eq +py-none+ (pyeval "None")))
  (is (equal "None" (pycall "str" +py-none+)))
  (is (eq t (pyeval "ident(None) is None"))))

(deftest tuples-lists-vectors
  (is (equal '(1 2 3) (pyeval "(1, 2, 3)")))
  (is (equal '(1 "a" 2.5d0) (pycall "ident" '(1 "a" 2.5d0))))
  (is (equal "<class 'tuple'>" (pycall "str" (pycall "type" '(1 2)))))
  (is (eq +py-empty-tuple+ (pyeval "()")))
  (is (equalp #(1 "two" 3.0d0 #(4 5)) (pyeval "[1, 'two', 3.0, [4, 5]]")))
  (is (equalp #(1 "a") (pycall "ident" (vector 1 "a"))))
  (is (equal "<class 'list'>" (pycall "str" (pycall "type" (vector 1 2)))))
  (is (equalp #() (pyeval "[]"))))

(deftest dicts-and-hash-tables
  (let ((h (pyeval "{'a': 1, 'b': [1, 2], 3: 'three', 'A': 2}")))
    (is (typep h 'hash-table))
    (is (= 4 (hash-table-count h)))
    (is (eql 1 (gethash "a" h)))
    (is (eql 2 (gethash "A" h)) "keys are case-sensitive")
    (is (equalp #(1 2) (gethash "b" h)))
    (is (equal "three" (gethash 3 h))))
  (let ((h (make-hash-table :test #'equal)))
    (setf (gethash "x" h) 1 (gethash 2 h) "y")
    (let ((back (pycall "ident" h)))
      (is (eql 1 (gethash "x" back)))
      (is (equal "y" (gethash 2 back))))
    (is (equal "<class 'dict'>" (pycall "str" (pycall "type" h))))))

(deftest sets-bytes-and-other-objects
  (let ((s (pyeval "{1, 2, 3}")))
    (is (typep s 'pyobject-wrapper))
    (is (= 3 (pycall "len" s)))
    (is (equalp #(1 2 3) (pycall "sorted" s)))
    (is (pyobject-wrapper-eq s (pycall "ident" s)) "a wrapper passed back is the same object")
    (is (typep (pyeval "frozenset([1])") 'pyobject-wrapper)))
  (let ((b (pyeval "b'abc\\x00\\xff'")))
    (is (equalp #(97 98 99 0 255) b))
    (is (equal `(simple-array ,(upgraded-array-element-type '(unsigned-byte 8)) (5)) (type-of b))))
  (is (equal "b'\\x01\\x02'" (pycall "repr" (pybytes #(1 2)))))
  (let ((o (pycall "object")))
    (is (typep o 'pyobject-wrapper))
    (is (pyobject-wrapper-eq o o))
    (is (not (pyobject-wrapper-eq o (pycall "object"))))))

(defstruct point x y)
(defmethod python-getattr ((p point) name)
  (cond ((string= name "x") (point-x p))
        ((string= name "y") (point-y p))
        (t (call-next-method))))
(defmethod python-setattr ((p point) name value)
  (cond ((string= name "x") (setf (point-x p) value))
        (t (call-next-method))))

(deftest lisp-objects-seen-from-python
  (let ((p (make-point :x 3 :y 4)))
    (is (eq p (pycall "ident" p)) "a Lisp object comes back as itself")
    (is (eql 7 (pyeval "(lambda p: p.x + p.y)(" p ")")))
    (raw-pyexec "def setx(p, v): p.x = v")
    (pycall "setx" p 10)
    (is (eql 10 (point-x p)))
    (is (equal "AttributeError"
               (handler-case (pyeval "(lambda p: p.z)(" p ")") (pyerror (c) (pyerror-type c)))))
    (is (eq nil (pyeval "hasattr(" p ", 'z')")))
    (is (eq t (pyeval "hasattr(" p ", 'x')")))
    (is (search "POINT" (pycall "repr" p)))))

(deftest pyslot-pymethod-pyref
  (raw-pyexec "class C:
    def __init__(self): self.a = 1
    def add(self, x, y=10): return self.a + x + y")
  (let ((c (pycall "C")))
    (is (eql 1 (pyslot-value c "a")))
    (setf (pyslot-value c "a") 5)
    (is (eql 5 (pyslot-value c 'a)))
    (is (eql 16 (pymethod c "add" 1)))
    (is (eql 8 (pymethod c "add" 1 :y 2)))
    (is (member "a" (pyslot-list c) :test #'string=))
    (is (member "add" (pymethod-list c) :test #'string=)))
  (is (eql 20 (pyref (vector 10 20 30) 1)))
  (is (eql 5 (pyref (pyeval "{'k': 5}") "k")))
  (is (eql 6 (pyref (pyeval "__import__('numpy').arange(12).reshape(3, 4)") 1 2))))

(deftest python-output-goes-to-lisp-streams
  (is (equal (format nil "to lisp λ~%")
             (with-output-to-string (*standard-output*) (pycall "print" "to lisp λ"))))
  (is (equal (format nil "to stderr~%")
             (with-output-to-string (*error-output*)
               (pycall "print" "to stderr" :file (pyvalue "sys.stderr"))))))

(deftest output-capture
  (is (equal (format nil "hi~%") (with-python-output (pycall "print" "hi"))))
  (is (equal (format nil "err~%")
             (with-python-error-output (pycall "print" "err" :file (pyvalue "sys.stderr")))))
  (is (equal (format nil "a~%b~%")
             (with-python-output (pycall "print" "a") (raw-pyexec "print('b')")))))

(deftest eval-exec-and-friends
  (is (eql 5 (pyeval 2 "+" 3)))
  (is (equalp #(1 2 3) (pyeval "list(" (list 1 2 3) ")")))
  (pyexec "zz = " 41 " + 1")
  (is (eql 42 (pyvalue "zz")))
  (is (eql 3 (first (pyversion-info))))
  (is (eql (python-minor-version) (second (pyversion-info))))
  (is (eql 3 (chain* (with-remote-objects (pyvalue "sys")) "version_info" '(aref 0))))
  (is (equal "Hello world" (chain "hello {0}" (format "world") (capitalize))))
  (is (eql 3 (chain sys version_info (aref 0))))
  (is (equalp #(1 2 3)
              (pycall "list" (pygenerator (let ((i 0)) (lambda () (incf i))) 4))))
  (is (search "sqrt" (with-output-to-string (*standard-output*) (pyhelp "math.sqrt")))))

(deftest import-export-defpyfun
  (is (eq t (import-function "sqrt" "math" :as "msqrt")))
  (is (eql 3d0 (pycall "msqrt" 9)))
  (export-function (lambda (x) (* 2 x)) "lisp_double")
  (is (eql 42 (pyeval "lisp_double(21)")))
  (is (eql (expt 2 101) (pyeval "lisp_double(2**100)")))
  (is (eq 'pysqrt (eval '(defpyfun "sqrt" "math" :lisp-fun-name "PYSQRT"))))
  (is (eql 4d0 (funcall 'pysqrt 16)))
  (is (eql 255 (funcall (eval '(progn (defpyfun "int" "builtins" :lisp-fun-name "PYINT") 'pyint))
                        "ff" :base 16))))

(deftest remote-objects
  (let ((w (with-remote-objects (pycall "list" #(1 2)))))
    (is (typep w 'pyobject-wrapper))
    (is (equalp #(1 2) (lispify w))))
  (is (typep (with-remote-objects (pycall "str" 1)) 'pyobject-wrapper))
  (is (equalp #(1 2 3) (with-remote-objects* (pycall "list" #(1 2 3))))))

(deftest defpyfun-arglist-and-docstring
  (eval '(defpyfun "dumps" "json" :lisp-fun-name "JSON-DUMPS" :lisp-package :pymodgen-tests))
  (is (equal "[1, 2]" (funcall 'json-dumps (vector 1 2))))
  (is (equal "{\"a\": 1}" (funcall 'json-dumps (alexandria:plist-hash-table '("a" 1) :test #'equal))))
  (is (equal "[1,2]" (funcall 'json-dumps (vector 1 2) :separators '("," ":"))))
  (is (search "Serialize" (documentation 'json-dumps 'function)))
  ;; the arglist shows typeshed's type too: #:|OBJ: Any|
  (unless-skipped ((not pymodgen::+declared-arglists+)
                   "~A shows a declared lambda list only for functions compiled in a file (this one is EVAL's)"
                   (lisp-implementation-type))
    (is (string= "OBJ: Any" (symbol-name (first (%function-lambda-list 'json-dumps))))))
  (signals error (funcall 'json-dumps)))

(deftest misc-api
  (let ((l (pyeval "[1, 2, 3]")))
    (declare (ignore l)))
  (let ((w (with-remote-objects (pyeval "[1, 2, 3]"))))
    (setf (pyref w 0) 10)
    (is (equalp #(10 2 3) (lispify w)))
    (is (pyobject-wrapper-eq* w w))
    (is (eql 3 (pymethod w "__len__"))))
  (is (equal "None" (pycall "str" +py-none-pointer+)))
  (is (cffi:pointerp +py-empty-tuple-pointer+))
  (let ((*print-pyobject-wrapper-identity* nil))
    (is (equal "[1, 2]" (prin1-to-string (with-remote-objects (pyeval "[1, 2]"))))))
  (let ((*print-pyobject* nil))
    (is (search ":POINTER" (prin1-to-string (with-remote-objects (pyeval "[1, 2]"))))))
  (is (eql 6 (with-pygc (pycall "sum" #(1 2 3)))))
  (disable-pygc)
  (is (typep (pycall "object") 'pyobject-wrapper))
  (enable-pygc)
  (is (equal "a-b" (pymethod "-" "join" #("a" "b"))))
  (is (equal "ABC" (chain* '("str" "abc") '("upper"))))
  (is (typep (make-load-form (with-remote-objects (pyeval "[1, 2]"))) 'cons)))

(deftest nested-and-aborted-output-capture
  (is (equal (list (format nil "outer~%after~%") (format nil "inner~%"))
             (let (inner)
               (list (with-python-output
                       (pycall "print" "outer")
                       (setf inner (with-python-output (pycall "print" "inner")))
                       (pycall "print" "after"))
                     inner))))
  (ignore-errors (with-python-output (pycall "print" "x") (error "abort")))
  (is (equal (format nil "still captured~%") (with-python-output (pycall "print" "still captured"))))
  (is (equal (format nil "to lisp~%")
             (with-output-to-string (*standard-output*) (pycall "print" "to lisp")))
      "an aborted capture restored the stream"))
