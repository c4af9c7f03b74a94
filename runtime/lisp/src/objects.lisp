;;;; objects.lisp -- PYOBJECT-WRAPPER (a Python object held from Lisp), finalizers and the
;;;; GC model, and the table of Lisp objects seen from Python.
;;;;
;;;; GC model: a wrapper owns one reference to its Python object. When Lisp's GC finds the
;;;; wrapper unreachable, its trivial-garbage finalizer queues the pointer in the runtime's
;;;; deferred-decref queue (no GIL needed, any thread); the next runtime call that takes
;;;; the GIL drops the queued references. Users never manage the GIL for this.

(in-package #:pymodgen)

(defstruct (pyobject-wrapper (:constructor %make-wrapper
                                 (%address &optional (epoch *image-epoch*)))
                             (:copier nil))
  "A wrapper around a pointer to a python object.
LOAD-FORM is used if the pyobject-wrapper is dumped into a compiled lisp file."
  (%address 0 :type (unsigned-byte 62))
  ;; the process (image epoch) the pointer belongs to; -1 for the constants (+PY-NONE+,
  ;; +PY-EMPTY-TUPLE+), whose address is set again by each PYSTART
  (epoch 0 :type fixnum :read-only t)
  (load-form nil))

;;; Wrappers that a generated package types (classes.lisp): instances of standard classes
;;; under PYTHON-INSTANCE, which hold a PYOBJECT-WRAPPER (the owner of the reference). A
;;; standard class cannot portably have a structure class as a superclass, and only standard
;;; classes give multiple inheritance to TYPEP, SUBTYPEP and DEFMETHOD: so typed wrappers are
;;; not PYOBJECT-WRAPPERs, but share its protocol (PYTHON-OBJECT below, %PYOBJECT-WRAPPER-OF).
;;; The untyped PYOBJECT-WRAPPER stays the structure it is, on the hot path.
(defclass python-instance ()
  ((wrapper :initarg :wrapper :type pyobject-wrapper))
  (:documentation "The class of the Python objects whose class a generated package gives a Lisp
class (classes.lisp): the Lisp class of Python's object. Each such Lisp class is a subclass of
it; an instance holds the PYOBJECT-WRAPPER that owns its Python object (PYTHON-INSTANCE-WRAPPER)
and is accepted wherever a PYOBJECT-WRAPPER is."))

(declaim (inline python-instance-wrapper))
(defun python-instance-wrapper (instance)
  "The PYOBJECT-WRAPPER (the reference to the Python object) of the typed wrapper INSTANCE."
  (slot-value instance 'wrapper))

(defvar *typed-classes-p* nil
  "True once a generated package (DEFINE-PYTHON-CLASS, classes.lisp) defined a class: from
then on the objects that results wrap are looked up in the type cache. (Global; bound to NIL
only around the runtime's own lookups.)")

(deftype python-object ()
  "A Python object held from Lisp: a PYOBJECT-WRAPPER, or an instance of a Lisp class a
generated package made for its Python class (a PYTHON-INSTANCE)."
  '(or pyobject-wrapper python-instance))

(declaim (inline %pyobject-wrapper-of))
(defun %pyobject-wrapper-of (object)
  "The PYOBJECT-WRAPPER of OBJECT (a wrapper, or a typed PYTHON-INSTANCE), else NIL."
  (cond ((pyobject-wrapper-p object) object)
        ((typep object 'python-instance) (python-instance-wrapper object))
        (t nil)))

(setf (documentation 'pyobject-wrapper-p 'function)
      "True when the argument is a PYOBJECT-WRAPPER (a Python object held from Lisp).")

(defun stale-wrapper-error (wrapper)
  (error 'python-stale-object-error
         :message (format nil "this Python object (PyObject* #x~X) belongs to an earlier ~
Python session: it was made before the Lisp image was saved, and that Python process is ~
gone. Make it again in this session."
                          (pyobject-wrapper-%address wrapper))))

(declaim (inline pyobject-wrapper-address))
(defun pyobject-wrapper-address (wrapper)
  "The PyObject* address of WRAPPER; a PYTHON-STALE-OBJECT-ERROR when it belongs to an
earlier Python session (a saved image)."
  (let ((epoch (pyobject-wrapper-epoch wrapper)))
    (if (or (= epoch *image-epoch*) (= epoch -1))
        (pyobject-wrapper-%address wrapper)
        (stale-wrapper-error wrapper))))

(declaim (inline pyobject-wrapper-pointer))
(defun pyobject-wrapper-pointer (wrapper)
  "The PyObject* (a foreign pointer, borrowed from WRAPPER)."
  (cffi:make-pointer (pyobject-wrapper-address wrapper)))

(defvar *pygc-enabled* t)
(defvar *pygc-threshold* 1000
  "Compatibility knob: when more than this many references are queued for release,
WITH-PYGC releases them at its end. (References are otherwise released at the next call
that takes the GIL.)")

(defun wrap-new-reference (pointer)
  "Wraps POINTER (a NEW reference, now owned by the wrapper) with a finalizer."
  (let* ((address (cffi:pointer-address pointer))
         (epoch *image-epoch*)
         (w (%make-wrapper address)))
    (when *pygc-enabled*
      ;; (a wrapper saved in a Lisp image points into the old process: never released)
      (tg:finalize w (lambda ()
                       (when (= epoch *image-epoch*)
                         (pmg-decref-deferred (cffi:make-pointer address))))))
    w))

(defun wrap-borrowed (pointer)
  (pmg-incref pointer)
  (wrap-new-reference pointer))

(defmacro with-pygc (&body body)
  "Code surrounded by with-pygc performs garbage collection only after executing all of
body: here, queued references are released at its end if above *PYGC-THRESHOLD*."
  `(multiple-value-prog1 (progn ,@body)
     (when (and *alive* (> (pmg-deferred-count) *pygc-threshold*)) (pmg-flush))))

(defmacro enable-pygc ()
  "Python objects wrapped from now on are released when their wrapper is garbage."
  `(progn (setf *pygc-enabled* t) (values)))

(defmacro disable-pygc ()
  "Python objects wrapped from now on are never released (their wrappers get no
finalizer)."
  `(progn (setf *pygc-enabled* nil) (values)))

(defun pyobject-wrapper-eq* (o1 o2)
  "Like pyobject-wrapper-eq but assumes that o1 and o2 are pyobject-wrapper each."
  (declare (type pyobject-wrapper o1 o2))
  (= (pyobject-wrapper-%address o1) (pyobject-wrapper-%address o2)))

(defun pyobject-wrapper-eq (o1 o2)
  "Returns T if o1 and o2 are both pyobject-wrapper with the same pointer, or the same
lisp objects which are EQ to each other. Returns NIL in all other cases. (Typed wrappers,
PYTHON-INSTANCEs, compare by their Python object too.)"
  (or (eq o1 o2)
      (let ((w1 (%pyobject-wrapper-of o1)) (w2 (%pyobject-wrapper-of o2)))
        (and w1 w2 (pyobject-wrapper-eq* w1 w2)))))

(defun python-object-eq (o1 o2)
  "py4cl2-cffi's other name of PYOBJECT-WRAPPER-EQ."
  (pyobject-wrapper-eq o1 o2))
(defun python-object-eq* (o1 o2)
  "py4cl2-cffi's other name of PYOBJECT-WRAPPER-EQ*."
  (pyobject-wrapper-eq* o1 o2))

(defvar *print-pyobject* t
  "If non-NIL, python's 'str' is called on the python-object before printing.")
(defvar *print-pyobject-wrapper-identity* t
  "If non-NIL, print's the lisp type and identity of the pyobject-wrapper.")
(defvar *print-python-object* t "Alias of *PRINT-PYOBJECT* (py4cl2-cffi's older name).")

(defun pystring-of (pointer which)
  "str (WHICH 0) or repr (1) of the Python object at POINTER, as a Lisp string."
  (let ((s (check-pointer (pmg-str pointer which))))
    (unwind-protect (pystr-to-lisp s) (pmg-decref s))))

(defun python-object-type (o)
  "The Python type of wrapper O, as a string such as \"<class 'int'>\"."
  (when (typep o 'python-instance) (setf o (python-instance-wrapper o)))
  (%check-argument python-object-type o pyobject-wrapper "a pyobject-wrapper")
  (with-python-gil
    (let ((ty (check-pointer (pmg-getattr (pyobject-wrapper-pointer o) "__class__"))))
      (unwind-protect (pystring-of ty 0) (pmg-decref ty)))))

(defun %print-python-object (object o s label)
  "Prints OBJECT (the wrapper O, or a typed wrapper holding O) to S, as LABEL (a string)."
  (if (or (not *alive*) (not (member (pyobject-wrapper-epoch o) (list -1 *image-epoch*))))
      (print-unreadable-object (object s :identity t)
        (format s "~A :POINTER #x~X (~A)" label (pyobject-wrapper-%address o)
                (if *alive* "from an earlier Python session" "Python not running")))
      (let* ((p (pyobject-wrapper-pointer o))
             (type (ignore-errors (python-object-type o)))
             (text (if *print-pyobject*
                       (or (ignore-errors (with-python-gil (pystring-of p 0))) "?")
                       nil)))
        (if *print-pyobject-wrapper-identity*
            (print-unreadable-object (object s :identity t)
              (if text
                  (progn (format s "~A :type ~A~%" label type)
                         (pprint-logical-block (s nil :per-line-prefix "  ")
                           (write-string text s))
                         (terpri s))
                  (format s "~A :POINTER #x~X :TYPE ~A" label
                          (pyobject-wrapper-address o) type)))
            (if text
                (write-string text s)
                (format s "#<~A :POINTER #x~X :TYPE ~A>" label
                        (pyobject-wrapper-address o) type))))))

(defmethod print-object ((o pyobject-wrapper) s)
  (%print-python-object o o s "PYTHON-OBJECT"))

(defmethod print-object ((o python-instance) s)
  ;; As a PYOBJECT-WRAPPER prints, labelled with the Lisp class (COLLECTIONS:COUNTER).
  (%print-python-object o (python-instance-wrapper o) s
                        (let ((name (class-name (class-of o)))
                              (*package* (find-package "KEYWORD")))
                          (if (symbol-package name) (prin1-to-string name) (symbol-name name)))))

(defmethod make-load-form ((o pyobject-wrapper) &optional env)
  (declare (ignore env))
  (cond ((pyobject-wrapper-load-form o))
        (t `(pyeval ,(with-python-gil (pystring-of (pyobject-wrapper-pointer o) 1))))))

(defvar +py-none+ (%make-wrapper 0 -1)
  "The Python None (a PYOBJECT-WRAPPER). The same Lisp object in every session (valid
from the first call: calls start Python before reading it); PYSTART sets its address.")
(defvar +py-empty-tuple+ (%make-wrapper 0 -1)
  "The Python empty tuple (a PYOBJECT-WRAPPER), the same Lisp object in every session.")

(defun set-constant-wrappers (none empty-tuple)
  "PYSTART: the constants' addresses in this session (references owned by the runtime:
None and () are immortal for our purposes, one reference each is kept)."
  (setf (pyobject-wrapper-%address +py-none+) (cffi:pointer-address none)
        (pyobject-wrapper-%address +py-empty-tuple+) (cffi:pointer-address empty-tuple)
        +py-none-pointer+ none
        +py-empty-tuple-pointer+ empty-tuple))

(defun clear-constant-wrappers ()
  (setf (pyobject-wrapper-%address +py-none+) 0
        (pyobject-wrapper-%address +py-empty-tuple+) 0
        +py-none-pointer+ (cffi:null-pointer)
        +py-empty-tuple-pointer+ (cffi:null-pointer)))

(pushnew 'clear-constant-wrappers *before-save-hooks*)
(defvar +py-none-pointer+ (cffi:null-pointer) "PyObject* of None, set by PYSTART.")
(defvar +py-empty-tuple-pointer+ (cffi:null-pointer) "PyObject* of (), set by PYSTART.")

;;; ------------------------------------------------------------------------------------
;;; Lisp objects seen from Python: a table of handles.

(defvar *handles* (make-hash-table) "handle -> Lisp object referenced from Python")
(defvar *handles-lock* (bt:make-lock "pymodgen handles"))
(defvar *next-handle* 0)

(defun drain-freed-handles ()
  (cffi:with-foreign-object (buf :int64 64)
    (loop for n = (pmg-take-freed-handles buf 64)
          while (plusp n)
          do (bt:with-lock-held (*handles-lock*)
               (dotimes (i n) (remhash (cffi:mem-aref buf :int64 i) *handles*))))))

(defun register-object (object)
  "A fresh handle (integer) under which Python can reach OBJECT."
  (drain-freed-handles)
  (bt:with-lock-held (*handles-lock*)
    (let ((h (incf *next-handle*)))
      (setf (gethash h *handles*) object)
      h)))

(defun handle-object (handle)
  (bt:with-lock-held (*handles-lock*)
    (multiple-value-bind (o found) (gethash handle *handles*)
      (unless found (error "pymodgen: no Lisp object under handle ~A" handle))
      o)))

(defun free-handle (handle)
  (bt:with-lock-held (*handles-lock*) (remhash handle *handles*)))

(defun handle-count ()
  (drain-freed-handles)
  (bt:with-lock-held (*handles-lock*) (hash-table-count *handles*)))
