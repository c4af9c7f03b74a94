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

(defun kwargs-plist (kwargs)
  "The keyword arguments dict KWARGS (borrowed) as a plist of Lisp keywords and values, in
Python's order (the order of the call)."
  (cffi:with-foreign-objects ((k :uint8 +value-size+) (v :uint8 +value-size+) (pos :int64))
    (setf (cffi:mem-ref pos :int64) 0)
    (loop for r = (pmg-dict-next kwargs pos k v)
          while (= r 1)
          collect (lisp-keyword (lispify-value k nil)) collect (lispify-value v nil)
          finally (when (minusp r) (signal-last-error)))))

(defparameter *callback-stack-reserve* (* 256 1024)
  "A callback refuses to run (Python gets a RecursionError) when less than this many bytes
of the control stack are left (at most a quarter of the stack): Lisp -> Python -> Lisp
... nesting must end in an error Python unwinds from, before C code runs out of stack.")

(defun stack-nearly-exhausted-p ()
  (multiple-value-bind (left size) (%control-stack-left)
    (and left (< left (min *callback-stack-reserve* (floor size 4))))))

(defstruct (method-callback (:constructor make-method-callback (function)) (:copier nil))
  "A Lisp function called from Python whose first argument (self, or cls) reaches it as a
wrapper (typed when its class has a Lisp class), never converted (an instance of a dict subclass is the object, not a hash
table copy): the methods of DEFPYCLASS."
  (function nil :type function :read-only t))

(defun method-arguments (args)
  "The arguments tuple ARGS (borrowed) as a list: the first item as a wrapper, the others
converted."
  (let ((n (pmg-len args)))
    (when (minusp n) (signal-last-error))
    (cffi:with-foreign-object (v :uint8 +value-size+)
      (loop for i below n
            collect (progn (when (= (pmg-item-classify args i v) +tag-error+)
                             (signal-last-error))
                           (if (zerop i)
                               (let ((self (value-obj v)))
                                 ;; (a DEFPYCLASS instance: its Lisp class's, classes.lisp)
                                 (%maybe-typed (wrap-borrowed self) self))
                               (lispify-value v nil)))))))

(defun dispatch-callback (handle args kwargs)
  ;; Runs with the GIL held by Python (the runtime marks it held for this thread).
  ;; (a conversion the callback makes is its own, not part of the one that called Python)
  (when (stack-nearly-exhausted-p)
    (pmg-set-python-error 5 "maximum recursion depth exceeded: the Lisp control stack is nearly exhausted (Lisp callbacks nested too deep)")
    (return-from dispatch-callback (cffi:null-pointer)))
  (let ((*in-gil* t) (*remote* nil) (*pinned-arrays* nil) (*shared-arrays* nil)
        (*conversion-memo* :none))
    (handler-case
        (let* ((f (handle-object handle))
               (pos (cond ((cffi:null-pointer-p args) nil)
                          ((method-callback-p f) (method-arguments args))
                          (t (let ((l (lispify-pointer args nil))) (if (listp l) l nil)))))
               (kw (unless (cffi:null-pointer-p kwargs) (kwargs-plist kwargs))))
          (%pythonize (apply (if (method-callback-p f) (method-callback-function f) f)
                             (append pos kw))))
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

(defparameter +helper-code+
  (uiop:read-file-string (asdf:system-relative-pathname "pymodgen" "src/helper.py"))
  "The Python source of the private module _pymodgen (src/helper.py), read when this file
is loaded (a saved image keeps it).")

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
  (pmg-set-lisp-callback (%foreign-thread-callback (cffi:callback lisp-dispatch)))
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

(defun code-string (code-strings function)
  (if (and code-strings (null (cdr code-strings)) (stringp (car code-strings)))
      (car code-strings)
      (progn
        (dolist (c code-strings)
          (unless (stringp c)
            (%bad-argument function c 'string
                           "a string of Python code (PYEVAL and PYEXEC also take Lisp values)")))
        (apply #'concatenate 'string code-strings))))

(defun raw-pyeval (&rest code-strings)
  "Evaluates the Python expression made of CODE-STRINGS (concatenated) in __main__ and
returns its value. The compiled code of a given text is cached, so evaluating the same
text again costs no compilation. Prefer pycall, pyvalue, pyslot-value and pymethod."
  (unless *alive* (python-start-if-not-alive))
  (cffi:with-foreign-object (out :uint8 +value-size+)
    (let ((tag (pmg-eval (code-string code-strings 'raw-pyeval) 0 out (raw-flag (if *remote* :wrapper :lisp)))))
      (finish-call tag out (if *remote* :wrapper :lisp)))))

(defun %eval-cell (cell)
  (declare (optimize speed (safety 0) (debug 0)))
  (unless *alive* (python-start-if-not-alive))
  (cffi:with-foreign-object (out :uint8 +value-size+)
    (let ((tag (pmg-eval-code (cffi:make-pointer (code-cell-address* cell)) out
                              (if (or *remote* *builtin-overrides*) 1 0))))
      (declare (type (signed-byte 32) tag))
      (if (or *remote* *lispifiers* *builtin-overrides*)
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
  (if (and (= 1 (length args)) (stringp (first args)) (not (number-text-p (first args))))
      `(%eval-cell (load-time-value (make-code-cell ,(first args))))
      form))

(defun raw-pyexec (&rest code-strings)
  "Executes the Python statements made of CODE-STRINGS (concatenated) in __main__."
  (unless *alive* (python-start-if-not-alive))
  (cffi:with-foreign-object (out :uint8 +value-size+)
    (pmg-decref (finish-call (pmg-eval (code-string code-strings 'raw-pyexec) 1 out 1) out :pointer)))
  (values))

(defun number-text-p (string)
  "T when STRING reads as a Lisp real number (\"42\", \"-1.5\", \"1e5\", \"2/3\", \"1d0\"):
PYEVAL and PYEXEC pass such strings as Python strings, as py4cl2-cffi does."
  (let* ((s (string-trim '(#\Space #\Tab #\Newline) string))
         (n (length s))
         (i 0))
    (labels ((peek () (and (< i n) (char s i)))
             (digits () (loop with start = i while (and (peek) (digit-char-p (peek))) do (incf i)
                              finally (return (- i start))))
             (sign () (when (member (peek) '(#\+ #\-)) (incf i))))
      (sign)
      (let ((int (digits)))
        (cond ((eql (peek) #\/)
               (incf i)
               (let ((start i))     ; "1/0" does not read as a number: it is code
                 (and (plusp int) (plusp (digits)) (= i n)
                      (find-if (lambda (c) (char/= c #\0)) s :start start))))
              (t
               (let ((frac (if (eql (peek) #\.) (progn (incf i) (digits)) 0)))
                 (and (plusp (+ int frac))
                      (progn (when (and (peek) (find (char-downcase (peek)) "edfsl"))
                               (incf i) (sign)
                               (when (zerop (digits)) (setf i -1)))
                             (= i n))))))))))

(defun args-to-code (args)
  "Strings are code (except those that read as numbers: Python strings, as in
py4cl2-cffi); other Lisp values are passed as Python objects."
  (let ((i -1))
    (with-output-to-string (s)
      (dolist (a args)
        (if (and (stringp a) (not (number-text-p a)))
            (write-string a s)
            (let ((name (format nil "_pymodgen_arg~D" (incf i))))
              (if (typep a 'single-float)
                  ;; a single-float stays one: numpy.float32, as py4cl2-cffi's py-repr has it
                  (setf (pyvalue (format nil "_pymodgen.~A" name))
                        (wrap-new-reference (single-float-to-float32 a)))
                  (setf (pyvalue (format nil "_pymodgen.~A" name)) a))
              (format s "__import__('_pymodgen').~A" name)))))))

(defun pyeval (&rest args)
  "Like RAW-PYEVAL; non-string ARGS are passed as Python values, and so are strings that
read as numbers (py4cl2-cffi's rule: (pyeval \"42\") => \"42\"). (pyeval 2 \"+\" 3) => 5"
  (raw-pyeval (args-to-code args)))

(defun pyexec (&rest args)
  "Like RAW-PYEXEC; non-string ARGS are passed as Python values."
  (raw-pyexec (args-to-code args)))

(defun (setf pyeval) (value &rest args)
  "(setf (pyeval \"x\") 42) executes x = 42 in __main__ (ARGS as for PYEXEC: the
assignment target). Returns VALUE."
  (apply #'pyexec (append args (list "=" value)))
  value)

;;; ------------------------------------------------------------------------------------
;;; Imports and exports

(defun import-module (name &key (as nil))
  "import NAME [as AS] in __main__, so that pycall and pyvalue can use the name. T."
  (%check-argument import-module name string "a module name (a string such as \"numpy.linalg\")")
  (%check-argument import-module as (or null string) "NIL or a Python name (a string) for :AS")
  (raw-pyexec (format nil "import ~A~@[ as ~A~]" name as))
  t)

(defun import-function (name from &key (as nil))
  "from FROM import NAME [as AS] in __main__. T."
  (%check-argument import-function name string "a Python name (a string such as \"sqrt\")")
  (%check-argument import-function from string "a module name (a string such as \"math\")")
  (%check-argument import-function as (or null string) "NIL or a Python name (a string) for :AS")
  (raw-pyexec (format nil "from ~A import ~A~@[ as ~A~]" from name as))
  t)

(defun export-function (function python-name)
  "Makes a lisp function available in python process as python-name"
  (unless (or (functionp function) (and (symbolp function) function (fboundp function)))
    (%bad-argument 'export-function function '(or function symbol)
                   "a Lisp function or the name of one (a symbol that is FBOUNDP)"))
  (%check-argument export-function python-name (or string symbol)
                   "a Python name: a string (\"lisp_add\") or a symbol")
  (setf (pyvalue python-name) (if (symbolp function) (fdefinition function) function))
  python-name)

(defun lispify-name (name)
  "Python name -> Lisp symbol name, as py4cl2-cffi names them: words split where a lower
case letter is followed by an upper case one, a letter by a digit, and after an underscore;
joined by hyphens and upcased, underscores dropped: fooBar -> FOO-BAR, foo_bar -> FOO-BAR,
log10 -> LOG-10, nilAndT -> NIL-AND-T."
  (unless (stringp name)
    (%bad-argument nil name 'string "a Python name (a string such as \"sqrt\" or \"nilAndT\")"))
  (let ((text (with-output-to-string (s)
                (loop for prev = nil then c
                      for c across name
                      do (when (and prev
                                    (or (and (upper-case-p c) (lower-case-p prev))
                                        (and (digit-char-p c) (alpha-char-p prev))
                                        (char= prev #\_)))
                           (write-char #\- s))
                         (write-char (char-upcase c) s)))))
    (remove #\_ text :end (max 0 (1- (length text))))))

(defun defpyfun-spec (params package)
  "From Python's parameters ((name kind has-default) ...): the Lisp lambda list to show and
the %CALL-PYTHON-STYLE spec #(N-OPTIONAL REST-P KWARGS-P KEYS N-REQUIRED SLOTS). Every
positional-or-keyword and keyword-only parameter takes the keyword of its lispified name
(py4cl2-cffi's &key: nilAndT -> :NIL-AND-T, nil -> :NIL or :.NIL), mapped to the exact
Python name."
  (let ((n-required 0) (n-optional 0) (rest-p nil) (kwargs-p nil) (keys '()) (slots '())
        (required '()) (optional '()) (kw-only '()) (rest nil) (kwargs nil) (in-required t))
    (dolist (p params)
      (destructuring-bind (name kind has-default) p
        (let ((key (intern (lispify-name name) :keyword))
              (var (lisp-parameter name package)))
          (cond ((member kind '("POSITIONAL_ONLY" "POSITIONAL_OR_KEYWORD") :test #'string=)
                 (let ((keyword-p (string= kind "POSITIONAL_OR_KEYWORD")))
                   (when keyword-p (push (list key name) keys))
                   (push (if keyword-p key name) slots)
                   (if (and in-required (not has-default))
                       (progn (incf n-required) (push var required))
                       (progn (setf in-required nil) (incf n-optional) (push var optional)))))
                ((string= kind "VAR_POSITIONAL") (setf rest-p t rest var in-required nil))
                ((string= kind "KEYWORD_ONLY")
                 (push (list key name) keys)
                 (setf in-required nil)
                 (push var kw-only))
                ((string= kind "VAR_KEYWORD") (setf kwargs-p t kwargs var))))))
    (values `(,@(reverse required) ,@(when optional `(&optional ,@(reverse optional)))
              ,@(when rest `(&rest ,rest))
              ,@(when (or kw-only kwargs) `(&key ,@(reverse kw-only)))
              ,@(when kwargs '(&allow-other-keys)))
            (vector n-optional rest-p kwargs-p (reduce #'append (reverse keys))
                    n-required (reverse slots)))))

(defmacro defpyfun (fun-name &optional pymodule-name
                    &key (as fun-name) (cache t) (lisp-fun-name (lispify-name as))
                      (lisp-package *package*) (safety t))
  "Defines a function which calls python. Example
 (defpyfun \"sqrt\" \"math\") (sqrt 42) -> 6.48...; (defpyfun \"math.sqrt\") (math.sqrt 42)
FUN-NAME: name of the function in python (in PYMODULE-NAME, or a dotted/global name; a
PYMODULE-NAME of \"\" or NIL means __main__, then builtins); AS: the name used to derive
LISP-FUN-NAME; LISP-PACKAGE: package (or its name) in which LISP-FUN-NAME is interned. The
callable of a module is looked up once per Python session and cached, a global name at each
call (CACHE and SAFETY are accepted for compatibility: the function always works after
pystop/pystart). When the Python function has a signature, its parameters are taken
positionally, as in Python, or by the keyword of their lispified name (py4cl2-cffi's &key):
 (defpyfun \"g\" \"\") for def g(a, nilAndT=1): (g 1), (g :a 1 :nil-and-t 2)."
  (declare (ignore cache safety))
  (let* ((pymodule-name (if (equal pymodule-name "") nil pymodule-name))
         (package (if (packagep lisp-package) lisp-package
                      (or (find-package lisp-package)
                          (error "defpyfun: no package ~A" lisp-package))))
         (symbol (intern lisp-fun-name package))
         (args (gensym "ARGS"))
         ;; When Python is available at macroexpansion time: the parameters and __doc__.
         (spec (ignore-errors
                (with-default-translation
                  (pycall "_pymodgen.defpyfun_params" (or pymodule-name "") fun-name))))
         (params (and spec (vectorp (elt spec 0))
                      (map 'list (lambda (p) (coerce p 'list)) (elt spec 0))))
         (doc (format nil "Calls the Python function ~@[~A.~]~A.~@[~2%~A~]"
                      pymodule-name fun-name (and spec (plusp (length (elt spec 1)))
                                                  (elt spec 1))))
         (cell (if pymodule-name
                   `(load-time-value (%callable-cell ,pymodule-name ,fun-name))
                   `(load-time-value (make-name-cell ,fun-name)))))
    (if (and spec (or params (vectorp (elt spec 0))))
        (multiple-value-bind (lambda-list call-spec) (defpyfun-spec params package)
          `(progn
             (defun ,symbol (&rest ,args)
               ,doc
               (declare (dynamic-extent ,args))
               ,@(%arglist-declarations lambda-list)
               (%call-python-style ,cell nil ,args ,call-spec))
             ,@(%arglist-forms symbol lambda-list)
             ',symbol))
        `(progn
           (defun ,symbol (&rest ,args)
             ,doc
             (declare (dynamic-extent ,args))
             (%invoke ,(if pymodule-name `(callable-cell-target ,cell) cell) ,args))
           ',symbol))))

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
  (unless (or (functionp function) (and (symbolp function) function (fboundp function)))
    (%bad-argument 'pygenerator function '(or function symbol)
                   "a Lisp function of no arguments or the name of one"))
  (let ((*lispifiers* nil) (*pythonizers* nil))
    (with-remote-objects (pycall "_pymodgen.generator"
                                 (if (symbolp function) (fdefinition function) function)
                                 stop-value))))

(defun link-head-p (link name)
  "LINK is a list whose car is a symbol or string named NAME (AREF, @, CHAIN: in any
package, as py4cl2-cffi compares them)."
  (and (consp link)
       (typep (car link) '(or symbol string))
       (not (null (car link)))
       (string-equal (string (car link)) name)))

(defun slice-index (index)
  "A py4cl2-cffi index: (slice START STOP [STEP]) (a list headed by slice or \"slice\")
becomes a Python slice (NIL bounds are None: (slice 1 nil) is 1:); other indices are as
they are."
  (if (link-head-p index "SLICE")
      (with-remote-objects
        (apply #'pycall "slice" (substitute +py-none+ nil (rest index))))
      index))

(defun chain-index (object indices)
  (apply #'pyref object (mapcar #'slice-index indices)))

(defun chain-link (link value headp)
  "The value (a wrapper inside WITH-REMOTE-OBJECTS, or a Lisp value) of LINK applied to
VALUE (HEADP: LINK is the head of the chain: there is no VALUE)."
  (with-remote-objects
    (cond ((link-head-p link "AREF")
           (if headp
               (chain-index (second link) (cddr link))
               (chain-index value (rest link))))
          ((and (consp link) (consp (car link)))
           ;; ((chain ...) args...): every element is itself a chain
           (let ((parts (mapcar (lambda (l) (chain-value (list l))) link)))
             (if headp
                 (apply #'pycall parts)
                 (apply #'pymethod value parts))))
          ((or (link-head-p link "@") (link-head-p link "CHAIN"))
           (if headp
               (chain-value (rest link))
               (pyslot-value value (lispify (chain-value (rest link))))))
          ((consp link)
           (if headp
               (apply #'pycall (car link) (cdr link))
               (apply #'pymethod value (car link) (cdr link))))
          (headp link)
          (t (pyslot-value value link)))))

(defun chain-value (chain)
  "CHAIN evaluated, the last value as a wrapper (or a Lisp value)."
  (let ((value nil))
    (loop for link in chain for headp = t then nil
          do (setf value (chain-link link value headp)))
    value))

(defun chain* (&rest chain)
  "Evaluates a Python chain, as py4cl2-cffi does. The head of CHAIN: (aref OBJECT INDEX...)
is OBJECT[INDEX...]; (@ CHAIN...) or (chain CHAIN...) a nested chain; (CALLABLE ARGS...)
calls CALLABLE (a Python function designator: name, code, wrapper) with pycall-style ARGS;
((CHAIN...) ARGS...) calls the value of a chain; any other value (a string too: \"hello
{0}\" is a Python string) starts the chain. Each further link applies to the value so far:
(aref INDEX...) indexes it (an index (slice START STOP [STEP]) is a slice), (@ CHAIN...)
reads the attribute the nested chain names, (METHOD ARGS...) calls a method (name string or
symbol: format, :foo-bar => foo_bar; keyword arguments as in pycall), a string or symbol
reads that attribute. Example:
 (chain* \"hello {0}\" '(format \"world\") '(capitalize)) => \"Hello world\""
  (lispify (chain-value chain)))

(defun (setf chain*) (new-value &rest chain)
  "(setf (chain* OBJ 'attr) V) sets OBJ.attr; (setf (chain* `(aref ,obj 0)) V) and
(setf (chain* obj '(aref 0)) V) set OBJ[0]. Returns NEW-VALUE."
  (let ((last (car (last chain)))
        (before (butlast chain)))
    (cond ((and (null before) (link-head-p last "AREF"))
           (apply #'(setf pyref) new-value (second last) (mapcar #'slice-index (cddr last))))
          ((null before)
           (error "pymodgen: (setf chain*) needs an object and an attribute or (aref ...) link: ~S"
                  chain))
          (t (let ((object (chain-value before)))
               (cond ((link-head-p last "AREF")
                      (apply #'(setf pyref) new-value object (mapcar #'slice-index (rest last))))
                     ((or (link-head-p last "@") (link-head-p last "CHAIN"))
                      (setf (pyslot-value object (lispify (chain-value (rest last)))) new-value))
                     ((consp last)
                      (error "pymodgen: (setf chain*) cannot assign to the method call ~S" last))
                     (t (setf (pyslot-value object last) new-value)))))))
  new-value)

(defun chain-macro-link (l headp)
  "A CHAIN link as the CHAIN* link form: symbols are Python names (the head: the value of
that Python name; further links: attribute names); in lists, the head is a name and the
arguments are evaluated Lisp forms (except inside @ and CHAIN, which are nested chains)."
  (cond ((and headp l (symbolp l)) `(with-remote-objects (pyvalue ,(python-name l))))
        ((and l (symbolp l)) (python-name l))
        ((or (link-head-p l "@") (link-head-p l "CHAIN"))
         `(list ',(car l) ,@(loop for x in (cdr l) for first = t then nil
                                   collect (chain-macro-link x first))))
        ((link-head-p l "AREF") `(list 'aref ,@(cdr l)))
        ((and (consp l) (consp (car l))) `(list ,@l))   ; ((chain ...) args...)
        ((consp l) `(list ,(if (and (car l) (symbolp (car l))) (python-name (car l)) (car l))
                          ,@(cdr l)))
        (t l)))

(defmacro chain (&rest chain)
  "CHAIN* with symbols taken as Python names and method arguments evaluated:
 (chain \"hello {0}\" (format \"world\") (capitalize)) => \"Hello world\";
 (chain sys version-info (aref 0)) => 3; (chain np (array #(1 2)) shape).
SETF-able like CHAIN*."
  `(chain* ,@(loop for l in chain for headp = t then nil collect (chain-macro-link l headp))))

(define-setf-expander chain (&rest chain)
  (let ((store (gensym "NEW")))
    (values nil nil (list store)
            `(setf (chain* ,@(loop for l in chain for headp = t then nil
                                   collect (chain-macro-link l headp)))
                   ,store)
            `(chain ,@chain))))

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
