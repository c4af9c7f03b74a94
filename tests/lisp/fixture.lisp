;;;; fixture.lisp -- the fixture package (tests/fixtures/python/pymodgen_fixture): lambda
;;;; lists, every parameter kind, CL clashes, classes, attributes, constants.

(in-package #:pymodgen-bindings-tests)

(def-suite fixture :in bindings :description "pymodgen_fixture through generated bindings.")
(in-suite fixture)

(defvar *fixture-loaded* nil)

(defun ensure-fixture ()
  (unless *fixture-loaded*
    (python-path-insert *fixtures*)
    (let ((dir (first (generate '("pymodgen_fixture") :submodules t :pythonpath *fixtures*))))
      (multiple-value-bind (warnings style error) (load-generated dir :force t)
        (when (or warnings style error)
          (error "loading the fixture bindings: ~{~A~^~%~}~@[~%~A~]" (append warnings style) error))))
    (setf *fixture-loaded* t)))

(defun fx (name &rest args) (ensure-fixture) (apply #'call "pymodgen_fixture" name args))

(def-test fixture-loads-cleanly ()
  (finishes (ensure-fixture))
  (is (find-package "PYMODGEN_FIXTURE"))
  (is (find-package "PYMODGEN_FIXTURE.SHAPES")))

(def-test lambda-lists-are-faithful ()
  (ensure-fixture)
  (flet ((arglist (name) (%function-lambda-list (sym "pymodgen_fixture" name)))
         (s (name) (intern (string-upcase name) "PYMODGEN_FIXTURE")))
    (is (equal `(,(s "a") ,(s "b")) (arglist "add")))
    ;; everything(a, b=2, /, c=3, *args, d, e=5, **kwargs)
    (is (equal `(,(s "a") &optional (,(s "b") 2) (,(s "c") 3) &rest ,(s "args")
                 &key ,(s "d") (,(s "e") 5) &allow-other-keys)
               (arglist "everything")))
    ;; T, NIL and PI are renamed (CL constants), their keywords are not.
    (is (equal `(&optional (,(s "t-arg") pymodgen:+py-none+) (,(s "nil-arg") pymodgen:+py-none+)
                           (,(s "pi-arg") pymodgen:+py-none+))
               (arglist "list")))
    ;; Required positional-or-keyword parameters also take keywords, but show as required.
    ;; Annotated ones show their types: (name: str &optional (punctuation: str "!")).
    (is (equal '("NAME: str" &optional ("PUNCTUATION: str" "!"))
               (mapcar (lambda (e) (cond ((consp e) (list (symbol-name (first e)) (second e)))
                                         ((member e lambda-list-keywords) e)
                                         (t (symbol-name e))))
                       (arglist "greet"))))
    (is (equal `(,(s "obj")) (arglist "type")))
    ;; Positional-only ones only: still a plain lambda list.
    (is (equal `(,(s "x") ,(s "y")) (arglist "positional-only")))
    ;; Non-literal defaults are not restated.
    (is (equal (list (s "x") '&optional (s "key") (s "marker") (s "items") (s "mapping"))
               (arglist "nonliteral-defaults")))))

(def-test docstrings ()
  (ensure-fixture)
  (let ((doc (documentation (sym "pymodgen_fixture" "everything") 'function)))
    (is (search "Every parameter kind" doc))
    (is (search "Python: pymodgen_fixture.everything(a, b=2, /, c=3, *args, d, e=5, **kwargs)" doc)))
  (is (search "Adds `by`" (documentation (sym "pymodgen_fixture" "counter-increment") 'function))))

(defun hash-alist (h)
  (sort (loop for k being the hash-keys of h using (hash-value v) collect (cons k v))
        #'string< :key #'car))

(def-test python-calling-convention ()
  ;; required positionally; optional positional ones positionally or by keyword; then keywords.
  ;; (The fixture's everything() returns list(args) through its own `list`: [args, None, None].)
  (destructuring-bind (a b c args d e kwargs) (coerce (fx "everything" 1 :d 4) 'list)
    (is (equalp '(1 2 3 4 5) (list a b c d e)))
    (is (zerop (hash-table-count kwargs))))
  (destructuring-bind (a b c args d e kwargs) (coerce (fx "everything" 1 20 30 40 50 :d 4 :e 6 :zz 7 "camelCase" 8) 'list)
    (is (equalp '(1 20 30 4 6) (list a b c d e)))
    (is (equal '(40 50) (aref args 0)))
    (is (equal '(("camelCase" . 8) ("zz" . 7)) (hash-alist kwargs))))
  (destructuring-bind (args kwargs) (coerce (fx "echo" 1 "two" :three 3) 'list)
    (is (equal '(1 "two") (aref args 0)))
    (is (equal '(("three" . 3)) (hash-alist kwargs))))
  (is (= 30 (aref (fx "everything" 1 :c 30 :d 4) 2)) "a positional-or-keyword parameter by keyword")
  (is (string= "Hello, x!" (fx "greet" "x")))
  (is (string= "Hello, x?" (fx "greet" "x" "?")))
  (is (string= "Hello, x?" (fx "greet" "x" :punctuation "?")))
  (is (equalp #(t 3) (fx "keyword-only" :flag t :count 3)))
  (is (= 5 (fx "positional-only" 8 3)))
  (is (= 6 (fx "star-args" 1 2 3)))
  (is (equal '(("a_b" . 1)) (hash-alist (fx "star-kwargs" :a-b 1))))
  (is (= 5 (fx "max" 1 5 3)))
  (is (= 11 (fx "partial-add" 1))))

(defun argument-error-text (thunk)
  "The report of the PYTHON-ARGUMENT-ERROR that THUNK signals (NIL if it signals none)."
  (handler-case (progn (funcall thunk) nil)
    (python-argument-error (e) (princ-to-string e))))

(def-test required-positional-or-keyword-by-keyword ()
  ;; add(a, b): positionally, by keyword, leading ones positionally and the rest by keyword.
  (is (= 3 (fx "add" 1 2)))
  (is (= 3 (fx "add" 1 :b 2)))
  (is (= 3 (fx "add" :a 1 :b 2)))
  (is (= 3 (fx "add" :b 2 :a 1)))
  ;; greet(name, punctuation='!')
  (is (string= "Hello, x!" (fx "greet" :name "x")))
  (is (string= "Hello, x?" (fx "greet" :name "x" :punctuation "?")))
  (is (string= "Hello, x?" (fx "greet" :punctuation "?" :name "x")))
  (is (string= "Hello, x?" (fx "greet" "x" :punctuation "?")))
  (is (= 11 (fx "partial-add" :b 1)) "functools.partial: the remaining parameter")
  (is (equalp #(1 t t #(1 2)) (subseq (fx "nonliteral-defaults" :x 1) 0 4)))
  (let ((r (fx "everything" 1 :c 30 :d 4 :b 20 :zz 0)))
    (is (= 2 (aref r 1)) "b is positional-only: not set by :b")
    (is (equal '(("b" . 20) ("zz" . 0)) (hash-alist (aref r 6))) ":b goes to **kwargs"))
  ;; Constructors and methods: self stays positional, the rest takes keywords.
  (is (string= "circle with area 3.14"
               (call "pymodgen_fixture.shapes" "shape-describe"
                     (call "pymodgen_fixture.shapes" "circle" :radius 1))))
  (is (string= "circle with area 3.1"
               (call "pymodgen_fixture.shapes" "shape-describe"
                     (call "pymodgen_fixture.shapes" "circle" 1) :precision 1))))

(def-test keyword-or-value-reading ()
  ;; type(obj): a keyword that names no parameter is a value, as before.
  (let ((keyword-type (fx "type" :foo)))
    (is (string= "int" (fx "type" :obj 3)) "Python's reading: obj=3")
    ;; :obj with nothing after it cannot be a keyword argument: it is the value.
    (is (string= keyword-type (fx "type" :obj)))
    ;; The keyword as a value, by keyword.
    (is (string= keyword-type (fx "type" :obj :obj)))
    ;; A keyword in a positional-only slot is always a value: everything(a, b=2, /, ...).
    (let ((r (fx "everything" :a 1 :d 4)))
      (is (not (eql 1 (aref r 0))) "a is the value :a")
      (is (equal (aref r 0) (aref (fx "everything" :a :d 4) 0)))
      (is (equalp '(1 3 4 5) (list (aref r 1) (aref r 2) (aref r 4) (aref r 5)))))
    ;; positional_only(x, y, /) keeps its plain lambda list (x y): :y is y's value.
    (signals program-error (fx "positional-only" 1 :y 2))))

(def-test missing-or-twice-given-arguments ()
  (flet ((text (thunk) (or (argument-error-text thunk) "")))
    (is (search "missing required argument: b (positionally or as :B)" (text (lambda () (fx "add" 1)))))
    (is (search "pymodgen_fixture.add: " (text (lambda () (fx "add" 1)))))
    (is (search "missing required argument: b" (text (lambda () (fx "add" :a 1)))))
    (is (search "missing required argument: a" (text (lambda () (fx "add" :b 2)))))
    (is (search "missing required arguments: a (positionally or as :A), b" (text (lambda () (fx "add")))))
    (is (search "missing required argument: name" (text (lambda () (fx "greet" :punctuation "?")))))
    (is (search "argument a given twice (positionally and as :A)" (text (lambda () (fx "add" 1 :a 2)))))
    (is (search "argument a given twice (positionally and as :A)" (text (lambda () (fx "add" 1 2 :a 3)))))
    (is (search "argument b given twice (by keyword :B)" (text (lambda () (fx "add" 1 :b 2 :b 3)))))
    (is (search "argument punctuation given twice" (text (lambda () (fx "greet" "x" "?" :punctuation "!")))))
    (is (search "too many positional arguments" (text (lambda () (fx "add" 1 2 3)))))))

(def-test omitted-arguments-take-python-defaults ()
  (let ((r (fx "nonliteral-defaults" 1)))
    (is (equalp #(1 t t #(1 2)) (subseq r 0 4)))
    (is (equal '(("a" . 1)) (hash-alist (aref r 4)))))
  (let ((r (fx "literal-defaults")))
    (is (= -1 (aref r 0)))
    (is (= 1d-5 (aref r 1)))
    (is (equal '(1 2d0 "x") (aref r 5)))
    (is (= (expt 10 30) (aref r 6)))))

(def-test cl-clashes-are-shadowed ()
  (ensure-fixture)
  (is (not (eq (sym "pymodgen_fixture" "list") 'cl:list)))
  (is (not (eq (sym "pymodgen_fixture" "max") 'cl:max)))
  (is (equalp #(1 2 3) (fx "list" 1 2 3)))
  (is (equalp #(1 2 3) (fx "list" :t 1 :nil 2 :pi 3)))
  (is (string= "int" (fx "type" 3))))

(def-test argument-errors ()
  (signals pymodgen::python-argument-error (fx "greet" "x" :no-such-keyword 1))
  (signals pymodgen::python-argument-error (fx "greet" "x" "?" "too many"))
  (signals pyerror (fx "positional-only" 1 "a")))

(def-test classes-methods-attributes ()
  (let ((c (fx "counter" 5 :name "c")))
    (is (= 7 (fx "counter-increment" c 2)))
    (is (= 8 (fx "counter-increment" c)))
    (is (= 16 (fx "counter-doubled" c)))
    (is (= 8 (fx "counter-current" c)))
    (funcall (fdefinition (list 'setf (sym "pymodgen_fixture" "counter-current"))) 42 c)
    (is (= 42 (fx "counter-current" c))))
  (is (= 0 (fx "counter-zero")))
  (is (= 3 (fx "counter-current" (fx "counter-starting-at" 3))))
  (is (string= "square with area 4.00"
               (call "pymodgen_fixture.shapes" "shape-describe" (call "pymodgen_fixture.shapes" "square" 2)))))

(def-test constants ()
  (ensure-fixture)
  (flet ((value (name) (eval (sym "pymodgen_fixture" name))))
    (is (= 42 (value "+answer+")))
    (is (= (expt 2 100) (value "+big+")))
    (is (string= "pymodgen ✓" (value "+name+")))
    (is (equal '(1 "two") (value "+pair+")))
    (is (eq t (value "+flag+")))))
