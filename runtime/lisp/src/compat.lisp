;;;; compat.lisp -- the rest of py4cl2-cffi's API: exported names its README does not list
;;;; (SIMPLE-PYERROR, PYFOR, +DISABLE-PYSTOP+) and the internal helpers py4cl2-cffi code
;;;; reaches with :: (py4cl2-cffi::py-repr, py4cl2-cffi::pyvalue* ...), with the same
;;;; meaning. src/py4cl2-cffi.lisp makes the helpers accessible in package PY4CL2-CFFI.

(in-package #:pymodgen)

(export '(simple-pyerror pyfor +disable-pystop+) '#:pymodgen)

(defconstant +disable-pystop+ (and pymodgen/config:*disable-pystop* t)
  "py4cl2-cffi's configuration constant: T when PYMODGEN/CONFIG:*DISABLE-PYSTOP* was true
when the runtime was loaded (PYSTOP then does nothing; it checks the variable at each call).")

(defun pyerror-stop-iteration-p (condition)
  (and (typep condition 'pyerror) (string= "StopIteration" (pyerror-type condition))))

(deftype pyerror-stop-iteration ()
  "A PYERROR for Python's StopIteration."
  '(and simple-pyerror (satisfies pyerror-stop-iteration-p)))

(defparameter +py4cl2-cffi-helpers+
  '(py-repr pyvalue* pycall* pymethod* pyslot-value* pythonize-symbol python-name-p lispify-name
    pyforeign-funcall lisp-object object-handle pyerror-stop-iteration pyerror-stop-iteration-p
    numpy-installed-p python-object-pointer with-python-gil)
  "Internal py4cl2-cffi names (reached with py4cl2-cffi::) that the drop-in package has.")

;;; py-repr: Python source text for a Lisp value (what PYEVAL/PYEXEC splice)

(defgeneric py-repr (object)
  (:documentation "A string of Python code that evaluates to OBJECT (py4cl2-cffi's
PY-REPR): repr() of its Python value; floats keep their width (numpy.float32 for a
single-float), infinities and NaN included; a string is returned as it is (it is code),
quoted when it reads as a number or spans lines; a symbol is its Python name."))

(defmethod py-repr (object)
  (with-default-translation (pycall "repr" object)))

(defmethod py-repr ((f float))
  (let ((text (cond ((%float-nan-p f) "float('nan')")
                    ((%float-infinity-p f) (if (plusp f) "float('inf')" "-float('inf')"))
                    (t (with-default-translation (pycall "repr" (coerce f 'double-float)))))))
    (if (typep f 'single-float)
        (format nil "__import__('numpy').float32(~A)" text)
        text)))

(defmethod py-repr ((s string))
  (cond ((find #\Newline s) (concatenate 'string "\"\"\"" s "\"\"\""))
        ((number-text-p s) (concatenate 'string "\"" s "\""))
        (t s)))

(defmethod py-repr ((s symbol))
  (if (or (eq s t) (null s))
      (if s "True" "False")
      (pythonize-symbol s)))

(defun pythonize-symbol (symbol)
  "The Python text of SYMBOL as py4cl2-cffi spells it: *FOO* -> FOO (a constant), T ->
True, NIL -> False, an all-upper-case name lowercased, - -> _."
  (cond ((null symbol) "False")
        ((eq symbol t) "True")
        (t (let* ((name (symbol-name symbol))
                  (name (cond ((and (> (length name) 2) (char= #\* (char name 0))
                                    (char= #\* (char name (1- (length name)))))
                               (subseq name 1 (1- (length name))))
                              ((notany #'lower-case-p name) (string-downcase name))
                              (t name))))
             (substitute #\_ #\- name)))))

(defun python-name-p (name)
  "T when NAME is a string naming a Python value (a dotted name), not other code."
  (and (stringp name) (python-name-string-p name)))

;;; Values as pointers (py4cl2-cffi's starred functions return foreign pointers)

(defvar *pointer-keepers* (%make-synchronized-hash-table :test #'equal)
  "name -> wrapper of the last value PYVALUE* returned for it (keeps that pointer valid
while the name is not looked up again, as a borrowed reference from the dict would be).")

(defun pyvalue* (python-name)
  "The PyObject* (a foreign pointer) of the Python value named PYTHON-NAME, borrowed: it
stays valid until the next PYVALUE* of the same name (as py4cl2-cffi's, which borrows from
the module's dict). Pass it to PYCALL, PYTHONIZE, LISPIFY."
  (let ((w (with-remote-objects (pyvalue python-name))))
    (setf w (or (%pyobject-wrapper-of w) (wrap-new-reference (%pythonize w))))
    (setf (gethash python-name *pointer-keepers*) w)
    (pyobject-wrapper-pointer w)))

(defun pycall* (python-callable &rest args)
  "PYCALL keeping the result in Python: a PYOBJECT-WRAPPER (py4cl2-cffi returns the raw
pointer; a wrapper is accepted everywhere that pointer was, and is released by the GC)."
  (with-remote-objects (apply #'pycall python-callable args)))

(defun pymethod* (object method-name &rest args)
  "PYMETHOD keeping the result in Python (a PYOBJECT-WRAPPER)."
  (with-remote-objects (apply #'pymethod object method-name args)))

(defun pyslot-value* (object slot-name)
  "PYSLOT-VALUE keeping the result in Python (a PYOBJECT-WRAPPER)."
  (with-remote-objects (pyslot-value object slot-name)))

(defun python-object-pointer (wrapper)
  "The PyObject* of WRAPPER (py4cl2-cffi's older name of PYOBJECT-WRAPPER-POINTER)."
  (pyobject-wrapper-pointer (or (%pyobject-wrapper-of wrapper) wrapper)))

(defmacro pyforeign-funcall (name-and-options &rest args)
  "CFFI:FOREIGN-FUNCALL of a function of the Python C API (libpython is loaded globally),
with the GIL held. Reference counting is the caller's business, as in C."
  `(with-python-gil (cffi:foreign-funcall ,name-and-options ,@args)))

(defun lisp-object (handle)
  "The Lisp object Python refers to by HANDLE (see OBJECT-HANDLE)."
  (handle-object handle))

(defun object-handle (object)
  "A fresh handle (an integer) under which Python code can refer to the Lisp OBJECT."
  (register-object object))

(defun numpy-installed-p ()
  "T when numpy is importable by the running interpreter."
  (unless *alive* (python-start-if-not-alive))
  (and (member :arrays *internal-features*) t))

;;; pyfor: an ITERATE clause, (iter (pyfor x in python-iterable) ...), defined when ITERATE
;;; is loaded (the drop-in system loads it if it is installed).

(defun pyfor-expansion (var object)
  "The ITERATE forms of (PYFOR VAR IN OBJECT)."
  (flet ((s (name) (find-symbol name "ITERATE")))
    (let ((iterator (gensym "PYITERATOR")))
      `(progn
         (,(s "WITH") ,iterator = (with-remote-objects (pycall "iter" ,object)))
         (,(s "FOR") ,var = (handler-case (pycall "next" ,iterator)
                              (pyerror-stop-iteration () (,(s "FINISH")))))))))

(defun define-pyfor-clause ()
  "Defines the ITERATE clause (PYFOR VAR IN PYTHON-ITERABLE), when ITERATE is loaded."
  (let ((it (find-package "ITERATE")))
    (when it
      (eval `(,(find-symbol "DEFMACRO-CLAUSE" it) (pyfor var ,(find-symbol "IN" it) object)
              "Iterates VAR over the Python iterable OBJECT (a wrapper or a Lisp value)."
              (pyfor-expansion var object)))
      t)))

(define-pyfor-clause)
