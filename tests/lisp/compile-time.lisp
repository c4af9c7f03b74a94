;;;; compile-time.lisp -- the compile-time route of generated functions: wrong calls warn when
;;;; they are compiled, right calls compile silently into a direct call that behaves exactly
;;;; as the run-time parser of the &REST lambda list; declared result types.

(in-package #:pymodgen-bindings-tests)

(def-suite compile-time :in bindings
  :description "Compile-time checks of calls of generated functions, and their result types.")
(in-suite compile-time)

(defun compile-conditions (form)
  "Compiles (LAMBDA () FORM) with COMPILE. Returns (values FUNCTION WARNINGS STYLE-WARNINGS):
the full warnings and the style warnings signalled (as condition objects)."
  (let ((warnings '()) (style '()))
    (let ((f (handler-bind ((style-warning (lambda (c) (push c style) (muffle-warning c)))
                            (warning (lambda (c) (push c warnings) (muffle-warning c))))
               (let ((*error-output* (make-broadcast-stream)))
                 (compile nil `(lambda () ,form))))))
      (values f (nreverse warnings) (nreverse style)))))

(defmacro unless-type-warnings (() &body body)
  "BODY, which checks that the compiler warns about a declared result type used where
another type is wanted; skipped (visibly) where the compiler does not infer types so."
  `(if pymodgen::+compiler-warns-on-type-conflicts+
       (progn ,@body)
       (skip "~A's compiler does not warn about type conflicts it can prove (SBCL's does)"
             (lisp-implementation-type))))

(defun fixture-form (name &rest args)
  (ensure-fixture)
  `(,(sym "pymodgen_fixture" name) ,@args))

(defun call-warning-text (form)
  "The text of the PYTHON-CALL-WARNING compiling FORM draws, or NIL (and no other warning)."
  (multiple-value-bind (f warnings) (compile-conditions form)
    (declare (ignore f))
    (let ((ours (remove-if-not (lambda (c) (typep c 'pymodgen:python-call-warning)) warnings)))
      (and ours (princ-to-string (first ours))))))

(def-test wrong-calls-warn-at-compile-time ()
  (dolist (case `((("add" 1 2 3) "too many positional arguments: 3")
                  (("add" 1) "missing required argument: b")
                  (("add" 1 2 :c 3) "unknown keyword argument :C")
                  (("add" 1 :b 2 :b 3) "given twice")
                  (("add" :a 1 :a 2) "given twice")
                  (("keyword-only" :flg t) "unknown keyword argument :FLG")
                  (("keyword-only" :flag) "has no value")
                  (("greet" "x" "!" "?") "too many positional arguments")
                  (("positional-only" 1) "called with 1 argument, but takes 2")
                  (("positional-only" 1 2 3) "called with 3 arguments, but takes 2")
                  (("everything") "called with 0 arguments, but takes at least 1")
                  ;; a variable cannot rescue this one
                  (("add" x) "missing required argument")
                  (("greet" "x" :punctuation) "has no value")))
    (destructuring-bind ((name &rest args) expected) case
      (let* ((form (apply #'fixture-form name (sublis '((x . *print-base*)) args)))
             (text (call-warning-text form)))
        (is (and text (search expected text)) "~S: expected a warning with ~S, got ~S" form expected text)
        ;; the warning names the function and shows its Python signature
        (is (and text (search (format nil "~S" (first form)) text)) "~S: ~S" form text)
        (is (and text (search (format nil "Python: pymodgen_fixture.~A(" (substitute #\_ #\- name)) text))
            "~S: ~S" form text)))))

(def-test right-calls-compile-silently ()
  (dolist (form `(("add" 1 2) ("add" :a 1 :b 2) ("add" 1 :b 2) ("add" *print-base* *print-radix*)
                  ("greet" "x") ("greet" "x" "?") ("greet" "x" :punctuation "?") ("greet" :name "x")
                  ("everything" 1 2 3 4 5 :d 4) ("everything" 1 :d 4 :zz 1 "camelCase" 2)
                  ("keyword-only") ("keyword-only" :flag t :count 2)
                  ("echo") ("echo" 1 2 3 :x 1) ("star-kwargs" :a 1 "B" 2)
                  ("positional-only" 1 2) ("max" 1 2 3 :key pymodgen:+py-none+)
                  ("type" :obj 3) ("type" :obj)))
    (let ((form (apply #'fixture-form form)))
      (multiple-value-bind (f warnings style) (compile-conditions form)
        (is (functionp f))
        (is (null warnings) "~S: ~{~A~^; ~}" form warnings)
        (is (null style) "~S: ~{~A~^; ~}" form style)))))

(def-test a-call-that-only-variables-could-make-right-is-a-style-warning ()
  ;; (add x y z) is add(x, b=z) when y holds :b at run time: not certainly wrong.
  (multiple-value-bind (f warnings style)
      (compile-conditions (fixture-form "add" '*print-base* '*print-radix* '*print-case*))
    (declare (ignore f))
    (is (null warnings) "~{~A~^; ~}" warnings)
    (is (= 1 (length style)))
    (is (typep (first style) 'pymodgen:python-call-style-warning))
    (is (search "unless a non-constant argument is a keyword" (princ-to-string (first style))))))

(defun outcome (thunk)
  "What calling THUNK gives: its value, or the kind of error."
  (handler-case (funcall thunk)
    (program-error () :argument-error)        ; PYTHON-ARGUMENT-ERROR, or a missing Lisp-required one
    (pyerror (e) (list :pyerror (pyerror-type e)))))

(defun same-outcome-p (name args)
  "Compiles a call of the fixture function NAME with ARGS (constants) and compares what it
does with APPLY of the function (the run-time parser). A compile-time warning must mean a
run-time argument error."
  (let ((runtime (outcome (lambda () (apply (sym "pymodgen_fixture" name) args)))))
    (multiple-value-bind (f warnings)
        (compile-conditions (apply #'fixture-form name (mapcar (lambda (a) `',a) args)))
      (let ((compiled (outcome f)))
        (and (equalp runtime compiled)
             (if (some (lambda (w) (typep w 'pymodgen:python-call-warning)) warnings)
                 (eq runtime :argument-error)
                 t))))))

(def-test compiled-calls-behave-as-the-run-time-parser ()
  ;; Every argument list up to length 3 over a small alphabet: values, the function's
  ;; keywords, a keyword it does not take, a string key. (Up to length 1 where COMPILE runs
  ;; a C compiler for each call, ECL's: ~0.25 s a call here, 1,600 calls would take 7 min.)
  (ensure-fixture)                      ; (SAME-OUTCOME-P looks its functions up first)
  (let ((max-depth (if pymodgen::+cheap-compile+ 3 1))
        (cases '(("add" :a :b) ("everything" :c :d :e) ("echo" :x) ("greet" :name :punctuation)
                 ("keyword-only" :flag :count) ("type" :obj) ("match" :pattern :string :fn)))
        (checked 0) (failures '()))
    (loop for (name . keys) in cases
          do (let ((alphabet (append (list 1 "s") keys (list :zz "camelCase"))))
               (labels ((walk (args depth)
                          (incf checked)
                          (unless (same-outcome-p name args)
                            (push (cons name args) failures))
                          (when (< depth max-depth)
                            (dolist (a alphabet) (walk (append args (list a)) (1+ depth))))))
                 (walk '() 0))))
    (is (> checked (if (= max-depth 3) 1000 40)))
    (is (null failures) "~D of ~D calls differ, e.g. ~{~S~^, ~}" (length failures) checked
        (subseq failures 0 (min 10 (length failures))))))

(def-test keyword-values-in-variables-take-the-run-time-route ()
  ;; The compiled call cannot know that K holds a keyword: it checks, and reads the call as
  ;; the run-time parser does.
  (ensure-fixture)
  (let ((f (compile nil `(lambda (k v) (,(sym "pymodgen_fixture" "greet") "x" k v)))))
    (is (equal "Hello, x?" (funcall f :punctuation "?")))
    (is (eq :argument-error (outcome (lambda () (funcall f "!" "?"))))))
  (let* ((f (compile nil `(lambda (x) (,(sym "pymodgen_fixture" "echo") x 2))))
         (positional (funcall f 1))
         (keyword (funcall f :x)))
    ;; (the fixture's echo returns [list(args), kwargs], where its own list(t, nil, pi) is
    ;; [t, nil, pi])
    (is (equal '(1 2) (aref (aref positional 0) 0)))    ; echo(1, 2)
    (is (zerop (hash-table-count (aref positional 1))))
    (is (eql 2 (gethash "x" (aref keyword 1))))))       ; echo(x=2)

(def-test compiled-calls-follow-the-session ()
  ;; The inline call resolves its callable again after PYSTOP/PYSTART, and honours
  ;; WITH-REMOTE-OBJECTS and WITH-LISPIFIERS.
  (ensure-fixture)
  (let ((f (compile nil `(lambda (a b) (,(sym "pymodgen_fixture" "add") a b)))))
    (is (eql 3 (funcall f 1 2)))
    (is (typep (with-remote-objects (funcall f 1 2)) 'pyobject-wrapper))
    (is (eql 4 (with-lispifiers ((integer #'1+)) (funcall f 1 2))))
    (pystop)
    (pystart)
    (python-path-insert *fixtures*)
    (is (eql 7 (funcall f 3 4)))
    (is (equal "ab" (funcall f "a" "b")))))

(def-test compiled-calls-honour-overridden-builtin-lispifiers ()
  ;; DEFINE-LISPIFIER of a type the runtime converts itself ("int") reaches the results of
  ;; inline calls too (the direct route steps aside for it, as PYCALL's does)
  (ensure-fixture)
  (let ((f (compile nil `(lambda (a b) (,(sym "pymodgen_fixture" "add") a b)))))
    (unwind-protect
         (progn
           (define-lispifier "int" (o) (list :int (pycall "str" o)))
           (is (equal '(:int "3") (funcall f 1 2)))
           (is (equal "ab" (funcall f "a" "b"))))
      (remhash "int" pymodgen::*type-lispifiers*)
      (setf pymodgen::*builtin-overrides* nil))
    (is (eql 3 (funcall f 1 2)))))

;;; Declared result types. The bindings are generated from textwrap's manifest with return
;;; types written in (an honest one for dedent, fill and wrap; a lying one for indent, which
;;; returns a str), under their own package so that they do not clash with the stdlib sweep.

(defvar *typed-loaded* nil)

(defun ensure-typed-textwrap ()
  (unless *typed-loaded*
    (let* ((dir (merge-pathnames "typed/" *out*))
           (manifest (merge-pathnames "typed-textwrap.json" dir))
           (text (uiop:run-program (list (pymodgen::pymodgen-executable) "inspect" "textwrap" "--json")
                                   :output :string)))
      (ensure-directories-exist manifest)
      (setf (pyvalue "_pymodgen_typed_manifest") text)
      (raw-pyexec (format nil "import json
m = json.loads(_pymodgen_typed_manifest)
def cls(name, *args):
    t = {'kind': 'class', 'name': name}
    if args: t['args'] = list(args)
    return t
types = {'dedent': cls('builtins.str'), 'fill': cls('builtins.str'),
         'wrap': cls('builtins.list', cls('builtins.str')), 'indent': cls('builtins.int')}
for f in m['functions']:
    if f['name'] in types:
        f['return_type'] = types[f['name']]
        f['returns'] = {'dedent': 'str', 'fill': 'str', 'wrap': 'list[str]', 'indent': 'int'}[f['name']]
with open(~S, 'w') as out:
    json.dump(m, out)" (namestring manifest)))
      (multiple-value-bind (output error-output code)
          (uiop:run-program (list (pymodgen::pymodgen-executable) "generate" "--manifest" (namestring manifest)
                                  "--lang" "lisp" "--out" (namestring dir)
                                  "--lisp-package" "TYPED-TEXTWRAP" "--lisp-system" "pymodgen-typed-textwrap")
                            :output :string :error-output :string :ignore-error-status t)
        (declare (ignore output))
        (unless (eql code 0) (error "pymodgen failed: ~A" error-output)))
      (multiple-value-bind (warnings style error)
          (load-generated (merge-pathnames "textwrap/" dir) :force t)
        (when (or warnings style error)
          (error "loading the typed bindings: ~{~A~^~%~}~@[~%~A~]" (append warnings style) error))))
    (setf *typed-loaded* t)))

(defun tw (name) (ensure-typed-textwrap) (sym "typed-textwrap" name))

(def-test declared-result-types-reach-the-compiler ()
  (ensure-typed-textwrap)
  ;; (+ 1 (textwrap:dedent "x")): a string where a number is wanted, known at compile time
  (dolist (form `((+ 1 (,(tw "dedent") "x"))
                  (+ 1 (,(tw "dedent") (string-upcase "x")))
                  (+ 1 (funcall #',(tw "fill") "x"))
                  (char-upcase (,(tw "wrap") "a b c" 2))))
    (unless-type-warnings ()
      (multiple-value-bind (f warnings) (compile-conditions form)
        (declare (ignore f))
        (is (plusp (length warnings)) "~S compiles without a warning" form))))
  ;; a right use compiles cleanly and runs
  (multiple-value-bind (f warnings style)
      (compile-conditions `(list (length (,(tw "dedent") "  ab")) (aref (,(tw "wrap") "a b c" 3) 0)))
    (is (null warnings) "~{~A~^; ~}" warnings)
    (is (null style) "~{~A~^; ~}" style)
    (is (equal '(2 "a b") (funcall f))))
  (is (typep (funcall (tw "wrap") "a b c" 2) 'simple-vector))
  ;; WITH-REMOTE-OBJECTS results are wrappers: admitted by every declared type
  (is (typep (with-remote-objects (funcall (tw "dedent") "x")) 'pyobject-wrapper))
  (is (typep (with-remote-objects (funcall (compile nil `(lambda () (,(tw "dedent") "x")))))
             'pyobject-wrapper)))

(def-test a-lying-stub-is-a-type-error-naming-the-function ()
  (ensure-typed-textwrap)
  (flet ((message (thunk)
           (handler-case (progn (funcall thunk) nil)
             (pymodgen:python-result-type-error (e)
               (and (typep e 'type-error) (princ-to-string e))))))
    (dolist (thunk (list (lambda () (funcall (tw "indent") "x" "  "))
                         ;; inline call, in code compiled to trust declarations
                         (compile nil `(lambda ()
                                         (declare (optimize (safety 0) (speed 1)))
                                         (,(tw "indent") "x" "  ")))))
      (let ((text (message thunk)))
        (is (and text (search "textwrap.indent" text)) "~S" text)
        (is (and text (search "str" text) (search "INTEGER" text)) "~S" text))))
  ;; a lispifier that changes a declared result type is named in the error
  (let ((text (handler-case (with-lispifiers ((string #'length)) (funcall (tw "dedent") "x"))
                (pymodgen:python-result-type-error (e) (princ-to-string e)))))
    (is (and (stringp text) (search "WITH-LISPIFIERS" text)) "~S" text)))

(def-test typeshed-types-reach-the-compiler ()
  ;; textwrap as generated (its types from typeshed), under a package of its own so that it
  ;; does not meet the stdlib sweep's TEXTWRAP
  (let* ((out (merge-pathnames "typeshed/" *out*))
         (command (list (pymodgen::pymodgen-executable) "generate" "textwrap" "--lang" "lisp"
                        "--out" (namestring out) "--lisp-package" "TYPESHED-TEXTWRAP"
                        "--lisp-system" "pymodgen-typeshed-textwrap")))
    (multiple-value-bind (output error-output code)
        (uiop:run-program (append command (let ((python (pymodgen::%python-executable)))
                                            (and python (list "--python" python))))
                          :output :string :error-output :string :ignore-error-status t)
      (declare (ignore output))
      (is (eql 0 code) "~A" error-output))
    (multiple-value-bind (warnings style error) (load-generated (merge-pathnames "textwrap/" out) :force t)
      (is (null warnings)) (is (null style)) (is (null error) "~A" error)))
  (let ((dedent (sym "typeshed-textwrap" "dedent")))
    (unless-type-warnings ()
      (multiple-value-bind (f warnings) (compile-conditions `(+ 1 (,dedent "x")))
        (declare (ignore f))
        (is (plusp (length warnings)) "(+ 1 (textwrap:dedent \"x\")) compiles without a warning")))
    (is (search "textwrap.dedent(text: str) -> str" (documentation dedent 'function)))
    (is (search "Python: textwrap.dedent(text: str) -> str" (call-warning-text `(,dedent "x" "y"))))
    (is (equal "x" (funcall (compile nil `(lambda () (,dedent "  x"))))))))
