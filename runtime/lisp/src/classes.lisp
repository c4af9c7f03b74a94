;;;; classes.lisp -- Python classes as Lisp classes.
;;;;
;;;; A generated package defines a Lisp class for each class of its module
;;;; (DEFINE-PYTHON-CLASS: collections.Counter -> COLLECTIONS:COUNTER), whose superclasses
;;;; mirror the Python bases, multiple inheritance included. A Python object returned to Lisp
;;;; whose class has one is a "typed wrapper": an instance of that Lisp class, so TYPEP (for
;;;; its class and every base), SUBTYPEP, DEFMETHOD and PRINT-OBJECT understand it.
;;;;
;;;; Representation. PYOBJECT-WRAPPER is a structure, used on the hot call path (struct
;;;; slot reads, a one-word type check in IMMEDIATE-P). A standard class cannot portably
;;;; have a structure class as a superclass, and structures have single inheritance only
;;;; (:include), which cannot mirror socketserver.ThreadingTCPServer(ThreadingMixIn,
;;;; TCPServer). So typed wrappers are instances of standard classes under PYTHON-INSTANCE
;;;; (objects.lisp; the Lisp class of Python's object), each holding the PYOBJECT-WRAPPER
;;;; that owns the reference (finalizer, session epoch: the GC model is unchanged). They share
;;;; the wrapper's protocol: every runtime entry that takes a PYOBJECT-WRAPPER takes them
;;;; (arguments, PYTHONIZE, LISPIFY, PYOBJECT-WRAPPER-EQ, PYTHON-OBJECT-TYPE, printing), and
;;;; the type PYTHON-OBJECT is (or pyobject-wrapper python-instance). Objects whose class no
;;;; generated package knows stay PYOBJECT-WRAPPERs, as in py4cl2-cffi, and cost nothing
;;;; more: until a package defines a class (*TYPED-CLASSES-P*), no lookup is made at all.
;;;;
;;;; Which objects are typed: an object that would be a wrapper (or, for dict subclasses, a
;;;; hash table) is typed by the nearest class of its type's __mro__ that has a Lisp class,
;;;; unless that is one of Python's builtin classes: a subclass no package knows (made by
;;;; PYEXEC, or in a module without bindings) is typed as its nearest known ancestor, as
;;;; conditions are; a plain dict, list or object is never typed. Instances of a subclass of
;;;; dict that a package knows (Counter, OrderedDict, defaultdict) become typed wrappers
;;;; instead of hash tables; subclasses of the other converted types (int, str, tuple
;;;; -- namedtuples --, list ...) are converted as before. When several packages define a class
;;;; for the same Python class (io and _io), its instances get a class made once to inherit
;;;; from them all.
;;;;
;;;; Bases the generator cannot see (a class of another module: io.BufferedIOBase's
;;;; _io._BufferedIOBase) are named by their Python names and resolved when the packages
;;;; are loaded, in any order: defining the class of a Python name redefines the classes that
;;;; have it as a base to add it (CLOS updates their instances). Regenerated bindings
;;;; redefine their classes with the new bases the same way; the type cache is dropped
;;;; whenever a class is defined.

(in-package #:pymodgen)

(eval-when (:compile-toplevel :load-toplevel :execute)
  (defparameter +python-class-exports+
    '(python-instance python-instance-wrapper define-python-class find-python-class
      python-class-of wrap-python-object
      python-type python-int python-float python-complex python-str python-bytes
      python-bytearray python-list python-tuple python-dict python-set python-frozenset
      python-property python-staticmethod python-classmethod)
    "The external symbols of PYMODGEN for Python classes as Lisp classes: not exported from
PY4CL2-CFFI, whose users' packages could have such names of their own.")
  (export +python-class-exports+ '#:pymodgen))

(defvar *python-classes* (%make-synchronized-hash-table :test #'equal)
  "Python class name (\"module.QualName\", builtins included: \"builtins.dict\") -> the Lisp
class names defined for it, oldest first.")

(defvar *python-class-bases* (%make-synchronized-hash-table :test #'eq)
  "Lisp class name -> (PYTHON-NAME PYTHON-BASES DOCUMENTATION) as DEFINE-PYTHON-CLASS gave them.")

(defvar *python-class-dependents* (%make-synchronized-hash-table :test #'equal)
  "Python class name -> the Lisp class names that have it as a Python base.")

(defvar *combined-python-classes* (%make-synchronized-hash-table :test #'equal)
  "A list of Lisp class names -> the class made to inherit from them all.")

(defvar *python-type-cache* (cons -1 nil)
  "(generation . hash table): Python type address -> the Lisp class of its instances, or
NIL (untyped). Each key holds a reference to its type, so that its address is not reused
while cached.")

(defvar *python-classes-lock* (bt:make-recursive-lock "pymodgen classes"))

(defun %builtin-python-name-p (name)
  (and (> (length name) 9) (string= "builtins." name :end2 9)))

(defun %drop-type-cache ()
  "Forgets every type -> class decision (a class was defined), releasing the types."
  (bt:with-recursive-lock-held (*python-classes-lock*)
    (destructuring-bind (generation . table) *python-type-cache*
      (when (and table (= generation *generation*) *alive*)
        (with-python-gil
          (maphash (lambda (address class) (declare (ignore class))
                     (pmg-decref (cffi:make-pointer address)))
                   table)))
      (setf *python-type-cache* (cons -1 nil)))))

(defun %lisp-superclasses (name python-bases)
  "The Lisp superclasses for the class NAME with PYTHON-BASES: the classes defined for each
base, in the order of the bases (NAME itself left out: two Python classes of one name);
PYTHON-INSTANCE when none is."
  (or (remove name
              (remove-duplicates
               (loop for b in python-bases append (copy-list (gethash b *python-classes*)))
               :from-end t))
      (list 'python-instance)))

#+ecl
(defun %class-precedence (name)
  (let ((class (find-class name nil)))
    (when class
      (unless (clos:class-finalized-p class) (clos:finalize-inheritance class))
      (clos:class-precedence-list class))))

(defun %ensure-python-class (name supers documentation)
  "Defines (or redefines) the standard class NAME with SUPERS; when CLOS refuses them (a
cycle through classes of one Python name), with the first of SUPERS alone, else under
PYTHON-INSTANCE."
  (let (#+ecl (old (ignore-errors (%class-precedence name))))
    (flet ((def (supers)
             (eval `(defclass ,name ,supers ()
                      ,@(when documentation `((:documentation ,documentation)))))))
      (handler-case (def supers)
        (error ()
          (handler-case (def (list (first supers)))
            (error () (def (list 'python-instance)))))))
    ;; ECL (21.2) keeps the dispatch caches of generic functions when a class's superclasses
    ;; change: a method on a former superclass would still be selected. Those whose methods
    ;; specialize on a class of the old or new precedence list are cleared.
    #+ecl
    (dolist (class (union old (ignore-errors (%class-precedence name))))
      (dolist (gf (clos:specializer-direct-generic-functions class))
        (si:clear-gfun-hash gf)))))

(defun %register-python-class (name python-name python-bases documentation supers)
  "Makes NAME (a class just defined with the superclasses SUPERS) the Lisp class of
PYTHON-NAME, with PYTHON-BASES (Python names), and brings the superclasses of NAME and of
the classes that have PYTHON-NAME as a base up to date."
  (bt:with-recursive-lock-held (*python-classes-lock*)
    ;; a Lisp class defined again for another Python class (regenerated bindings)
    (let ((old (first (gethash name *python-class-bases*))))
      (when (and old (string/= old python-name))
        (setf (gethash old *python-classes*) (remove name (gethash old *python-classes*)))))
    (let ((known (gethash python-name *python-classes*)))
      (unless (member name known)
        (setf (gethash python-name *python-classes*) (append known (list name)))))
    (setf (gethash name *python-class-bases*)
          (list python-name python-bases documentation supers))
    (dolist (b python-bases)
      (pushnew name (gethash b *python-class-dependents*)))
    (unless (%builtin-python-name-p python-name) (setf *typed-classes-p* t))
    ;; this class, and those that have PYTHON-NAME as a base (and may wait for it)
    (let ((affected (cons name (remove name (gethash python-name *python-class-dependents*)))))
      (dolist (class affected)
        (destructuring-bind (pname bases doc current) (gethash class *python-class-bases*)
          (let ((supers (%lisp-superclasses class bases)))
            (unless (equal supers current)
              (%ensure-python-class class supers doc)
              (setf (gethash class *python-class-bases*) (list pname bases doc supers)))))))
    (clrhash *combined-python-classes*)
    (%drop-type-cache)
    name))

(defmacro define-python-class (name (&rest superclasses) python-name
                               &key bases documentation)
  "Defines NAME as the Lisp class of the Python class PYTHON-NAME (\"module.QualName\"),
whose instances returned to Lisp are then instances of NAME (or of a subclass, for Python
subclasses): a standard class under PYTHON-INSTANCE. SUPERCLASSES: the Lisp classes of the
Python bases known where the form is written (default PYTHON-INSTANCE); BASES: the Python
names of all the direct bases, in order (\"builtins.dict\", \"_io._BufferedIOBase\"), whose
Lisp classes, once defined by any package, are added as superclasses in that order.
Generated packages define their module's classes with it; a Lisp program may too, for a
Python class it knows by name. Returns NAME."
  (check-type name symbol)
  (check-type python-name string)
  `(progn
     (defclass ,name ,(or superclasses '(python-instance)) ()
       ,@(when documentation `((:documentation ,documentation))))
     (%register-python-class ',name ,python-name ',bases ,documentation
                             ',(or superclasses '(python-instance)))))

(defun find-python-class (python-name)
  "The Lisp class defined for the Python class named PYTHON-NAME (\"collections.Counter\",
\"builtins.dict\"), or NIL (the newest one when several packages defined one)."
  (let ((names (gethash python-name *python-classes*)))
    (and names (find-class (car (last names)) nil))))

;;; The runtime's classes of Python's builtin classes, as superclasses (an instance whose
;;; nearest known class is one of these stays untyped: a plain dict is a hash table).
(setf (gethash "builtins.object" *python-classes*) (list 'python-instance))
(macrolet ((builtins (&rest entries)
             `(progn
                ,@(loop for (python name) in entries
                        collect `(define-python-class ,name () ,(format nil "builtins.~A" python)
                                   :documentation ,(format nil "The Lisp class of Python's ~A: ~
the superclass of the Lisp classes of its subclasses (its own instances are converted, or ~
stay PYOBJECT-WRAPPERs)." python))))))
  (builtins ("type" python-type) ("int" python-int) ("float" python-float)
            ("complex" python-complex) ("str" python-str) ("bytes" python-bytes)
            ("bytearray" python-bytearray) ("list" python-list) ("tuple" python-tuple)
            ("dict" python-dict) ("set" python-set) ("frozenset" python-frozenset)
            ("property" python-property) ("staticmethod" python-staticmethod)
            ("classmethod" python-classmethod)))

;;; Python type -> Lisp class

(defun %combined-python-class (names)
  "A class that inherits from each of the classes NAMES (made once), or, should CLOS refuse
that combination, the first of them."
  (or (gethash names *combined-python-classes*)
      (setf (gethash names *combined-python-classes*)
            (let ((name (make-symbol (format nil "~{~S~^+~}" names))))
              (handler-case (progn (eval `(defclass ,name ,names ())) (find-class name))
                (error () (find-class (first names))))))))

(defvar *python-mro-function* nil "(generation . wrapper of the MRO-names function)")

(defun %python-mro-names (type)
  "The names (\"module.QualName\") of the classes of the __mro__ of TYPE (a borrowed
pointer to a class), the class first; for a DEFPYCLASS class, its key
(\"lisp:PACKAGE::NAME\", defpyclass.lisp)."
  (let ((e *python-mro-function*)
        (*typed-classes-p* nil))        ; (the results below are never typed)
    (unless (and e (= (car e) *generation*))
      (setf e (cons *generation*
                    (with-default-translation
                      (with-remote-objects
                        (raw-pyeval "lambda t: [c.__dict__.get('__pymodgen_lisp_class__') or c.__module__ + '.' + c.__qualname__ for c in t.__mro__]"))))
            *python-mro-function* e))
    (coerce (with-default-translation (pycall (cdr e) type)) 'list)))

(defun %python-class-for-mro (names)
  "The class for instances of a type whose __mro__ names are NAMES, or NIL: the nearest
with a Lisp class, unless that is a builtin class."
  (loop for n in names
        for classes = (gethash n *python-classes*)
        when classes
          return (cond ((%builtin-python-name-p n) nil)
                       ((rest classes) (%combined-python-class classes))
                       (t (find-class (first classes))))))

(defun %type-cache ()
  (let ((e *python-type-cache*))
    (if (and (cdr e) (= (car e) *generation*))
        (cdr e)
        (bt:with-recursive-lock-held (*python-classes-lock*)
          (let ((e *python-type-cache*))
            (if (and (cdr e) (= (car e) *generation*))
                (cdr e)
                (let ((table (%make-synchronized-hash-table)))
                  (setf *python-type-cache* (cons *generation* table))
                  table)))))))

(defun python-class-of (pointer)
  "The Lisp class of the instances of the Python object at POINTER's type (POINTER: a
borrowed PyObject*, or a wrapper), or NIL when they are not typed. The GIL is taken."
  (let ((pointer (if (typep pointer 'python-object)
                     (pyobject-wrapper-pointer (%pyobject-wrapper-of pointer))
                     pointer)))
    (with-python-gil
      (let* ((type (pmg-getattr pointer "__class__"))
             (address (cffi:pointer-address type))
             (table (%type-cache)))
        (when (zerop address)           ; (a proxy whose __class__ raises: not typed)
          (pmg-error-clear)
          (return-from python-class-of nil))
        (multiple-value-bind (class found) (gethash address table)
          (if found
              (progn (pmg-decref type) class)
              (let ((class (%python-class-for-mro
                            (handler-case (%python-mro-names type) (pyerror () '())))))
                (when (> (hash-table-count table) 1000) ; types made at run time, in a loop
                  (%drop-type-cache)
                  (setf table (%type-cache)))
                ;; the reference to the type stays with the cache entry
                (setf (gethash address table) class)
                class)))))))

(defun %typed (wrapper class)
  (make-instance class :wrapper wrapper))

(defun %maybe-typed (wrapper pointer)
  "WRAPPER, or the typed wrapper holding it when POINTER's Python class has a Lisp class."
  (if *typed-classes-p*
      (let ((class (python-class-of pointer)))
        (if class (%typed wrapper class) wrapper))
      wrapper))

(defun wrap-python-object (pointer &key (owned t))
  "The Lisp object for the Python object at POINTER, as results are: an instance of the
Lisp class of its Python class (a PYTHON-INSTANCE) when a generated package defined one
for it or an ancestor, else a PYOBJECT-WRAPPER. OWNED: POINTER is a new reference that
passes to the result (else it is borrowed, and the result takes one of its own)."
  (let ((w (if owned (wrap-new-reference pointer) (wrap-borrowed pointer))))
    (%maybe-typed w pointer)))

(defmethod pythonize ((o python-instance))
  (pythonize (python-instance-wrapper o)))
