;;;; api.lisp -- the rest of the py4cl2-cffi API: eval/exec, imports, callbacks, output,
;;;; generators, chains, introspection; and the runtime's start-up hook.

(in-package #:pymodgen)

;;; ------------------------------------------------------------------------------------
;;; Python -> Lisp callbacks

(defmacro with-default-translation (&body body)
  "Internal calls ignore the user's *LISPIFIERS* / *PYTHONIZERS* and remote mode."
  `(let ((*lispifiers* nil) (*pythonizers* nil) (*remote* nil)) ,@body))

(defun lisp-keyword (name)
  (intern (string-upcase (substitute #\- #\_ name)) :keyword))

(defun dispatch-callback (handle args kwargs)
  ;; Runs with the GIL held by Python (the runtime marks it held for this thread).
  (let ((*in-gil* t) (*remote* nil) (*pinned-arrays* nil) (*shared-arrays* nil))
    (handler-case
        (let* ((f (handle-object handle))
               (pos (if (cffi:null-pointer-p args)
                        nil
                        (let ((l (lispify-pointer args nil))) (if (listp l) l nil))))
               (kw (unless (cffi:null-pointer-p kwargs)
                     (let ((h (lispify-pointer kwargs nil)))
                       (loop for k being the hash-keys of h using (hash-value v)
                             collect (lisp-keyword k) collect v)))))
          (%pythonize (apply f (append pos kw))))
      (python-attribute-missing (c)
        (pmg-set-python-error 2 (princ-to-string c))
        (cffi:null-pointer))
      (error (c)
        (pmg-set-python-error 0 (format nil "Lisp error ~D: ~A" (remember-callback-condition c)
                                        (handler-case (princ-to-string c)
                                          (error () "(unprintable condition)"))))
        (cffi:null-pointer)))))

(cffi:defcallback lisp-dispatch :pointer ((handle :int64) (args :pointer) (kwargs :pointer))
  ;; A non-local exit out of the Lisp function stops here; Python unwinds its frames and
  ;; the exit resumes from the Lisp frame that called Python (portability.lisp).
  (call-with-unwind-barrier
   (lambda () (dispatch-callback handle args kwargs))
   (lambda ()
     (pmg-set-python-error 4 "a non-local exit from a Lisp callback")
     (cffi:null-pointer))))

;;; ------------------------------------------------------------------------------------
;;; The private helper module _pymodgen

(defparameter +helper-code+ "
import sys, io

class LispObject:
    '''A Lisp object seen from Python: attribute access calls python-getattr/-setattr.'''
    __slots__ = ('_handle',)
    def __init__(self, handle):
        object.__setattr__(self, '_handle', handle)
    def __getattr__(self, name):
        return lisp_getattr(object.__getattribute__(self, '_handle'), name)
    def __setattr__(self, name, value):
        lisp_setattr(object.__getattribute__(self, '_handle'), name, value)
    def __repr__(self):
        return lisp_repr(object.__getattribute__(self, '_handle'))
    def __del__(self):
        try:
            lisp_free(object.__getattribute__(self, '_handle'))
        except Exception:
            pass

lisp_getattr = lisp_setattr = lisp_repr = lisp_free = lisp_write = lisp_flush = None

class LispStream(io.TextIOBase):
    '''sys.stdout / sys.stderr writing to Lisp's *standard-output* / *error-output*.'''
    def __init__(self, which, original):
        self._which = which
        self._original = original
    def write(self, s):
        lisp_write(self._which, s)
        return len(s)
    def flush(self):
        lisp_flush(self._which)
    def writable(self):
        return True
    def isatty(self):
        return False
    @property
    def encoding(self):
        return 'utf-8'
    def fileno(self):
        return self._original.fileno()

def route_output_to_lisp():
    for which, name in ((1, 'stdout'), (2, 'stderr')):
        current = getattr(sys, name)
        if not isinstance(current, LispStream):
            setattr(sys, name, LispStream(which, current))

def generator(f, stop):
    while True:
        v = f()
        if v is stop or (type(v) is type(stop) and v == stop):
            return
        yield v

def slot_list(o):
    return [n for n in dir(o) if not callable(getattr(o, n, None))]

def method_list(o):
    return [n for n in dir(o) if callable(getattr(o, n, None))]

def help_text(o):
    import pydoc
    return pydoc.render_doc(o, renderer=pydoc.plaintext)

def defpyfun_spec(module, name):
    '''(required positional parameter names, docstring) of module.name, for defpyfun.'''
    import importlib, inspect
    obj = importlib.import_module(module) if module else sys.modules['__main__']
    for part in name.split('.'):
        obj = getattr(obj, part)
    required = []
    try:
        for p in inspect.signature(obj).parameters.values():
            if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) and p.default is p.empty:
                required.append(p.name)
            else:
                break
    except (TypeError, ValueError):
        pass
    return [required, inspect.getdoc(obj) or '']

def version_info():
    return list(sys.version_info)

def timeit(stmt, number, setup='pass'):
    import timeit as t
    return t.timeit(stmt, setup=setup, number=number, globals=sys.modules['__main__'].__dict__)
")

(defvar *python-output-to-lisp* t
  "When true (the default), PYSTART makes Python's sys.stdout and sys.stderr write to the
calling thread's *STANDARD-OUTPUT* and *ERROR-OUTPUT* (so Python output shows in the REPL,
in order with Lisp output).")

(defun register-type (slot name)
  (with-python-gil
    (let ((p (resolve-name name)))
      (unwind-protect (when (minusp (pmg-register-type slot p)) (signal-last-error))
        (pmg-decref p)))))

(defun lisp-repr (handle)
  (let ((*print-readably* nil)) (prin1-to-string (handle-object handle))))

(defun init-runtime ()
  (set-constant-wrappers (check-pointer (pmg-none)) (check-pointer (pmg-container 0 0)))
  (pmg-set-lisp-callback (cffi:callback lisp-dispatch))
  (setf (pyvalue "_pymodgen_src") +helper-code+)
  (raw-pyexec "import sys as _s, types as _t
if '_pymodgen' not in _s.modules:
    _m = _t.ModuleType('_pymodgen')
    exec(_pymodgen_src, _m.__dict__)
    _s.modules['_pymodgen'] = _m
del _s, _t, _pymodgen_src
globals().pop('_m', None)")
  (setf (pyvalue "_pymodgen.lisp_getattr")
        (lambda (handle name) (python-getattr (handle-object handle) name))
        (pyvalue "_pymodgen.lisp_setattr")
        (lambda (handle name value) (python-setattr (handle-object handle) name value) nil)
        (pyvalue "_pymodgen.lisp_repr") #'lisp-repr
        (pyvalue "_pymodgen.lisp_free") (lambda (handle) (free-handle handle) nil)
        (pyvalue "_pymodgen.lisp_write")
        (lambda (which text)
          (write-string text (if (eql which 1) *standard-output* *error-output*))
          nil)
        (pyvalue "_pymodgen.lisp_flush")
        (lambda (which)
          (finish-output (if (eql which 1) *standard-output* *error-output*))
          nil))
  (when *python-output-to-lisp*
    (with-default-translation (pycall "_pymodgen.route_output_to_lisp")))
  (register-type 0 "fractions.Fraction")
  (register-type 3 "_pymodgen.LispObject")
  (handler-case (progn (register-type 1 "numpy.ndarray")
                       (register-type 2 "numpy.generic")
                       (pushnew :arrays *internal-features*))
    (pyerror () (setf *internal-features* (remove :arrays *internal-features*))))
  (install-interrupt-forwarding))

(pushnew 'init-runtime *after-start-hooks*)

;;; ------------------------------------------------------------------------------------
;;; eval / exec

(defun code-string (code-strings)
  (if (and code-strings (null (cdr code-strings)) (stringp (car code-strings)))
      (car code-strings)
      (apply #'concatenate 'string code-strings)))

(defun raw-pyeval (&rest code-strings)
  "Evaluates the Python expression made of CODE-STRINGS (concatenated) in __main__ and
returns its value. The compiled code of a given text is cached, so evaluating the same
text again costs no compilation. Prefer pycall, pyvalue, pyslot-value and pymethod."
  (unless *alive* (python-start-if-not-alive))
  (cffi:with-foreign-object (out :uint8 +value-size+)
    (let ((tag (pmg-eval (code-string code-strings) 0 out (if *remote* 1 0))))
      (finish-call tag out (if *remote* :wrapper :lisp)))))

(defstruct (code-cell (:constructor make-code-cell (text)))
  "Python source compiled once per start generation (for constant PYEVAL texts)."
  (text "" :type string)
  (generation -1 :type fixnum)
  (address 0 :type (unsigned-byte 62)))

(defun code-cell-address* (cell)
  (if (= (code-cell-generation cell) *generation*)
      (code-cell-address cell)
      (let ((p (check-pointer (pmg-compile (code-cell-text cell) 0))))
        (setf (code-cell-address cell) (cffi:pointer-address p)
              (code-cell-generation cell) *generation*)
        (code-cell-address cell))))

(defun %eval-cell (cell)
  (declare (optimize speed (safety 0) (debug 0)))
  (unless *alive* (python-start-if-not-alive))
  (cffi:with-foreign-object (out :uint8 +value-size+)
    (let ((tag (pmg-eval-code (cffi:make-pointer (code-cell-address* cell)) out (if *remote* 1 0))))
      (declare (type (signed-byte 32) tag))
      (if (or *remote* *lispifiers*)
          (finish-call tag out (if *remote* :wrapper :lisp))
          (case tag
            (#.+tag-int+ (value-i out))
            (#.+tag-str+ (copy-str (value-kind out) (value-len out) (value-data out)))
            (#.+tag-float+ (value-f out))
            (#.+tag-true+ t)
            (#.+tag-false+ nil)
            (t (finish-call tag out :lisp)))))))

(define-compiler-macro raw-pyeval (&whole form &rest code-strings)
  (if (and (= 1 (length code-strings)) (stringp (first code-strings)))
      `(%eval-cell (load-time-value (make-code-cell ,(first code-strings))))
      form))

(define-compiler-macro pyeval (&whole form &rest args)
  (if (and (= 1 (length args)) (stringp (first args)))
      `(%eval-cell (load-time-value (make-code-cell ,(first args))))
      form))

(defun raw-pyexec (&rest code-strings)
  "Executes the Python statements made of CODE-STRINGS (concatenated) in __main__."
  (unless *alive* (python-start-if-not-alive))
  (cffi:with-foreign-object (out :uint8 +value-size+)
    (pmg-decref (finish-call (pmg-eval (code-string code-strings) 1 out 1) out :pointer)))
  (values))

(defun args-to-code (args)
  "Strings are code; other Lisp values are passed as Python objects."
  (let ((i -1))
    (with-output-to-string (s)
      (dolist (a args)
        (if (stringp a)
            (write-string a s)
            (let ((name (format nil "_pymodgen_arg~D" (incf i))))
              (setf (pyvalue (format nil "_pymodgen.~A" name)) a)
              (format s "__import__('_pymodgen').~A" name)))))))

(defun pyeval (&rest args)
  "Like RAW-PYEVAL; non-string ARGS are passed as Python values. (pyeval 2 \"+\" 3) => 5"
  (raw-pyeval (args-to-code args)))

(defun pyexec (&rest args)
  "Like RAW-PYEXEC; non-string ARGS are passed as Python values."
  (raw-pyexec (args-to-code args)))

;;; ------------------------------------------------------------------------------------
;;; Imports and exports

(defun import-module (name &key (as nil))
  "import NAME [as AS] in __main__, so that pycall and pyvalue can use the name. T."
  (raw-pyexec (format nil "import ~A~@[ as ~A~]" name as))
  t)

(defun import-function (name from &key (as nil))
  "from FROM import NAME [as AS] in __main__. T."
  (raw-pyexec (format nil "from ~A import ~A~@[ as ~A~]" from name as))
  t)

(defun export-function (function python-name)
  "Makes a lisp function available in python process as python-name"
  (setf (pyvalue python-name) function)
  python-name)

(defun lispify-name (name)
  "Python name -> Lisp symbol name: fooBar -> FOO-BAR, foo_bar -> FOO-BAR."
  (with-output-to-string (s)
    (loop for prev = nil then c
          for c across name
          do (cond ((char= c #\_) (write-char #\- s))
                   ((and prev (lower-case-p prev) (upper-case-p c))
                    (write-char #\- s) (write-char c s))
                   (t (write-char (char-upcase c) s))))))

(defmacro defpyfun (fun-name &optional pymodule-name
                    &key (as fun-name) (cache t) (lisp-fun-name (lispify-name as))
                      (lisp-package *package*) (safety t))
  "Defines a function which calls python. Example
 (defpyfun \"sqrt\" \"math\") (sqrt 42) -> 6.48...; (defpyfun \"math.sqrt\") (math.sqrt 42)
FUN-NAME: name of the function in python (in PYMODULE-NAME, or a dotted/global name);
AS: the name used to derive LISP-FUN-NAME; LISP-PACKAGE: package (or its name) in which
LISP-FUN-NAME is interned. The callable is looked up once per Python session and cached
(CACHE and SAFETY are accepted for compatibility: the function always works after
pystop/pystart). Arguments are passed as to PYCALL."
  (declare (ignore cache safety))
  (let* ((package (if (packagep lisp-package) lisp-package
                      (or (find-package lisp-package)
                          (error "defpyfun: no package ~A" lisp-package))))
         (symbol (intern lisp-fun-name package))
         (args (gensym "ARGS"))
         (all (gensym "ALL"))
         ;; When Python is available at macroexpansion time, the required positional
         ;; parameters become required Lisp parameters and __doc__ the docstring.
         (spec (ignore-errors
                (with-default-translation
                  (pycall "_pymodgen.defpyfun_spec" (or pymodule-name "") fun-name))))
         (required (mapcar (lambda (name) (lisp-parameter name package))
                           (and spec (coerce (elt spec 0) 'list))))
         (doc (format nil "Calls the Python function ~@[~A.~]~A.~@[~2%~A~]"
                      pymodule-name fun-name (and spec (plusp (length (elt spec 1)))
                                                  (elt spec 1))))
         (target (if pymodule-name
                     `(callable-cell-target (load-time-value (%callable-cell ,pymodule-name ,fun-name)))
                     `(load-time-value (make-name-cell ,fun-name)))))
    `(progn
       (defun ,symbol (,@required &rest ,args)
         ,doc
         (declare (dynamic-extent ,args))
         (let ((,all (list* ,@required ,args)))
           (declare (dynamic-extent ,all))
           (%invoke ,target ,all)))
       ',symbol)))

(defun lisp-parameter (python-name package)
  "A Lisp parameter symbol for PYTHON-NAME that is not a CL symbol or a constant."
  (let ((s (intern (lispify-name python-name) package)))
    (if (or (constantp s) (eq (symbol-package s) (find-package "COMMON-LISP"))
            (keywordp s))
        (intern (format nil "~A-ARG" (lispify-name python-name)) package)
        s)))

(defmacro defpymodule (pymodule-name &optional import-submodules &rest options)
  "Import a python module as a Lisp package. Provided by the pymodgen Lisp emitter
(generated ASDF systems); this runtime only reserves the name."
  (declare (ignore import-submodules options))
  `(error "pymodgen: defpymodule ~S needs the pymodgen Lisp emitter (not loaded)"
          ,pymodule-name))

(defvar *defpymodule-silent-p* nil "defpymodule avoids printing progress if this is T.")

;;; ------------------------------------------------------------------------------------
;;; Output

(defun call-with-python-output (which thunk)
  "Runs THUNK with Python's sys.stdout (WHICH 1) or sys.stderr (2) captured; returns the
captured text. (sys.stdout is process-wide: captures from concurrent threads mix.)"
  (unless *alive* (python-start-if-not-alive))
  (when (minusp (pmg-capture-begin which)) (signal-last-error))
  (let ((ended nil))
    (unwind-protect
         (progn (funcall thunk)
                (setf ended t)
                (let ((text (check-pointer (pmg-capture-end which))))
                  (with-default-translation (lispify-pointer text t))))
      (unless ended
        (let ((p (pmg-capture-end which)))
          (if (cffi:null-pointer-p p) (pmg-error-clear) (pmg-decref p)))))))

(defmacro with-python-output (&body forms-decl)
  "Gets the output of the python program executed in forms-decl in the form a string."
  `(call-with-python-output 1 (lambda () ,@forms-decl)))

(defmacro with-python-error-output (&body forms-decl)
  "Gets the error output (sys.stderr) of the python program executed in forms-decl in the
form a string."
  `(call-with-python-output 2 (lambda () ,@forms-decl)))

;;; ------------------------------------------------------------------------------------
;;; Generators, chains, introspection

(defun pygenerator (function stop-value)
  "A Python generator (a PYOBJECT-WRAPPER) yielding (funcall FUNCTION) until it returns
STOP-VALUE."
  (let ((*lispifiers* nil) (*pythonizers* nil))
    (with-remote-objects (pycall "_pymodgen.generator" function stop-value))))

(defun chain* (&rest chain)
  "Evaluates a Python chain of attribute accesses, method calls and indexing.
The first link: a string (a Python name), a list (CALLABLE ARGS...) calling it, or a Lisp
value. Each further link: a string or symbol (attribute), a list (METHOD ARGS...) (method
call) or (:@ INDEX...) / (\"[]\" INDEX...) (indexing). Example:
 (chain* \"sys\" \"version_info\" '(:@ 0)) => 3"
  (let ((current
          (with-remote-objects
            (let ((first (first chain)))
              (cond ((stringp first) (pyvalue first))
                    ((consp first) (apply #'pycall (first first) (rest first)))
                    (t (wrap-new-reference (%pythonize first))))))))
    (dolist (link (rest chain))
      (setf current
            (with-remote-objects
              (cond ((or (stringp link) (symbolp link)) (pyslot-value current link))
                    ((member (first link) '(:@ "[]" @) :test #'equal)
                     (apply #'pyref current (rest link)))
                    (t (apply #'pymethod current (first link) (rest link)))))))
    (lispify current)))

(defmacro chain (&rest chain)
  "CHAIN* with symbols (and list heads) taken as Python names: (chain sys path) or
 (chain \"hello {0}\" (format \"world\") (capitalize)); arguments inside lists are
evaluated."
  (flet ((link (l first)
           (cond ((symbolp l) (python-name l))
                 ((and (consp l) (symbolp (car l)) (string= (symbol-name (car l)) "@"))
                  `(list :@ ,@(cdr l)))
                 ((consp l) `(list ,(if (symbolp (car l)) (python-name (car l)) (car l))
                                   ,@(cdr l)))
                 ((and first (stringp l)) `(wrap-new-reference (%pythonize ,l)))
                 (t l))))
    `(chain* ,(link (first chain) t) ,@(mapcar (lambda (l) (link l nil)) (rest chain)))))

(defun pyhelp (string-or-python-callable)
  "Prints Python's help text for the object (a name string is resolved first)."
  (let ((obj (if (stringp string-or-python-callable)
                 (with-remote-objects (pyvalue string-or-python-callable))
                 string-or-python-callable)))
    (write-string (with-default-translation (pycall "_pymodgen.help_text" obj)))
    (values)))

(defun pyslot-list (pyobject &key (as-vector nil))
  "Names of the non-callable attributes of PYOBJECT."
  (let ((v (with-default-translation (pycall "_pymodgen.slot_list" pyobject))))
    (if as-vector v (coerce v 'list))))

(defun pymethod-list (pyobject &key (as-vector nil))
  "Names of the callable attributes (methods) of PYOBJECT."
  (let ((v (with-default-translation (pycall "_pymodgen.method_list" pyobject))))
    (if as-vector v (coerce v 'list))))

(defun pyversion-info ()
  "Return a list, using the result of python's sys.version_info."
  (coerce (with-default-translation (pycall "_pymodgen.version_info")) 'list))
