;;;; generated.lisp -- the contract between the runtime and generated bindings.
;;;;
;;;; Code emitted by pymodgen's Lisp emitter (one package per Python module, one function per
;;;; Python function; templates in pymodgen/templates/lisp) may use exactly these names of
;;;; package PYMODGEN, and nothing else of the runtime (tests/lisp_golden.rs checks every
;;;; generated file against this list):
;;;;
;;;;   pymodgen:%callable-cell MODULE-NAME ATTRIBUTE-PATH -> cell          (this file)
;;;;   pymodgen:%call-cell CELL POSITIONAL-ARGS KEYWORD-ARGS -> value      (this file)
;;;;   pymodgen::%define-python-function NAME LAMBDA-LIST (&key ...) DOC BODY  (this file)
;;;;   pymodgen::%call-python-style CELL POSITIONAL ARGS SPEC -> value     (defpymodule.lisp)
;;;;   pymodgen::%module-attribute MODULE NAME -> value                    (defpymodule.lisp)
;;;;   pymodgen::%attribute OBJECT NAME, pymodgen::%set-attribute OBJECT NAME VALUE
;;;;   pymodgen::%check-module-hash &key ...  (the load-time check of a generated system)
;;;;   pymodgen:define-python-exception NAME SUPERCLASSES PYTHON-NAME &key DOCUMENTATION
;;;;     (a module's exception classes as conditions; conditions.lisp), whose superclasses
;;;;     may be the builtin ones: pymodgen:python-* (conditions.lisp, one per builtin
;;;;     exception class, e.g. pymodgen:python-value-error)
;;;;   pymodgen:define-python-class NAME SUPERCLASSES PYTHON-NAME &key BASES DOCUMENTATION
;;;;     (a module's other classes as Lisp classes; classes.lisp), whose superclasses may be
;;;;     the runtime's: pymodgen:python-* (classes.lisp, e.g. pymodgen:python-dict)
;;;;   pymodgen::%define-inherited-method NAME INHERITED  (this file)
;;;;   pymodgen:pyobject-wrapper, pymodgen:python-object  (types, in declared result types)
;;;;   pymodgen:+py-none+  (None, as a default shown in arglists)
;;;;
;;;; A generated function looks like this (for numpy.linalg.norm(x, ord=None, axis=None)):
;;;;
;;;;   (pymodgen::%define-python-function norm (x &key (ord nil ord-p) (axis nil axis-p))
;;;;       (:module "numpy.linalg" :path "norm" :signature "..." ...)
;;;;     "Matrix or vector norm. ..."
;;;;     (pymodgen:%call-cell
;;;;      (cl:load-time-value (pymodgen:%callable-cell "numpy.linalg" "norm"))
;;;;      (cl:list x)
;;;;      (cl:nconc (cl:and ord-p (cl:list "ord" ord)) (cl:and axis-p (cl:list "axis" axis)))))
;;;;
;;;; and its system checks at load time (%check-module-hash, with %module-hash below) that
;;;; the Python module did not change since generation. Changing one of these names or what
;;;; it takes is a change of the generated code's ABI: regenerate the goldens.

(in-package #:pymodgen)

(defstruct (callable-cell (:constructor %make-callable-cell (module path))
                          (:copier nil))
  "A Python callable MODULE.PATH, resolved on first use and cached until the next
pystop/pystart."
  (module "" :type string)
  (path nil :type list)
  (generation -1 :type fixnum)
  (address 0 :type (unsigned-byte 62)))

(defmethod print-object ((c callable-cell) s)
  (print-unreadable-object (c s :type t)
    (format s "~A~{.~A~}" (callable-cell-module c) (callable-cell-path c))))

(defun %callable-cell (module-name attribute-path)
  "A cell for the Python callable MODULE-NAME.ATTRIBUTE-PATH (ATTRIBUTE-PATH may be dotted,
e.g. \"ndarray.sum\" or \"random.Generator\"). Cheap to make and to keep in a
LOAD-TIME-VALUE or DEFVAR: nothing happens until the first call, which imports the module,
resolves the attribute and caches the PyObject*. After PYSTOP/PYSTART (a new start
generation) the next call resolves it again."
  (check-type module-name string)
  (check-type attribute-path string)
  (%make-callable-cell module-name (uiop:split-string attribute-path :separator ".")))

(defun resolve-callable-cell (cell)
  (unless *alive* (python-start-if-not-alive))
  (with-python-gil
    (let ((p (check-pointer (pmg-import (callable-cell-module cell)))))
      (dolist (a (callable-cell-path cell))
        (let ((next (pmg-getattr p a)))
          (pmg-decref p)
          (setf p (check-pointer next))))
      ;; The reference to the previous generation's callable is kept (it may come from a
      ;; saved Lisp image, i.e. another process): one reference per restart.
      (setf (callable-cell-address cell) (cffi:pointer-address p)
            (callable-cell-generation cell) *generation*)
      p)))

(declaim (inline callable-cell-pointer callable-cell-target))
(defun callable-cell-pointer (cell)
  (if (= (callable-cell-generation cell) *generation*)
      (cffi:make-pointer (callable-cell-address cell))
      (resolve-callable-cell cell)))

(defun callable-cell-target (cell)
  "The callable's address (a fixnum: no pointer boxing on the fast path)."
  (if (= (callable-cell-generation cell) *generation*)
      (callable-cell-address cell)
      (progn (resolve-callable-cell cell) (callable-cell-address cell))))

(defun %invoke-cell (cell args)
  "pycall-style ARGS (positional values, then :keyword value pairs) on CELL's callable.
Used by DEFPYFUN."
  (declare (optimize speed (safety 1) (debug 0)))
  (%invoke (callable-cell-target cell) args))

;;; The module version hash: src/module_hash.py, the generator's own script (its source is
;;; pymodgen/src/python/module_hash.py; tests hold the copy equal), run in the live
;;; interpreter so the Lisp load-time check computes what the generator computed.

(defparameter +module-hash-source+
  (let ((p (asdf:system-relative-pathname "pymodgen" "src/module_hash.py")))
    (and (probe-file p) (uiop:read-file-string p)))
  "Text of module_hash.py, read when the system is loaded.")

(defvar *module-hash-function* nil "(generation . wrapper of module_hash)")

(defun module-hash-function ()
  (let ((e *module-hash-function*))
    (if (and e (= (car e) *generation*))
        (cdr e)
        (progn
          (unless +module-hash-source+
            (error "pymodgen: module_hash.py was not found next to the runtime"))
          (setf (pyvalue "_pymodgen.module_hash_src") +module-hash-source+)
          (raw-pyexec "import _pymodgen as _p
_p.module_hash_ns = {'__name__': '_pymodgen_module_hash'}
exec(_p.module_hash_src, _p.module_hash_ns)
del _p")
          (let ((f (with-remote-objects
                     (raw-pyeval "__import__('_pymodgen').module_hash_ns['module_hash']"))))
            (setf *module-hash-function* (cons *generation* f))
            f)))))

(defun %module-hash (module-name generator-tag)
  "The module version hash of MODULE-NAME for GENERATOR-TAG, computed in the live
interpreter by pymodgen's module_hash.py (the same value the generator recorded)."
  (let ((result (with-default-translation
                  (pycall (module-hash-function) module-name generator-tag))))
    (gethash "hash" result)))

;;; ====================================================================================
;;; The compile-time route: DEFUNs that know their Python signature and result type
;;;
;;; Generated code defines each function with
;;;
;;;   (pymodgen::%define-python-function NAME LAMBDA-LIST
;;;       (:module "textwrap" :path "dedent" :signature "textwrap.dedent(text: str) -> str"
;;;        :arglist (text) :call (:rest 0 #(...)) :returns (cl:or cl:string pymodgen:pyobject-wrapper))
;;;     "docstring"
;;;     body...)
;;;
;;; which expands into the DEFUN (run-time argument parsing, for FUNCALL and APPLY), an FTYPE
;;; proclamation of the result type (when it is not T), the arglist SLIME shows, and a
;;; compiler macro. The compiler macro reads a call's arguments at compile time with the same
;;; rules as the run-time parser (docs/lisp-bindings.md): a call that is wrong for every
;;; value its non-constant arguments may take draws a PYTHON-CALL-WARNING naming the function
;;; and its Python signature; a right call becomes one direct foreign call, without a &REST
;;; list or run-time parsing. Implementation-specific parts: ARGLIST-DECLARATIONS and
;;; %WITH-PINNED (below); the generated code itself is portable Common Lisp.

(export '(python-call-warning python-call-style-warning python-result-type-error
          python-result-type-error-function python-result-type-error-signature
          *declare-result-types*)
        '#:pymodgen)

(defvar *declare-result-types* t
  "When true while generated bindings are compiled, functions whose Python result type maps
to a Lisp type (docs/lisp-bindings.md, \"Types\") proclaim it, so the compiler derives it at
call sites, and check it on return. Bind it to NIL around compiling (loading) a generated
system that is used with WITH-LISPIFIERS turning such results into other types.")

(define-condition python-call-warning (simple-warning) ()
  (:documentation "A call of a generated function that Python would reject whatever its
arguments' values (too many or too few positional arguments, an unknown keyword, ...)."))

(define-condition python-call-style-warning (style-warning simple-condition) ()
  (:report (lambda (c s) (apply #'format s (simple-condition-format-control c)
                                (simple-condition-format-arguments c))))
  (:documentation "A call of a generated function that is wrong unless one of its
non-constant arguments evaluates to a keyword symbol."))

(define-condition python-result-type-error (type-error)
  ((function :initarg :function :reader python-result-type-error-function
             :documentation "The Python name of the function (\"textwrap.indent\").")
   (signature :initarg :signature :reader python-result-type-error-signature
              :documentation "The function's Python signature with the stub's types.")
   (lispifiers :initarg :lispifiers :initform nil :reader python-result-type-error-lispifiers))
  (:report (lambda (c s)
             (let ((v (type-error-datum c)) (*print-pretty* nil))
               (format s "~A returned ~A ~S (Lisp ~S), which is not of its declared result ~
                          type ~S~%  Python: ~A~%  ~:[The type stub is wrong about this call.~;~
                          WITH-LISPIFIERS changed the result: bind ~
                          PYMODGEN:*DECLARE-RESULT-TYPES* to NIL when compiling these bindings ~
                          to use such lispifiers.~]"
                       (python-result-type-error-function c) (%python-type-name v)
                       v (type-of v) (type-error-expected-type c)
                       (python-result-type-error-signature c)
                       (python-result-type-error-lispifiers c)))))
  (:documentation "A generated function's Python result is not of the Lisp type its type
stub promises (a TYPE-ERROR: the stub is wrong, or a lispifier changed the value)."))

(defun %python-type-name (value)
  "The Python type VALUE (a lispified result) came from, for messages."
  (typecase value
    (string "str") (integer "int") (double-float "float") ((member t nil) "bool")
    (simple-vector "list") (list "tuple") (hash-table "dict") (complex "complex")
    ((vector (unsigned-byte 8)) "bytes") (array "numpy.ndarray")
    (python-object (or (ignore-errors (python-object-type value)) "object"))
    (t "object")))

(declaim (ftype (function (t t string string string) nil) %result-type-error))
(defun %result-type-error (value type module path signature)
  (error 'python-result-type-error :datum value :expected-type type
                                   :function (format nil "~A.~A" module path) :signature signature
                                   :lispifiers (and *lispifiers* t)))

(defmacro %checked-result (type module path signature form)
  "FORM's value, which must be of TYPE: else a PYTHON-RESULT-TYPE-ERROR. The check is code,
not a declaration, so it stays under (SAFETY 0)."
  (let ((v (gensym "VALUE")))
    ;; THE restates TYPE for the compiler, which checked it already: SBCL does not narrow a
    ;; value's type by a TYPEP that names a standard class (PYTHON-INSTANCE, in PYTHON-OBJECT),
    ;; and would no longer see that (+ 1 (dedent "x")) is wrong.
    `(let ((,v ,form))
       (locally (declare (optimize (safety 0)))
         (the ,type
              (if (typep ,v ',type) ,v (%result-type-error ,v ',type ,module ,path ,signature)))))))

;;; Definitions

(defun %note-python-function (name info)
  "Records INFO (module path signature call returns) for NAME and installs the compiler
macro; at compile time as well as at load time."
  (setf (get name 'python-function) info
        (compiler-macro-function name) #'%python-call-compiler-macro)
  name)

(defun %function-cell (name module path)
  "The callable cell of the generated function NAME, shared by all its inline calls."
  (or (get name 'python-function-cell)
      (setf (get name 'python-function-cell) (%callable-cell module path))))

(defmacro %define-python-function (name lambda-list (&key module path signature arglist call (returns t))
                                   doc &body body)
  "The DEFUN of a generated function (see the comment above)."
  (let ((returns (if *declare-result-types* returns t))
        (declarations (loop while (and (consp (car body)) (eq (caar body) 'declare))
                            collect (pop body))))
    `(progn
       (eval-when (:compile-toplevel :load-toplevel :execute)
         (%note-python-function ',name '(,module ,path ,signature ,call ,returns)))
       ,@(unless (eq returns t)
           `((declaim (ftype (function * (values ,returns &optional)) ,name))))
       (defun ,name ,lambda-list
         ,doc
         ,@declarations
         ,@(%arglist-declarations arglist)
         ,(if (eq returns t)
              `(progn ,@body)
              `(%checked-result ,returns ,module ,path ,signature (progn ,@body))))
       ,@(%arglist-forms name arglist)
       ',name)))

(defmacro %define-inherited-method (name inherited)
  "Makes NAME the generated function INHERITED: the function of a method a class inherits,
unchanged, from a class of the same module (square-describe is shape-describe), with its
arglist, documentation, result type and compile-time checks."
  (let ((returns (fifth (get inherited 'python-function))))
    `(progn
       (eval-when (:compile-toplevel :load-toplevel :execute)
         (%note-python-function ',name (get ',inherited 'python-function)))
       ,@(unless (or (null returns) (eq returns t))
           `((declaim (ftype (function * (values ,returns &optional)) ,name))))
       (setf (fdefinition ',name) (fdefinition ',inherited))
       (setf (documentation ',name 'function) (documentation ',inherited 'function))
       ',name)))

;;; Argument parsing, at compile time and (through %CALL-PYTHON-STYLE-PARSED,
;;; defpymodule.lisp) at run time: one parser for both.

(defun %parse-error (control &rest args)
  (error 'python-argument-error :format-control control :format-arguments args))

(defun %parse-python-arguments (items spec &key (value #'identity) (show value)
                                                (error #'%parse-error))
  "Reads ITEMS (the arguments after the Lisp-required ones) by the rules of
%CALL-PYTHON-STYLE, where (funcall VALUE item) is the argument's value. Returns
(values POSITIONAL KEYWORDS): the items passed positionally, in order, and a list of
(python-name . item). A call Python would refuse is reported by calling ERROR with a
format control and its arguments (items printed through SHOW); ERROR must not return.
The one parser of both routes: the compiler macro reads constant argument forms with it,
%CALL-PYTHON-STYLE-PARSED (defpymodule.lisp) the values of a call at run time."
  (declare (function value show error))
  (let* ((n-optional (svref spec 0))
         (rest-p (svref spec 1))
         (kwargs-p (svref spec 2))
         (keys (svref spec 3))
         (n-required (if (> (length spec) 4) (svref spec 4) 0))
         (slots (if (> (length spec) 5) (svref spec 5) '()))
         (args items)
         (given 0)
         (extra '()))
    (labels ((v (item) (funcall value item))
             (takes-keyword-p (x)
               (and (keywordp x) (or kwargs-p (getf keys x))))
             (keyword-arguments-p (tail)
               (loop for (k . more) on tail by #'cddr
                     always (and more (let ((k (v k)))
                                        (or (takes-keyword-p k) (and kwargs-p (stringp k)))))))
             (starts-keywords-p (item)
               (and (takes-keyword-p (v item))
                    (or (>= given n-required)
                        (and (keywordp (nth given slots)) (keyword-arguments-p args)))))
             (keywords-taken ()
               (loop for (k) on keys by #'cddr collect k))
             (slot-name (slot)
               (if (keywordp slot) (getf keys slot) slot))
             (given-by-keyword-p (name kw)
               (find name kw :key #'car :test #'string=)))
      (loop while (and args (not (starts-keywords-p (car args))))
            do (if (or rest-p (< given (+ n-required n-optional)))
                   (progn (push (pop args) extra) (incf given))
                   (if (keywordp (v (car args)))
                       (funcall error "unknown keyword argument ~S; this function takes ~
                                             ~:[no keyword arguments~;~:*~{~S~^ ~}~]"
                                        (v (car args)) (keywords-taken))
                       (funcall error "too many positional arguments: ~S is one more than ~
                                             the function takes" (funcall show (car args))))))
      (let ((kw '()))
        (loop while args
              do (let* ((key-item (pop args))
                        (key (v key-item)))
                   (when (null args)
                     (funcall error "keyword ~S has no value" (funcall show key-item)))
                   (let ((value-item (pop args))
                         (name (and (symbolp key) (getf keys key))))
                     (cond (name)
                           ((and kwargs-p (or (keywordp key) (stringp key)))
                            (setf name (%python-keyword-name key)))
                           (t (funcall error
                               "unknown keyword argument ~S; this function takes ~
                                    ~:[no keyword arguments~;~:*~{~S~^ ~}~]"
                               (funcall show key-item) (keywords-taken))))
                     (when (given-by-keyword-p name kw)
                       (funcall error "argument ~A given twice (by keyword ~S)" name key))
                     (push (cons name value-item) kw))))
        (when (or kw (< given n-required))
          (let ((missing '()))
            (loop for slot in slots
                  for i fixnum from 0
                  for name = (slot-name slot)
                  do (cond ((< i given)
                            (when (and kw (keywordp slot) (given-by-keyword-p name kw))
                              (funcall error "argument ~A given twice (positionally and as ~S)"
                                               name slot)))
                           ((< i n-required)
                            (unless (and (keywordp slot) (given-by-keyword-p name kw))
                              (push (if (keywordp slot)
                                        (format nil "~A (positionally or as ~S)" name slot)
                                        (format nil "~A (positionally)" name))
                                    missing)))
                           (t (loop-finish))))
            (when missing
              (funcall error "missing required argument~P: ~{~A~^, ~}"
                               (length missing) (nreverse missing)))))
        (values (nreverse extra) (nreverse kw))))))

;;; The compiler macro

(defvar +unknown-argument+ (make-symbol "UNKNOWN-ARGUMENT")
  "Stands, at compile time, for the value of an argument form that is not a constant.")

(defun %constant-argument (form env)
  "(values VALUE T) when FORM is a constant whose value the compiler may use, else NIL."
  (cond ((and (symbolp form) (not (constantp form env))) nil)
        ((keywordp form) (values form t))
        ((member form '(t nil)) (values form t))
        ((and (consp form) (eq (car form) 'quote) (consp (cdr form)) (null (cddr form)))
         (values (second form) t))
        ((atom form)
         (if (symbolp form)
             (and (boundp form) (values (symbol-value form) t))
             (values form t)))
        (t nil)))

(defun %call-warning (name info control &rest args)
  (destructuring-bind (module path signature &rest more) info
    (declare (ignore module path more))
    (warn 'python-call-warning
          :format-control "~S: ~?~%  Python: ~A"
          :format-arguments (list name control args signature))))

(defun %python-call-compiler-macro (form env)
  (multiple-value-bind (name args)
      (if (eq (car form) 'funcall)
          (values (second (second form)) (cddr form))
          (values (car form) (cdr form)))
    (let ((info (get name 'python-function)))
      (if (or (null info) (not (listp args)) (not (null (cdr (last args)))))
          form
          (%expand-python-call name info args env form)))))

(defun %unknown-alternatives (spec)
  "The values a non-constant argument may have that matter to the parser."
  (let ((keys (svref spec 3)))
    (append (list +unknown-argument+)
            (loop for (k) on keys by #'cddr collect k)
            (list :%pymodgen-other)
            (and (svref spec 2) (list "%pymodgen_other")))))

(defun %call-possible-p (items spec)
  "True when some values of the unknown ITEMS (cons form value) make the call valid, or when
there are too many combinations to tell."
  (let* ((unknown (remove-if-not (lambda (i) (eq (cdr i) +unknown-argument+)) items))
         (choices (%unknown-alternatives spec)))
    (if (> (expt (length choices) (length unknown)) 4096)
        t
        (labels ((try (rest assignment)
                   (if (null rest)
                       (handler-case
                           (progn (%parse-python-arguments
                                   items spec
                                   :value (lambda (i) (or (cdr (assoc i assignment)) (cdr i))))
                                  t)
                         (python-argument-error () nil))
                       (loop for c in choices
                             thereis (try (cdr rest) (acons (car rest) c assignment))))))
          (try unknown '())))))

(defun %expand-python-call (name info args env form)
  (destructuring-bind (module path signature call returns) info
    (let* ((n-args (length args))
           (all (loop for i below n-args collect i)))
      (flet ((expand (positional keywords guards)
               ;; POSITIONAL: indices of ARGS; KEYWORDS: (python-name . index); GUARDS:
               ;; indices of arguments whose values, when keywords, send the call to the
               ;; run-time parser.
               (%fast-expansion name module path signature returns args positional keywords guards env)))
        (ecase (first call)
          (:simple
           (let ((n (second call)))
             (if (/= n-args n)
                 (progn (%call-warning name info "called with ~D argument~:P, but takes ~D" n-args n)
                        form)
                 (expand all '() '()))))
          (:positional
           (destructuring-bind (n m) (rest call)
             (if (or (< n-args n) (> n-args (+ n m)))
                 (progn (%call-warning name info "called with ~D argument~:P, but takes ~
                                                  ~:[from ~D to ~D~;~D~*~]"
                                       n-args (zerop m) n (+ n m))
                        form)
                 (expand all '() '()))))
          (:rest
           (destructuring-bind (n spec) (rest call)
             (if (< n-args n)
                 (progn (%call-warning name info "called with ~D argument~:P, but takes at least ~D"
                                       n-args n)
                        form)
                 (let ((items (loop for f in (nthcdr n args)
                                    for i from n
                                    collect (multiple-value-bind (v constantp) (%constant-argument f env)
                                              (cons i (if constantp v +unknown-argument+)))))
                       (show (lambda (item) (nth (car item) args))))
                   (handler-case
                       (multiple-value-bind (positional keywords)
                           (%parse-python-arguments items spec :value #'cdr :show show)
                         (expand (append (subseq all 0 n) (mapcar #'car positional))
                                 (mapcar (lambda (k) (cons (car k) (car (cdr k)))) keywords)
                                 ;; a keyword value would make the run-time parser read the call
                                 ;; differently only if the function takes keywords
                                 (and (or (svref spec 2) (svref spec 3))
                                      (loop for p in positional
                                            when (eq (cdr p) +unknown-argument+) collect (car p)))))
                     (python-argument-error (e)
                       (if (%call-possible-p items spec)
                           (warn 'python-call-style-warning
                                 :format-control "~S: ~A, unless a non-constant argument is a keyword~%  Python: ~A"
                                 :format-arguments (list name e signature))
                           (%call-warning name info "~A" e))
                       form)))))))))))

(defun %fast-expansion (name module path signature returns args positional keywords guards env)
  "The inline form of a well-formed call. ARGS are evaluated once, left to right (constants
stay in place); POSITIONAL (indices) and KEYWORDS ((python-name . index)) say where each goes."
  (let* ((temps (mapcar (lambda (f) (if (constantp f env) f (gensym "ARG"))) args))
         (bindings (loop for f in args for tmp in temps unless (eq f tmp) collect (list tmp f)))
         (call `(%fast-call (load-time-value (%function-cell ',name ,module ,path))
                            ,(mapcar (lambda (i) (nth i temps)) positional)
                            ,(mapcar (lambda (k) (cons (car k) (nth (cdr k) temps))) keywords)))
         (checked (if (eq returns t) call `(%checked-result ,returns ,module ,path ,signature ,call))))
    `(let ,bindings
       ,(if guards
            `(if (or ,@(mapcar (lambda (g) `(keywordp ,(nth g temps))) guards))
                 (locally (declare (notinline ,name)) (,name ,@temps))
                 ,checked)
            checked))))

;;; The direct call

(defstruct (kwnames (:constructor %make-kwnames (names &aux (n (length names))))
                    (:copier nil))
  "The interned Python names of a call's keyword arguments, as the C array pmg_call takes;
refreshed after PYSTOP/PYSTART."
  (names nil :type list)
  (n 0 :type fixnum)
  (generation -1 :type fixnum)
  (pointer (cffi:null-pointer)))

(defun %refresh-kwnames (k)
  (let ((p (if (cffi:null-pointer-p (kwnames-pointer k))
               (cffi:foreign-alloc :pointer :count (max 1 (kwnames-n k)))
               (kwnames-pointer k))))
    (loop for name in (kwnames-names k) for i from 0
          do (setf (cffi:mem-aref p :pointer i) (intern-name name)))
    (setf (kwnames-pointer k) p
          (kwnames-generation k) *generation*)
    p))

(declaim (inline %kwnames-array))
(defun %kwnames-array (k)
  (if (= (kwnames-generation k) *generation*) (kwnames-pointer k) (%refresh-kwnames k)))

(defun %convert-result (tag out)
  "The Lisp value of a pmg_call result in OUT that %INVOKE-IMMEDIATE does not read inline
(no translation hooks are active there)."
  (declare (optimize speed (safety 0) (debug 0)) (type (signed-byte 32) tag))
  (case tag
    (#.+tag-true+ t)
    (#.+tag-false+ nil)
    (t (lispify-value out t))))

(defmacro %invoke-immediate (address kwnames n-positional &rest vars)
  "One pmg_call of the callable at ADDRESS with VARS (all IMMEDIATE-P: the first
N-POSITIONAL positional, the rest keyword arguments named by KWNAMES, a KWNAMES or NIL).
One foreign buffer holds the arguments and, after them, the result."
  (let* ((buf (gensym "BUF")) (out (gensym "OUT")) (tag (gensym "TAG"))
         (nk (- (length vars) n-positional))
         (args-size (* (max 1 (length vars)) +arg-size+)))
    `(cffi:with-foreign-object (,buf :uint8 ,(+ args-size +value-size+))
       ,@(loop for v in vars for i from 0 collect `(fill-immediate ,buf ,i ,v))
       (let* ((,out (cffi:inc-pointer ,buf ,args-size))
              (,tag (%with-pinned (,@vars)
                      (pmg-call (cffi:make-pointer ,address) ,buf ,n-positional
                                ,(if kwnames `(%kwnames-array ,kwnames) '(cffi:null-pointer)) ,nk ,out 0))))
         (declare (type (signed-byte 32) ,tag))
         ;; (%FAST-CALL, the one user, comes here only without translation hooks)
         (cond ((= ,tag +tag-str+) (copy-str (value-kind ,out) (value-len ,out) (value-data ,out)))
               ((= ,tag +tag-int+) (value-i ,out))
               ((= ,tag +tag-float+) (value-f ,out))
               ((= ,tag +tag-error+) (signal-last-error))
               (t (%convert-result ,tag ,out)))))))

(defconstant +max-inline-cell-args+ 3
  "Calls of %CALL-CELL with up to this many immediate arguments take %INVOKE-IMMEDIATE.")

(defmacro %call-cell-immediate (target args n)
  "The call of %CALL-CELL with the list ARGS of N (0 to +MAX-INLINE-CELL-ARGS+) IMMEDIATE-P
values and no translation hook: %INVOKE-IMMEDIATE of each arity, the call generated code
compiles (no list walk, no pin vector)."
  `(case ,n
     ,@(loop for k from 0 to +max-inline-cell-args+
             collect (let ((vars (loop for i below k collect (gensym "A"))))
                       `(,k (let ,(loop for v in vars for i from 0
                                        collect `(,v (nth ,i ,args)))
                              (%invoke-immediate ,target nil ,k ,@vars)))))))

(defun %call-cell (cell positional-args keyword-args)
  "Calls CELL's Python callable and returns the result converted to Lisp (honouring
*LISPIFIERS*, *PYTHONIZERS*, WITH-REMOTE-OBJECTS). POSITIONAL-ARGS: a list of Lisp values
(keywords among them are plain values here). KEYWORD-ARGS: a plist alternating Python
parameter-name strings and Lisp values, e.g. (\"axis\" 0 \"dtype\" \"f4\"). This is the
same fast path as PYCALL and DEFPYFUN functions: one foreign call when every argument is an
integer, float, T/NIL or pyobject-wrapper; with up to three such arguments and no
translation hook, the very call generated code compiles (%INVOKE-IMMEDIATE)."
  (declare (list positional-args keyword-args) (optimize speed (safety 1) (debug 0)))
  (unless *alive* (python-start-if-not-alive))
  (let ((target (callable-cell-target cell)))
    (open-coded-first (target positional-args :when (null keyword-args))
      (if (and (null keyword-args) (null *pythonizers*) (null *remote*))
          (let ((n (length positional-args)))
            (cond ((and (<= n +max-inline-cell-args+) (no-translation-hook-p)
                        (every #'immediate-p positional-args))
                   (%call-cell-immediate target positional-args n))
                  ((and (<= n +max-fast-args+) (every #'fast-argument-p positional-args))
                   (invoke-fast target positional-args n))
                  (t (invoke-general target positional-args nil :lisp))))
          (invoke-general target positional-args
                          (loop for (k v) on keyword-args by #'cddr
                                collect (cons (python-name k) v))
                          (if *remote* :wrapper :lisp))))))

(defun %call-open-coded (address kwnames n-positional args)
  "The open-coded call (%OPEN-CODED-INVOKE) of the callable at ADDRESS with the list ARGS
(the first N-POSITIONAL positional, the rest keyword arguments named by KWNAMES, a KWNAMES
or NIL): the result and T, or NIL and NIL when an argument is not one it takes (nothing was
called). For %FAST-CALL where the implementation open-codes calls."
  (declare (optimize speed (safety 0) (debug 0)))
  (block lisp-path
    (return-from %call-open-coded
      (values (%open-coded-invoke (args :address (the address address)
                                        :kwnames (and kwnames (%kwnames-array kwnames))
                                        :n-positional n-positional)
                (return-from lisp-path))
              t)))
  (values nil nil))

(defmacro %fast-call (cell-form positional keywords)
  "Calls the callable cell CELL-FORM with POSITIONAL (variables or constants) and KEYWORDS
((python-name . variable-or-constant)) as %CALL-CELL does, in one foreign call without
consing when every argument is IMMEDIATE-P and no translation hook is active. Where the
implementation open-codes calls (+OPEN-CODED-CALLS+: ECL), the call is the runtime's
%CALL-OPEN-CODED on a list of the arguments (the type tests and the buffer are C there)."
  (let* ((cell (gensym "CELL"))
         (vars (append positional (mapcar #'cdr keywords)))
         (plist `(list ,@(loop for (k . v) in keywords append (list k v))))
         (general `(%call-cell ,cell (list ,@positional) ,(if keywords plist nil))))
    (cond
      ((> (length vars) +max-fast-args+)
       `(let ((,cell ,cell-form)) ,general))
      (+open-coded-calls+
       ;; the type tests, the buffer and the result in the runtime's open-coded call
       (let ((v (gensym "V")) (ok (gensym "OK")))
         `(let ((,cell ,cell-form))
            (if (and *alive* (no-translation-hook-p)
                     (= (callable-cell-generation ,cell) *generation*))
                (multiple-value-bind (,v ,ok)
                    (%call-open-coded (callable-cell-address ,cell)
                                      ,(and keywords `(load-time-value (%make-kwnames ',(mapcar #'car keywords))))
                                      ,(length positional) (list ,@vars))
                  (if ,ok ,v ,general))
                ,general))))
      (t
        `(let ((,cell ,cell-form))
           (declare (optimize (safety 0) (debug 0)))
           (if (and *alive* (no-translation-hook-p)
                    (= (callable-cell-generation ,cell) *generation*)
                    ,@(loop for v in vars collect `(immediate-p ,v)))
               (%invoke-immediate (callable-cell-address ,cell)
                                  ,(and keywords `(load-time-value (%make-kwnames ',(mapcar #'car keywords))))
                                  ,(length positional) ,@vars)
               ,general))))))
