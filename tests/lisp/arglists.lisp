;;;; arglists.lisp -- the Python types in what SLIME shows of a generated function: its
;;;; docstring and its arglist (the lambda list declared with SB-C::LAMBDA-LIST, which
;;;; SB-INTROSPECT:FUNCTION-LAMBDA-LIST returns and SLIME prints with PRINC).

(in-package #:pymodgen-bindings-tests)

(def-suite arglists :in bindings
  :description "Python types (stubs, typeshed, inline annotations) in docstrings and arglists.")
(in-suite arglists)

(defvar *arglist-systems* '()
  "The modules generated and loaded for these tests.")

(defun ensure-arglist-bindings (module package &key pythonpath)
  "Generates MODULE's bindings under their own PACKAGE (so that they do not meet the stdlib
sweep's or the fixture's) and loads them."
  (unless (member module *arglist-systems* :test #'string=)
    (let* ((out (merge-pathnames "arglists/" *out*))
           (command (append (list (pymodgen::pymodgen-executable) "generate" module "--lang" "lisp"
                                  "--out" (namestring out) "--lisp-package" package
                                  "--lisp-system" (format nil "pymodgen-arglists-~(~A~)" package))
                            (and pythonpath (list "--pythonpath" (namestring pythonpath)))
                            (let ((python (pymodgen::%python-executable)))
                              (and python (list "--python" python))))))
      (when pythonpath (python-path-insert pythonpath))
      (multiple-value-bind (output error-output code)
          (uiop:run-program command :output :string :error-output :string :ignore-error-status t)
        (declare (ignore output))
        (unless (eql code 0) (error "pymodgen failed: ~A" error-output)))
      (multiple-value-bind (warnings style error)
          (load-generated (merge-pathnames (format nil "~A/" module) out) :force t)
        (when (or warnings style error)
          (error "loading ~A's bindings: ~{~A~^~%~}~@[~%~A~]" module (append warnings style) error))))
    (push module *arglist-systems*)))

(defun arglist-text (package name &key (case :upcase))
  "The arglist of PACKAGE:NAME printed with PRINC. SLIME's autodoc prints it that way with
*PRINT-CASE* :DOWNCASE (CASE :DOWNCASE), which also lowers the upper-case letters of the
types (`Callable` reads `callable`); with :UPCASE the types keep their case."
  (let ((*print-case* case) (*package* (find-package "KEYWORD")) (*print-right-margin* 1000))
    (princ-to-string (%function-lambda-list (sym package name)))))

(defun doc (package name) (documentation (sym package name) 'function))

;; What SLIME shows is (princ lambda-list): the typed symbols read `var: type`.

(def-test what-slime-shows ()
  (ensure-arglist-bindings "textwrap" "ARGLIST-TEXTWRAP")
  (is (string= "(text: str &optional (width: int 70) &key &allow-other-keys)"
               (arglist-text "arglist-textwrap" "wrap" :case :downcase)))
  (is (string= "(text: str prefix: str &optional (predicate: callable[[str], bool] | none +py-none+))"
               (arglist-text "arglist-textwrap" "indent" :case :downcase))))

(def-test typeshed-types-in-arglists-and-docstrings ()
  (ensure-arglist-bindings "textwrap" "ARGLIST-TEXTWRAP")
  ;; textwrap has no annotations of its own: these types are typeshed's
  (is (string= "(TEXT: str)" (arglist-text "arglist-textwrap" "dedent")))
  (is (string= "(TEXT: str &OPTIONAL (WIDTH: int 70) &KEY &ALLOW-OTHER-KEYS)"
               (arglist-text "arglist-textwrap" "wrap")))
  (is (string= "(TEXT: str PREFIX: str &OPTIONAL (PREDICATE: Callable[[str], bool] | None +PY-NONE+))"
               (arglist-text "arglist-textwrap" "indent"))
      "~A" (arglist-text "arglist-textwrap" "indent"))
  (is (search "Python: textwrap.dedent(text: str) -> str" (doc "arglist-textwrap" "dedent")))
  (is (search "Python: textwrap.wrap(text: str, width: int = 70, **kwargs" (doc "arglist-textwrap" "wrap")))
  (is (search ") -> list[str]" (doc "arglist-textwrap" "wrap")))
  ;; the typed symbols are uninterned: the package gains no symbols named after types
  (let ((first (first (%function-lambda-list (sym "arglist-textwrap" "dedent")))))
    (is (string= "TEXT: str" (symbol-name first)))
    (is (null (symbol-package first))))
  ;; and the call still takes its arguments as before
  (is (equal "x" (funcall (sym "arglist-textwrap" "dedent") "  x")))
  (is (equalp #("a b" "c") (funcall (sym "arglist-textwrap" "wrap") "a b c" :width 3))))

(def-test stub-types-in-arglists-and-docstrings ()
  (ensure-arglist-bindings "pymodgen_typed" "ARGLIST-TYPED" :pythonpath *fixtures*)
  (flet ((arglist (name) (arglist-text "arglist-typed" name)))
    ;; the stub's text, its aliases as written (`Row`, not the expanded tree)
    (is (string= "(ROWS: Iterable[Row])" (arglist "table")))
    (is (string= "(&OPTIONAL (TEXT: Optional[str] +PY-NONE+))" (arglist "maybe")))
    (is (string= "(X: _S LO: _S HI: _S)" (arglist "clamp")))
    (is (string= "(NAME: Literal[\"fast\", \"slow\"])" (arglist "mode")))
    (is (string= "(F: Callable[..., _R] &REST ARGS: object &KEY &ALLOW-OTHER-KEYS)" (arglist "apply")))
    ;; overloads: a parameter shows the distinct types of the overloads
    (is (string= "(X: int | float | str &OPTIONAL (FACTOR: int | float 2))" (arglist "scale")))
    ;; methods: SELF stays plain
    (is (string= "(SELF VALUE: T)" (arglist "box-replace"))))
  ;; the docstring: the signature with the stub's types, then each overload
  (let ((doc (doc "arglist-typed" "scale")))
    (is (search "Python: pymodgen_typed.scale(x: int | float | str, factor: int | float = 2) -> int | float | str"
                doc)
        "~A" doc)
    (is (search "overload: pymodgen_typed.scale(x: float, factor: float = 2) -> float" doc) "~A" doc))
  (is (search "Python: pymodgen_typed.table(rows: Iterable[Row]) -> list[Row]" (doc "arglist-typed" "table"))))

(def-test long-types-are-cut-in-arglists-not-in-docstrings ()
  ;; numpy.linalg: array-like parameters typed by unions of numpy's aliases
  (ensure-arglist-bindings "numpy.linalg" "ARGLIST-LINALG")
  (let* ((arglist (%function-lambda-list (sym "arglist-linalg" "cholesky")))
         (a (symbol-name (first arglist)))
         (doc (doc "arglist-linalg" "cholesky")))
    ;; cholesky(a: _ArrayLikeInt_co | _ArrayLikeFloat_co | _ArrayLikeComplex_co, /, *, upper: bool = False)
    (is (eql 0 (search "A: _ArrayLike" a)) "~A" a)
    (is (= (+ (length "A: ") 48) (length a)) "~A" a)
    (is (string= "..." (subseq a (- (length a) 3))) "~A" a)
    (is (search "Python: numpy.linalg.cholesky(a: _ArrayLike" doc) "~A" doc)
    (is (search (subseq a (length "A: ") (- (length a) 3)) doc) "the docstring has the whole type: ~A" doc))
  (do-external-symbols (s "ARGLIST-LINALG")
    (when (fboundp s)
      (dolist (entry (%function-lambda-list s))
        (let* ((var (if (consp entry) (first entry) entry))
               (text (symbol-name var))
               (colon (search ": " text)))
          (when colon
            (is (<= (- (length text) colon 2) 48) "~S: ~A is longer than 48 characters" s text)))))))
