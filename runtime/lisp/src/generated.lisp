;;;; generated.lisp -- the contract between the runtime and generated bindings.
;;;;
;;;; Code emitted by pymodgen's Lisp emitter (one package per Python module, one DEFUN per
;;;; Python function) calls exactly these three functions, all exported from PYMODGEN:
;;;;
;;;;   (pymodgen:%callable-cell MODULE-NAME ATTRIBUTE-PATH) -> cell
;;;;   (pymodgen:%call-cell CELL POSITIONAL-ARGS KEYWORD-ARGS) -> Lisp value
;;;;   (pymodgen:%module-hash MODULE-NAME GENERATOR-TAG) -> string
;;;;
;;;; A generated function looks like this (for numpy.linalg.norm(x, ord=None, axis=None)):
;;;;
;;;;   (defun norm (x &key (ord nil ord-p) (axis nil axis-p))
;;;;     "Matrix or vector norm. ..."
;;;;     (pymodgen:%call-cell
;;;;      (load-time-value (pymodgen:%callable-cell "numpy.linalg" "norm"))
;;;;      (list x)
;;;;      (nconc (and ord-p (list "ord" ord)) (and axis-p (list "axis" axis)))))
;;;;
;;;; and its system checks at load time that the Python module did not change since
;;;; generation: (string= (pymodgen:%module-hash "numpy" "<tag>") "<hash at generation>").

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

(defun %call-cell (cell positional-args keyword-args)
  "Calls CELL's Python callable and returns the result converted to Lisp (honouring
*LISPIFIERS*, *PYTHONIZERS*, WITH-REMOTE-OBJECTS). POSITIONAL-ARGS: a list of Lisp values
(keywords among them are plain values here). KEYWORD-ARGS: a plist alternating Python
parameter-name strings and Lisp values, e.g. (\"axis\" 0 \"dtype\" \"f4\"). This is the
same fast path as PYCALL and DEFPYFUN functions: one foreign call when every argument is an
integer, float, T/NIL or pyobject-wrapper."
  (declare (list positional-args keyword-args) (optimize speed (safety 1) (debug 0)))
  (unless *alive* (python-start-if-not-alive))
  (let ((target (callable-cell-target cell)))
    (if (and (null keyword-args) (null *pythonizers*) (null *remote*)
             (<= (length positional-args) +max-fast-args+)
             (every #'immediate-p positional-args))
        (invoke-fast target positional-args (length positional-args))
        (invoke-general target positional-args
                        (loop for (k v) on keyword-args by #'cddr
                              collect (cons (python-name k) v))
                        (if *remote* :wrapper :lisp)))))

;;; The module version hash (pymodgen/src/python/module_hash.py, run in the live
;;; interpreter so the Lisp load-time check computes what the generator computed).

(defparameter +module-hash-source+
  (let ((p (asdf:system-relative-pathname "pymodgen" "../../pymodgen/src/python/module_hash.py")))
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
