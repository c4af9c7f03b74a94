;;;; defpyclass.lisp -- Python classes written in Lisp: subclasses of Python classes whose
;;;; methods, properties and class attributes are Lisp code.
;;;;
;;;; DEFPYCLASS records a definition on its name's plist; the Python class is made from it
;;;; on first use in each Python process (FIND-PYCLASS), with types.new_class, as a class
;;;; statement would make it (the bases' metaclass, __init_subclass__). Each method is a
;;;; Python function (helper.py, lisp_method) calling a Lisp callback, a METHOD-CALLBACK
;;;; (api.lisp), which receives self as a wrapper. Instances hold nothing of Lisp's: the
;;;; callbacks belong to the class (one handle per member), so instances are collected by
;;;; Python alone and their wrappers by Lisp's GC, as any Python object's.
;;;;
;;;; NAME is also a Lisp class (DEFINE-PYTHON-CLASS's kind, classes.lisp): a standard class
;;;; under the Lisp classes of the Python bases (generated ones, other DEFPYCLASS classes),
;;;; PYTHON-INSTANCE when none has one. It is registered under a key made of NAME alone
;;;; ("lisp:PACKAGE::NAME", PYCLASS-KEY), never the Python class object, which is made again
;;;; in each process (saved images, PYSTOP): the Python class carries that key as its class
;;;; attribute __pymodgen_lisp_class__, which the lookup of an instance's Lisp class reads
;;;; along the __mro__. So an instance, or one of a Python subclass, returned to Lisp is a
;;;; typed wrapper of NAME (or of NAME's subclass), and so is self inside the methods.
;;;;
;;;; Redefinition (evaluating DEFPYCLASS again) updates the class in place when Python runs
;;;; and the class exists: members set, members no longer defined deleted, __doc__, __name__,
;;;; __module__ and __bases__ assigned, so existing instances and Python subclasses see the new
;;;; definition, as CLOS instances do. Only when Python refuses the new __bases__ (an
;;;; incompatible instance layout) is a new class made; existing instances keep the old one.

(in-package #:pymodgen)

(eval-when (:compile-toplevel :load-toplevel :execute)
  (defparameter +defpyclass-exports+ '(defpyclass find-pyclass pysuper call-super pyraise
                                        python-raise python-raise-exception)
    "The external symbols of PYMODGEN for classes written in Lisp: not exported from
PY4CL2-CFFI, which has no such facility (its users' packages may have these names).")
  (export +defpyclass-exports+ '#:pymodgen))

(defstruct (pyclass-definition (:constructor make-pyclass-definition (name)) (:copier nil))
  "What DEFPYCLASS recorded for NAME, and the Python class made from it in this process."
  (name nil :type symbol :read-only t)
  (python-name "" :type string)
  (bases '() :type list)                  ; strings (Python names) and DEFPYCLASS names
  (documentation nil)
  (module "__main__" :type string)
  ;; (lambda (cell)) -> ((python-name kind value-or-callback doc) ...); CELL's car will hold
  ;; the class (a wrapper), for PYSUPER
  (members-function nil)
  (class nil)                             ; the class as a wrapper, or NIL
  (cell nil)                              ; the cons whose car is CLASS, seen by the methods
  (member-names '() :type list))          ; the members the class was given

(defvar *pyclass-lock* (bt:make-recursive-lock "pymodgen defpyclass"))

(defparameter +lisp-class-attribute+ "__pymodgen_lisp_class__"
  "The class attribute of a DEFPYCLASS class holding its PYCLASS-KEY (read by
%PYTHON-MRO-NAMES, classes.lisp).")

(defun pyclass-key (name)
  "The name under which the Lisp class NAME of a DEFPYCLASS class is registered as a Python
class's (*PYTHON-CLASSES*): made of NAME alone, the same in every process."
  (let ((package (symbol-package name)))
    (format nil "lisp:~A::~A" (if package (package-name package) "#") (symbol-name name))))

(defun pyclass-base-key (base)
  "The Python name (or PYCLASS-KEY) of a DEFPYCLASS base as written: \"logging.Handler\",
\"dict\" -> \"builtins.dict\", the name of another DEFPYCLASS class -> its key. (A base
named by another module than its own, \"json.JSONEncoder\" for json.encoder.JSONEncoder,
is named properly once the class is made: DEFINE-PYCLASS-LISP-CLASS.)"
  (etypecase base
    (symbol (pyclass-key base))
    (string (if (find #\. base) base (format nil "builtins.~A" base)))))

(defun define-pyclass-lisp-class (name base-keys documentation)
  "Defines (or redefines) the Lisp class NAME of a DEFPYCLASS class, whose Python bases are
BASE-KEYS (Python names or PYCLASS-KEYs): under their Lisp classes once defined."
  (bt:with-recursive-lock-held (*python-classes-lock*)
    (let* ((recorded (gethash name *python-class-bases*))
           (supers (cond (recorded (fourth recorded))
                         (t (%ensure-python-class name '(python-instance) documentation)
                            '(python-instance)))))
      (when documentation (setf (documentation name 'type) documentation))
      (%register-python-class name (pyclass-key name) base-keys documentation supers))))

(defun ensure-pyclass-lisp-class (name)
  "At compile time: NAME is a class (for DEFMETHOD's specializers), until its DEFPYCLASS
form is loaded."
  (unless (find-class name nil)
    (%ensure-python-class name '(python-instance) nil)))

(defun pyclass-definition (name &optional (errorp t))
  (or (and (symbolp name) (get name 'pyclass-definition))
      (and errorp
           (%bad-argument 'find-pyclass name 'symbol "the name of a class defined by DEFPYCLASS"))))

(defun live-class (definition)
  "The class made for DEFINITION in this process, or NIL (none yet, or one from before the
image was saved)."
  (let ((class (pyclass-definition-class definition)))
    (and class (= (pyobject-wrapper-epoch class) *image-epoch*) class)))

(defun callback-wrapper (function)
  "A Python callable (wrapper) calling the Lisp FUNCTION, a METHOD-CALLBACK or a function."
  (wrap-new-reference (check-pointer (pmg-make-callable (register-object function)))))

(defun python-members (definition cell)
  "The list of [name, value] of DEFINITION's members, as Python objects (wrappers), their
methods seeing the class through CELL."
  (let ((qualname (pyclass-definition-python-name definition))
        ;; (the :attribute forms evaluated as any code, outside WITH-REMOTE-OBJECTS)
        (entries (funcall (pyclass-definition-members-function definition) cell)))
    (with-remote-objects
      (let ((properties '()) (members '()))
        (loop for (name kind value doc) in entries
              for qname = (format nil "~A.~A" qualname name)
              for docstring = (or doc +py-none+)
              do (ecase kind
                   ((:method :init :classmethod :staticmethod)
                    (push (list name (pycall "_pymodgen.lisp_method" (callback-wrapper value)
                                             name qname docstring
                                             (string-downcase (symbol-name kind))))
                          members))
                   ((:getter :setter)
                    (let ((entry (or (assoc name properties :test #'string=)
                                     (car (push (list name nil nil nil) properties))))
                          (f (pycall "_pymodgen.lisp_method" (callback-wrapper value)
                                     name qname docstring "function")))
                      (if (eq kind :getter)
                          (setf (second entry) f (fourth entry) doc)
                          (setf (third entry) f))))
                   (:attribute (push (list name value) members))))
        (loop for (name getter setter doc) in (reverse properties)
              do (push (list name (pycall "_pymodgen.lisp_property" (or getter +py-none+)
                                          (or setter +py-none+) (or doc +py-none+)))
                       members))
        (push (list +lisp-class-attribute+ (pyclass-key (pyclass-definition-name definition)))
              members)
        (reverse members)))))

(defun python-bases (definition)
  (mapcar (lambda (base)
            (etypecase base
              (string (with-remote-objects (pyvalue base)))
              (symbol (find-pyclass base))))
          (pyclass-definition-bases definition)))

(defun make-python-class (definition)
  "Makes DEFINITION's class in this process; returns it."
  (let* ((cell (list nil))
         (members (python-members definition cell))
         (class (with-remote-objects
                  (pycall "_pymodgen.make_class" (pyclass-definition-python-name definition)
                          (coerce (python-bases definition) 'vector) (coerce members 'vector)
                          (pyclass-definition-module definition)
                          (or (pyclass-definition-documentation definition) +py-none+)))))
    (setf (car cell) class
          (pyclass-definition-cell definition) cell
          (pyclass-definition-class definition) class
          (pyclass-definition-member-names definition) (mapcar #'first members))
    (name-python-bases definition class)
    class))

(defun name-python-bases (definition class)
  "The Lisp class of DEFINITION under the Lisp classes of CLASS's bases, as Python names them
(json.encoder.JSONEncoder for \"json.JSONEncoder\")."
  (let ((keys (coerce (with-default-translation
                        (pycall "lambda c: [b.__dict__.get('__pymodgen_lisp_class__') or b.__module__ + '.' + b.__qualname__ for b in c.__bases__]"
                                class))
                      'list))
        (name (pyclass-definition-name definition)))
    (unless (equal keys (second (gethash name *python-class-bases*)))
      (define-pyclass-lisp-class name keys (pyclass-definition-documentation definition)))))

(defun update-python-class (definition class)
  "Redefinition: DEFINITION's members, bases and names given to CLASS in place, or, when
Python refuses the new bases, a new class. Returns the class."
  (let* ((bases (python-bases definition))
         (name (pyclass-definition-python-name definition)))
    (if (with-default-translation
          (pycall "_pymodgen.set_bases" class (coerce bases 'vector) name))
        (let ((members (python-members definition (pyclass-definition-cell definition))))
          (with-remote-objects
            (pycall "_pymodgen.update_class" class (coerce members 'vector)
                    (coerce (pyclass-definition-member-names definition) 'vector)
                    (pyclass-definition-module definition)
                    (or (pyclass-definition-documentation definition) +py-none+)))
          (setf (pyclass-definition-member-names definition) (mapcar #'first members))
          (name-python-bases definition class)
          class)
        (make-python-class definition))))

(defun find-pyclass (name)
  "The Python class (a PYOBJECT-WRAPPER) that DEFPYCLASS defined under the symbol NAME,
made on first use in this Python process. Pass it where Python expects a class:
 (pycall \"json.dumps\" data :cls (find-pyclass 'struct-encoder))."
  (let ((definition (pyclass-definition name)))
    (unless *alive* (python-start-if-not-alive))
    (or (live-class definition)
        (bt:with-recursive-lock-held (*pyclass-lock*)
          (or (live-class definition) (make-python-class definition))))))

(defun %define-pyclass (name python-name bases documentation module members-function)
  "Records the definition of DEFPYCLASS NAME; updates its class in place when it exists."
  (bt:with-recursive-lock-held (*pyclass-lock*)
    (let ((definition (or (pyclass-definition name nil)
                          (setf (get name 'pyclass-definition) (make-pyclass-definition name)))))
      (setf (pyclass-definition-python-name definition) python-name
            (pyclass-definition-bases definition) bases
            (pyclass-definition-documentation definition) documentation
            (pyclass-definition-module definition) module
            (pyclass-definition-members-function definition) members-function)
      (define-pyclass-lisp-class name (mapcar #'pyclass-base-key bases) documentation)
      (let ((class (and *alive* (live-class definition))))
        (when class (update-python-class definition class)))
      name)))

(defun pysuper (class instance)
  "Python's super(CLASS, INSTANCE) (a PYOBJECT-WRAPPER): attribute access on it finds the
members of the classes after CLASS in INSTANCE's method resolution order. CLASS: a class
wrapper, or the name of a DEFPYCLASS class. Inside the methods of DEFPYCLASS, (PYSUPER) with
no arguments is super() of the method's class and its self (or cls)."
  (let ((class (if (and (symbolp class) class) (find-pyclass class) class)))
    (with-remote-objects (pycall "super" class instance))))

(defun call-super (&rest arguments)
  "Inside a method of DEFPYCLASS: calls the method of the same name of the base classes
(super().NAME(ARGUMENTS...) in Python), with ARGUMENTS as PYCALL takes them."
  (declare (ignore arguments))
  (error "pymodgen: CALL-SUPER is only defined inside the methods of DEFPYCLASS"))

(defun %call-super (cell self name arguments)
  (apply #'pymethod (pysuper (car cell) self) name arguments))

(defun %super-attribute (cell self name)
  (pyslot-value (pysuper (car cell) self) name))

;;; ------------------------------------------------------------------------------------
;;; Raising Python exceptions from Lisp members

(define-condition python-raise (error)
  ((exception :initarg :exception :reader python-raise-exception
              :documentation "The Python exception (a PYOBJECT-WRAPPER)."))
  (:report (lambda (c s)
             (format s "pymodgen: the Python exception ~A was raised (PYRAISE) outside the ~
members of a DEFPYCLASS class"
                     (handler-case (pycall "repr" (python-raise-exception c))
                       (error () "(unprintable)")))))
  (:documentation "Signalled by PYRAISE. A member of a DEFPYCLASS class returns to Python by
raising the exception; elsewhere it is a Lisp error."))

(defun pyraise (exception &rest arguments)
  "Raises a Python exception from a member of a DEFPYCLASS class, as Python's raise:
EXCEPTION is an exception class, by name (\"StopIteration\", \"KeyError\",
\"json.JSONDecodeError\") or as a wrapper, called with ARGUMENTS (pycall's), or an exception
instance (a wrapper). The member returns to its Python caller by raising it:
 (pyraise \"StopIteration\"), (pyraise \"KeyError\" key). Signals PYTHON-RAISE, which the
member turns into the raise; elsewhere it is a Lisp error."
  (let ((e (with-remote-objects
             (pycall "_pymodgen.make_exception" exception (coerce arguments 'vector)))))
    (error 'python-raise :exception e)))

(defun raise-marker (condition)
  "What a member returns to Python to raise the Python exception CONDITION stands for: a
PYRAISE, or a Python exception that went through the member's Lisp code (signalled as a
PYTHON-BASE-EXCEPTION), raised again as its Python class with its message."
  (with-remote-objects
    (if (typep condition 'python-raise)
        (pycall "_pymodgen.LispRaise" (python-raise-exception condition))
        (pycall "_pymodgen.reraised" (pyerror-type condition) (pyerror-message condition)))))

(defmacro with-python-raise (&body body)
  "BODY, whose Python exceptions (PYRAISE, or Python's, passing through) are returned as the
marker the member's Python function raises."
  `(handler-case (progn ,@body)
     ((or python-raise python-base-exception) (c) (raise-marker c))))

;;; ------------------------------------------------------------------------------------
;;; The macro

(defun pyclass-member-name (designator)
  (etypecase designator
    (string designator)
    (symbol (python-name designator))))

(defun camel-case-name (symbol)
  "LISP-HANDLER -> \"LispHandler\"."
  (format nil "~{~:(~A~)~}" (uiop:split-string (symbol-name symbol) :separator "-")))

(defun method-form (class-cell kind name lambda-list body)
  "The Lisp function (a form) of a member: KIND :METHOD, :INIT, :CLASSMETHOD, :GETTER or
:SETTER take self (or cls) first, as a wrapper; :STATICMETHOD does not."
  (multiple-value-bind (forms declarations doc) (alexandria:parse-body body :documentation t)
    (let ((function `(lambda ,lambda-list
                       ;; self (or cls), which Python code often leaves unused
                       ,@(unless (eq kind :staticmethod)
                           `((declare (ignorable ,(first lambda-list)))))
                       ,@declarations ,@forms)))
      (values
       (if (eq kind :staticmethod)
           (let ((args (gensym "ARGS")))
             `(lambda (&rest ,args)
                (declare (ignorable ,args)) ; (ECL: when FUNCTION takes no arguments)
                (with-python-raise (apply ,function ,args))))
           (let ((self (gensym "SELF")) (args (gensym "ARGS")))
             (unless (and lambda-list (symbolp (first lambda-list))
                          (not (member (first lambda-list) lambda-list-keywords)))
               (error "defpyclass: the lambda list of ~A ~S must start with a parameter for ~
self (or cls): ~S" (string-downcase (symbol-name kind)) name lambda-list))
             `(make-method-callback
               (lambda (,self &rest ,args)
                 (declare (ignorable ,args)) ; (ECL: when FUNCTION takes only self)
                 (flet ((pysuper () (pysuper (car ,class-cell) ,self))
                        (call-super (&rest arguments)
                          ,(if (member kind '(:getter :setter))
                               `(progn arguments (%super-attribute ,class-cell ,self ,name))
                               `(%call-super ,class-cell ,self ,name arguments))))
                   (declare (ignorable #'pysuper #'call-super))
                   (with-python-raise (apply ,function ,self ,args)))))))
       doc))))

(defun parse-pyclass-clause (clause class-cell)
  "The member list entry (a form) of a DEFPYCLASS clause, or :OPTION and the option."
  (unless (and (consp clause) (keywordp (first clause)))
    (error "defpyclass: a clause is (:method NAME LAMBDA-LIST BODY...), (:classmethod ...), ~
(:staticmethod ...), (:property NAME (SELF) BODY...), (:setter NAME (SELF VALUE) BODY...), ~
(:attribute NAME FORM), (:python-name STRING) or (:module STRING), not ~S" clause))
  (destructuring-bind (key &rest rest) clause
    (case key
      ((:python-name :module)
       (unless (and (= 1 (length rest)) (stringp (first rest)))
         (error "defpyclass: (~S STRING) expected, not ~S" key clause))
       (values :option (cons key (first rest))))
      (:attribute
       (unless (= 2 (length rest))
         (error "defpyclass: (:attribute NAME FORM) expected, not ~S" clause))
       `(list ,(pyclass-member-name (first rest)) :attribute ,(second rest) nil))
      ((:method :classmethod :staticmethod :property :setter)
       (unless (and (consp rest) (listp (second rest)))
         (error "defpyclass: (~S NAME LAMBDA-LIST BODY...) expected, not ~S" key clause))
       (destructuring-bind (name lambda-list &rest body) rest
         (let* ((name (pyclass-member-name name))
                (kind (case key
                        (:method (if (string= name "__init__") :init :method))
                        (:property :getter)
                        (t key))))
           (multiple-value-bind (function doc) (method-form class-cell kind name lambda-list body)
             `(list ,name ,kind ,function ,doc)))))
      (t (error "defpyclass: unknown clause ~S" clause)))))

(defmacro defpyclass (name (&rest bases) &body clauses)
  "Defines a Python class whose members are written in Lisp, a subclass of BASES, and NAME
as its constructor function, its Lisp class and its name for FIND-PYCLASS.

NAME: a symbol. The Python class name is NAME in CamelCase (STRUCT-ENCODER ->
StructEncoder) unless a (:python-name STRING) clause gives it; its __module__ is \"__main__\"
unless (:module STRING) gives another. BASES: Python class names (\"logging.Handler\") or
names of other DEFPYCLASS classes; none is object. A docstring first is the class's
__doc__. The other clauses:
 (:method NAME (SELF ARG...) BODY...)       an instance method (\"__init__\" returns None)
 (:classmethod NAME (CLS ARG...) BODY...)   a class method
 (:staticmethod NAME (ARG...) BODY...)      a static method
 (:property NAME (SELF) BODY...)            a property (read)
 (:setter NAME (SELF VALUE) BODY...)        ... and its setter
 (:attribute NAME FORM)                     a class attribute (FORM evaluated when the class
                                            is made: once per Python process)
Member NAMEs are strings (\"do_GET\", exact) or symbols ('emit, 'to-json -> to_json). Lambda
lists are ordinary: Python's positional arguments are the positional ones, its keyword
arguments :KEYWORD pairs (name_x=1 -> :NAME-X 1). SELF is the instance as a typed wrapper
(an instance of the Lisp class NAME, or of a subclass), CLS a PYOBJECT-WRAPPER; other
arguments, and the value returned, are converted as for any Lisp function called from
Python. Inside method bodies, (PYSUPER) is Python's super() and (CALL-SUPER ARG...) calls the
same method of the bases, super().NAME(ARG...) (in a property: the bases' attribute).

(PYRAISE \"StopIteration\") raises a Python exception from a member. A Python exception that
goes through a member's Lisp code is raised again to its caller as its own class; any other
error in a member is a RuntimeError in Python, and the Lisp condition itself again when it
reaches Lisp through the call that ran the member.

NAME is a standard class under PYTHON-INSTANCE and the Lisp classes of BASES that have one
(generated ones, such as LOGGING:HANDLER when the logging bindings are loaded, and other
DEFPYCLASS classes): instances returned to Lisp, made by NAME or by Python, and those of
Python subclasses, are its instances, so TYPEP, SUBTYPEP, DEFMETHOD and PRINT-OBJECT know them.

The class is made on first use in each Python process. Evaluating DEFPYCLASS again updates
it in place: members, __doc__, __name__, __module__ and __bases__, so existing instances see
the new definition (a new class only when Python refuses the new bases), and redefines the
Lisp class NAME with the new bases."
  (check-type name (and symbol (not null)))
  (let ((doc (and (stringp (first clauses)) (rest clauses) (first clauses)))
        (clauses (if (and (stringp (first clauses)) (rest clauses)) (rest clauses) clauses))
        (class-cell (gensym "CLASS-CELL"))
        (options '()) (members '()))
    (when (and (stringp (first clauses)) (null (rest clauses)))
      (setf doc (first clauses) clauses '()))
    (dolist (b bases)
      (unless (or (stringp b) (and b (symbolp b)))
        (error "defpyclass: a base is a Python class name (a string) or the name of a ~
DEFPYCLASS class, not ~S" b)))
    (dolist (clause clauses)
      (multiple-value-bind (entry option) (parse-pyclass-clause clause class-cell)
        (if (eq entry :option) (push option options) (push entry members))))
    (let ((python-name (or (cdr (assoc :python-name options)) (camel-case-name name)))
          (module (or (cdr (assoc :module options)) "__main__")))
      `(progn
         (eval-when (:compile-toplevel) (ensure-pyclass-lisp-class ',name))
         (%define-pyclass ',name ,python-name ',bases ,doc ,module
                          (lambda (,class-cell)
                            (declare (ignorable ,class-cell))
                            (list ,@(reverse members))))
         (defun ,name (&rest arguments)
           ,(format nil "Makes an instance of the Python class ~A (DEFPYCLASS ~S): ARGUMENTS ~
as PYCALL takes them. Returns the instance: an instance of the Lisp class ~S (or of a ~
subclass, should __new__ make one)." python-name name name)
           (with-remote-objects (apply #'pycall (find-pyclass ',name) arguments)))
         ',name))))
