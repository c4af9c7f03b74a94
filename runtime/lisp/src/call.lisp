;;;; call.lisp -- calling Python: name cells, the fast call path, pycall and friends.
;;;;
;;;; Fast path: when every argument is an immediate (fixnum-range integer, float, T/NIL,
;;;; pyobject-wrapper) the arguments are written as tagged words into a stack buffer and
;;;; ONE foreign call (pmg_call / pmg_call_path_cached) boxes them, takes the GIL (unless held),
;;;; calls (vectorcall), and classifies the result; ints/floats/bools come back unboxed and
;;;; strings as (kind, length, data) that COPY-STR reads without any UTF-8 round trip.
;;;; Other arguments (strings, containers, arrays...) go the general path inside one
;;;; WITH-PYTHON-GIL scope; specialized arrays among the arguments are pinned and reach
;;;; Python as numpy arrays over the Lisp memory (no copy) for the duration of the call.

(in-package #:pymodgen)

;;; ------------------------------------------------------------------------------------
;;; Interned names

(defvar *interned* (%make-synchronized-hash-table :test #'equal)
  "name string -> (generation . interned Python str pointer)")

(defun intern-name (string)
  "A borrowed pointer to the interned Python str STRING (kept for the generation)."
  (let ((e (gethash string *interned*)))
    (if (and e (= (car e) *generation*))
        (cdr e)
        (let ((p (check-pointer (pmg-intern string))))
          (setf (gethash string *interned*) (cons *generation* p))
          p))))

(defun python-name (designator &optional function)
  "Python name for a string or symbol (:foo-bar -> \"foo_bar\"). FUNCTION names the entry
that got DESIGNATOR, for the error."
  (typecase designator
    (string designator)
    (symbol (or (get designator 'python-name)
                (setf (get designator 'python-name)
                      (let ((n (symbol-name designator)))
                        (substitute #\_ #\- (if (notany #'lower-case-p n)
                                                (string-downcase n)
                                                n))))))
    (t (%bad-argument function designator '(or string symbol) +name-words+))))

;;; ------------------------------------------------------------------------------------
;;; Name cells: a dotted Python name resolved at each call (so redefinitions are seen),
;;; with its parts interned once per start generation.

(defstruct (name-cell (:constructor %make-name-cell (name parts)))
  (name "" :type string)
  (parts nil :type list)
  (generation -1 :type fixnum)
  (path (cffi:null-pointer))
  (n 0 :type fixnum)
  ;; the runtime's cache of what the path resolves to (capi/pathcache.rs), per generation
  (cache (cffi:null-pointer)))

(defun make-name-cell (name)
  (%make-name-cell name (uiop:split-string name :separator ".")))

(defvar *name-cells* (%make-synchronized-hash-table :test #'equal))

(defun name-cell (name)
  (or (gethash name *name-cells*)
      (setf (gethash name *name-cells*) (make-name-cell name))))

(defun refresh-name-cell (cell)
  (unless *alive* (python-start-if-not-alive))
  (let* ((parts (name-cell-parts cell))
         (n (length parts))
         (arr (cffi:foreign-alloc :pointer :count (max n 1))))
    (loop for p in parts for i from 0
          do (setf (cffi:mem-aref arr :pointer i) (intern-name p)))
    ;; (the previous generation's array and cache are left: they may come from a saved
    ;; image, i.e. another process)
    (setf (name-cell-path cell) arr
          (name-cell-n cell) n
          (name-cell-cache cell) (pmg-path-cache-new)
          (name-cell-generation cell) *generation*)
    arr))

(declaim (inline name-cell-pointer))
(defun name-cell-pointer (cell)
  (if (= (name-cell-generation cell) *generation*)
      (name-cell-path cell)
      (refresh-name-cell cell)))

(defvar *designator-cells* (%make-synchronized-hash-table :test #'equal)
  "string designator -> its name-cell, or its code-cell when it is Python code.")

(defun designator-cell (string)
  "The name-cell of a dotted-name STRING, or the code-cell of any other Python code (a
lambda ...): decided once per string."
  (or (gethash string *designator-cells*)
      (setf (gethash string *designator-cells*)
            (if (python-name-string-p string)
                (name-cell string)
                (make-code-cell (coerce string 'simple-string))))))

(defun callable-target (designator &optional (function 'pycall))
  "A name-cell, code-cell or a borrowed PyObject* for a Python function designator.
FUNCTION names the entry that got DESIGNATOR, for the error."
  (typecase designator
    (string (designator-cell designator))
    (code-cell designator)
    (name-cell designator)
    (pyobject-wrapper (pyobject-wrapper-pointer designator))
    (python-instance (pyobject-wrapper-pointer (python-instance-wrapper designator)))
    (%pointer designator)
    (symbol (name-cell (python-name designator)))
    (t (%bad-argument function designator '(or string symbol pyobject-wrapper function)
                      +designator-words+))))

;;; ------------------------------------------------------------------------------------
;;; Arguments

(declaim (inline immediate-p))
(defun immediate-p (x)
  "Arguments the fast path passes without creating Python objects in Lisp (strings are
passed as their character data, pinned during the call)."
  (or (typep x '(signed-byte 64))
      (typep x 'double-float)
      (typep x 'single-float)
      (eq x t) (null x)
      (pyobject-wrapper-p x)
      (typep x '(simple-array character (*)))
      (typep x 'simple-base-string)
      (typep x 'python-instance)))

(declaim (inline array-argument-typenum))
(defun array-argument-typenum (x)
  "numpy's type number for a specialized simple vector the fast path shares with numpy (an
ARG_ARRAY argument: one ndarray over its memory, made in the call), or NIL. (The element
types of ARRAY-DTYPE, in its order.)"
  (typecase x
    ((simple-array double-float (*)) 12)
    ((simple-array single-float (*)) 11)
    ((simple-array (signed-byte 64) (*)) 7)
    ((simple-array (signed-byte 32) (*)) 5)
    ((simple-array (signed-byte 16) (*)) 3)
    ((simple-array (signed-byte 8) (*)) 1)
    ((simple-array (unsigned-byte 64) (*)) 8)
    ((simple-array (unsigned-byte 32) (*)) 6)
    ((simple-array (unsigned-byte 16) (*)) 4)
    ((simple-array (unsigned-byte 8) (*)) 2)
    ((simple-array (complex double-float) (*)) 15)
    ((simple-array (complex single-float) (*)) 14)
    (t nil)))

(declaim (inline fast-argument-p))
(defun fast-argument-p (x)
  "Arguments of one foreign call (INVOKE-FAST): the immediate ones, and the vectors numpy
gets by reference (when numpy is loaded)."
  (or (immediate-p x)
      (and (array-argument-typenum x) (member :arrays *internal-features*) t)))

(declaim (inline fill-immediate))
(defun fill-immediate (buf i x)
  (let ((off (* i +arg-size+)))
    (macrolet ((put (tag type value)
                 `(setf (%mem-ref buf :int64 (+ off +arg-tag-offset+)) ,tag
                        (%mem-ref buf ,type (+ off +arg-bits-offset+)) ,value)))
      (typecase x
        ((signed-byte 64) (put +arg-i64+ :int64 x))
        (double-float (put +arg-f64+ :double x))
        (single-float (put +arg-f64+ :double (coerce x 'double-float)))
        (pyobject-wrapper (put +arg-borrowed+ :uint64 (pyobject-wrapper-address x)))
        (python-instance
         (put +arg-borrowed+ :uint64 (pyobject-wrapper-address (python-instance-wrapper x))))
        ((simple-array character (*))
         (put +arg-str4+ :uint64 (%vector-address x))
         (setf (%mem-ref buf :int64 (+ off +arg-len-offset+)) (%vector-length x)))
        (simple-base-string
         (put +arg-str1+ :uint64 (%vector-address x))
         (setf (%mem-ref buf :int64 (+ off +arg-len-offset+)) (%vector-length x)))
        ((and (simple-array * (*)) (not string))
         ;; (a FAST-ARGUMENT-P vector, pinned by the caller)
         (put (logior +arg-array+ (ash (or (array-argument-typenum x) 0) 8)) :uint64
              (%vector-address x))
         (setf (%mem-ref buf :int64 (+ off +arg-len-offset+)) (length x)))
        (t (put (if x +arg-true+ +arg-false+) :int64 0))))))

(defun split-call-args (args)
  "Positional arguments up to the first keyword; then keyword/value pairs."
  (let ((k (position-if #'keywordp args)))
    (if (null k)
        (values args nil)
        (let ((kw (nthcdr k args)))
          (unless (evenp (length kw))
            ;; (KW may be part of a stack-allocated &rest list: copied into the condition)
            (error "pymodgen: odd number of keyword arguments in ~S" (copy-list kw)))
          (values (subseq args 0 k)
                  (loop for (key value) on kw by #'cddr
                        collect (cons (python-name key) value)))))))

(defun call-with-pinned (objects thunk)
  (declare (function thunk))
  (if (null objects)
      (funcall thunk)
      (let ((o (car objects)))
        (%with-pinned (o)
          (call-with-pinned (cdr objects) thunk)))))

;;; ------------------------------------------------------------------------------------
;;; Invocation

(defmacro no-translation-hook-p ()
  "True when no translation hook is active: no *PYTHONIZERS*, no WITH-REMOTE-OBJECTS, no
*LISPIFIERS*, no DEFINE-LISPIFIER of a builtin type; the fast paths convert values
themselves only then. (A macro: the test stays open-coded in generated code, every Lisp.)"
  '(and (null *pythonizers*) (null *remote*) (null *lispifiers*) (null *builtin-overrides*)))

(defmacro open-coded-first ((target args &key (when t)) &body lisp-path)
  "LISP-PATH; where the implementation open-codes calls (+OPEN-CODED-CALLS+), first the
open-coded call of TARGET (a name-cell or an address) with the list ARGS, when WHEN is true
and no translation hook is active: LISP-PATH runs when that call does not take an argument."
  (if (not +open-coded-calls+)
      `(progn ,@lisp-path)
      (let ((tg (gensym "TARGET")) (path (gensym "PATH")))
        `(block open-coded
           (block lisp-path
             (when (and ,when (no-translation-hook-p))
               (let ((,tg ,target))
                 (return-from open-coded
                   (if (name-cell-p ,tg)
                       (let ((,path (name-cell-pointer ,tg)))
                         (%open-coded-invoke (,args :cache (name-cell-cache ,tg) :path ,path
                                                    :npath (name-cell-n ,tg))
                           (return-from lisp-path)))
                       (%open-coded-invoke (,args :address (the address ,tg))
                         (return-from lisp-path)))))))
           ,@lisp-path))))

(defconstant +max-fast-args+ 16)

(deftype address () '(unsigned-byte 62))

(declaim (inline target-pointer))
(defun target-pointer (target)
  "A name-cell, or the foreign pointer of a target given as pointer or address."
  (if (typep target 'address) (cffi:make-pointer target) target))

(declaim (inline call-and-convert))
(defun call-and-convert (target buf n out args)
  "The foreign call of the fast path and the conversion of common results (ARGS: the call's
arguments, one of which a result may be, +TAG-ARG+)."
  (declare (fixnum n) (optimize speed (safety 0) (debug 0)))
  (let* ((raw (if *builtin-overrides* 1 0)) ; DEFINE-LISPIFIER of "int"...: see the object
         (tag (if (name-cell-p target)
                  (let ((path (name-cell-pointer target)))
                    (pmg-call-path-cached (name-cell-cache target) path (name-cell-n target)
                                          buf n (cffi:null-pointer) 0 out raw))
                  (pmg-call (cffi:make-pointer (the address target))
                            buf n (cffi:null-pointer) 0 out raw))))
    (declare (type (signed-byte 32) tag))
    ;; the common results inline (no boxing of OUT); the rest in LISPIFY-VALUE
    (cond
      ((= tag +tag-arg+) (nth (value-i out) args)) ; an array argument itself: the Lisp array
      ((or *lispifiers* *builtin-overrides*) (finish-call tag out :lisp))
      (t
        (case tag
          (#.+tag-str+ (copy-str (value-kind out) (value-len out) (value-data out)))
          (#.+tag-int+ (value-i out))
          (#.+tag-float+ (value-f out))
          (#.+tag-true+ t)
          (#.+tag-false+ nil)
          (#.+tag-error+ (signal-last-error))
          (t (lispify-value out t)))))))

(defun invoke-fast (target args n)
  "One foreign call: TARGET a name-cell or the callable's address; ARGS all FAST-ARGUMENT-P."
  (declare (fixnum n) (list args) (optimize speed (safety 0) (debug 0)))
  ;; one foreign buffer: the arguments, then the result
  (cffi:with-foreign-object (buf :uint8 (+ (* +max-fast-args+ +arg-size+) +value-size+))
    (let ((i 0) (out (cffi:inc-pointer buf (* +max-fast-args+ +arg-size+))))
      (declare (fixnum i))
      (dolist (x args) (fill-immediate buf i x) (incf i))
      ;; Keep the arguments alive and unmoved for the duration of the call (%WITH-PINNED):
      ;; that keeps wrappers alive and pins the strings whose characters the runtime reads.
      ;; Up to 4 arguments in locals, more in a stack vector.
      (if (<= n 4)
          (let ((a0 (first args)) (a1 (second args)) (a2 (third args)) (a3 (fourth args)))
            (%with-pinned (a0 a1 a2 a3)
              (call-and-convert target buf n out args)))
          (let ((pins (make-array +max-fast-args+ :initial-element 0)))
            (declare (dynamic-extent pins))
            (replace pins args)
            (%with-pinned (pins)
              (call-and-convert target buf n out args)))))))

(defun invoke-objects (target positional kwargs mode)
  "General call, inside the GIL. MODE: :LISP, :WRAPPER or :POINTER (see FINISH-CALL)."
  (let* ((target (target-pointer target))
         (np (length positional))
         (nk (length kwargs))
         (n (+ np nk))
         (filled 0)
         (called nil))
    (declare (fixnum np nk n filled))
    (flet ((run (buf names out)
      (flet ((put (x)
               (let ((off (* filled +arg-size+)))
                 (if (and (immediate-p x) (null *pythonizers*))
                     (fill-immediate buf filled x)
                     (let ((p (%pythonize x)))
                       (setf (%mem-ref buf :int64 (+ off +arg-tag-offset+)) +arg-owned+
                             (%mem-ref buf :pointer (+ off +arg-bits-offset+)) p))))
               (incf filled)))
        (unwind-protect
             (progn
               (dolist (x positional) (put x))
               (loop for (name . value) in kwargs for j from 0
                     do (setf (cffi:mem-aref names :pointer j) (intern-name name))
                        (put value))
               (let ((tag (progn
                            (setf called t)
                            (if (name-cell-p target)
                                (let ((path (name-cell-pointer target)))
                                  (pmg-call-path-cached (name-cell-cache target) path
                                                        (name-cell-n target)
                                                        buf np names nk out (raw-flag mode)))
                                (pmg-call target buf np names nk out (raw-flag mode))))))
                 (finish-call tag out mode)))
          (unless called
            ;; a conversion failed: drop the objects made so far
            (dotimes (i filled)
              (let ((off (* i +arg-size+)))
                (when (= (cffi:mem-ref buf :int64 (+ off +arg-tag-offset+)) +arg-owned+)
                  (pmg-decref (cffi:mem-ref buf :pointer (+ off +arg-bits-offset+)))))))))))
      (if (<= n +max-fast-args+)
          ;; constant sizes: stack allocation
          (cffi:with-foreign-objects ((buf :uint8 (* +max-fast-args+ +arg-size+))
                                      (names :pointer +max-fast-args+)
                                      (out :uint8 +value-size+))
            (run buf names out))
          (cffi:with-foreign-objects ((buf :uint8 (* n +arg-size+))
                                      (names :pointer (max nk 1))
                                      (out :uint8 +value-size+))
            (run buf names out))))))

(defun pinned-argument-p (x)
  "Arguments pinned for the call: arrays Python shares, strings read in place."
  (or (typep x '(simple-array character (*)))
      (typep x 'simple-base-string)
      (shareable-array-p x)))

(defun invoke-general (target positional kwargs mode)
  (let ((arrays (loop for x in positional when (pinned-argument-p x) collect x)))
    (loop for (nil . v) in kwargs when (pinned-argument-p v) do (push v arrays))
    (call-with-pinned
     arrays
     (lambda ()
       (with-python-gil
         (let ((*pinned-arrays* arrays)
               (*shared-arrays* nil))
           (invoke-objects target positional kwargs mode)))))))

(defun %invoke (target args)
  "Calls TARGET (name-cell, borrowed PyObject* or its address) with pycall-style ARGS."
  (declare (list args) (optimize speed (safety 0) (debug 0)))
  (unless *alive* (python-start-if-not-alive))
  (when (typep target '%pointer)
    (setf target (%pointer-address target)))
  (when (code-cell-p target)
    (return-from %invoke (invoke-code-cell target args)))
  (open-coded-first (target args)
    (let ((n 0) (fast (and (null *pythonizers*) (null *remote*))))
      (declare (fixnum n))
      (when fast
        (dolist (x args)
          (unless (and (fast-argument-p x) (< n +max-fast-args+)) (setf fast nil) (return))
          (incf n)))
      (if fast
          (invoke-fast target args n)
          (multiple-value-bind (positional kwargs) (split-call-args args)
            (invoke-general (target-pointer target) positional kwargs
                            (if *remote* :wrapper :lisp)))))))

(defun invoke-code-cell (cell args)
  "Calls the value of the Python expression of CELL (evaluated now) with ARGS."
  (with-python-gil
    (let ((p (code-cell-value-pointer cell)))
      (unwind-protect (%invoke (cffi:pointer-address p) args)
        (pmg-decref p)))))

(defun call-to-pointer (target positional &optional kw-plist)
  "Calls TARGET (a function designator) with Lisp POSITIONAL arguments and a plist of
keyword names (strings) and values; returns the result as a NEW reference."
  (unless *alive* (python-start-if-not-alive))
  (let ((target (callable-target target)))
    (if (code-cell-p target)
        (with-python-gil
          (let ((p (code-cell-value-pointer target)))
            (unwind-protect (call-to-pointer p positional kw-plist)
              (pmg-decref p))))
        (invoke-general target positional
                        (loop for (k v) on kw-plist by #'cddr collect (cons (python-name k) v))
                        :pointer))))

(defun pyattr-pointer (pointer name)
  "getattr as a new reference (signals on error)."
  (check-pointer (pmg-getattr pointer name)))

(defun call-method-pointer (pointer name positional)
  "POINTER.NAME(*POSITIONAL) as a new reference."
  (with-python-gil
    (let ((m (pyattr-pointer pointer name))
          (*pythonizers* nil))
      (unwind-protect (call-to-pointer m positional)
        (pmg-decref m)))))

;;; ------------------------------------------------------------------------------------
;;; The API

(defun pycall (python-callable &rest args)
  "Calls PYTHON-CALLABLE with ARGS; returns the result converted to Lisp.
PYTHON-CALLABLE: a (dotted) name such as \"str\" or \"numpy.linalg.svd\" (looked up in
__main__, then builtins, then as a module, importing it when needed), other Python code
evaluated to the callable (\"lambda x: x*x\", as in py4cl2-cffi), a PYOBJECT-WRAPPER, or a
symbol (its lowercased name). ARGS: positional values, then keyword arguments as
:NAME VALUE pairs (:foo-bar => foo_bar=...)."
  (declare (dynamic-extent args))
  (if (functionp python-callable)
      (apply python-callable args)          ; a Lisp function is called as it is
      ;; the designator (e.g. a wrapper) stays referenced until the call returns
      (%with-pinned (python-callable)
        (%invoke (callable-target python-callable) args))))

(defun %pycall-cell (cell &rest args)
  (declare (dynamic-extent args))
  (%invoke cell args))

(define-compiler-macro pycall (&whole form python-callable &rest args)
  (if (stringp python-callable)
      `(%pycall-cell (load-time-value ,(if (python-name-string-p python-callable)
                                           `(make-name-cell ,python-callable)
                                           `(make-code-cell ,python-callable)))
                     ,@args)
      form))

(defun pymethod (object method-name &rest args)
  "Calls method METHOD-NAME (string or symbol) of OBJECT (a wrapper, or a Lisp value that
is first converted to Python) with pycall-style ARGS."
  (%check-argument pymethod method-name (or string symbol)
                   "a method name: a string (\"append\") or a symbol ('append)")
  (with-python-gil
    (let* ((obj (%pythonize object))
           (m (unwind-protect (pmg-getattr obj (python-name method-name))
                (pmg-decref obj))))
      (check-pointer m)
      (unwind-protect (%invoke m args)
        (pmg-decref m)))))

(defun resolve-name (name)
  "New reference to the value of the dotted Python NAME."
  (let ((cell (name-cell name)))
    (check-pointer (pmg-resolve (name-cell-pointer cell) (name-cell-n cell)))))

(defun pyvalue (python-name-or-variable)
  "Get the value of a python-name-or-variable. Example:
 (pyvalue \"sys\") ;=> <module 'sys' (built-in)>
 (pyvalue \"sys.path\") ;=> #(\"/usr/lib/python311.zip\" ...)"
  (%check-argument pyvalue python-name-or-variable (or string symbol python-object)
                   "a Python name (a string such as \"sys.path\", or a symbol) or a pyobject-wrapper")
  (unless *alive* (python-start-if-not-alive))
  (etypecase python-name-or-variable
    (string (with-python-gil (finish-pointer (resolve-name python-name-or-variable))))
    (symbol (pyvalue (python-name python-name-or-variable)))
    (python-object (if *remote* python-name-or-variable (lispify python-name-or-variable)))))

(defun (setf pyvalue) (value python-name)
  "Sets the Python variable (or dotted attribute) PYTHON-NAME to VALUE."
  (let* ((name (python-name python-name '(setf pyvalue)))
         (dot (position #\. name :from-end t)))
    (unless *alive* (python-start-if-not-alive))
    (with-python-gil
      (let ((v (%pythonize value)))
        (unwind-protect
             (if dot
                 (let ((parent (resolve-name (subseq name 0 dot))))
                   (unwind-protect
                        (when (minusp (pmg-setattr parent (subseq name (1+ dot)) v))
                          (signal-last-error))
                     (pmg-decref parent)))
                 (let ((d (check-pointer (pmg-main-dict))))
                   (unwind-protect
                        (when (minusp (pmg-setitem d (intern-name name) v))
                          (signal-last-error))
                     (pmg-decref d))))
          (pmg-decref v)))))
  value)

(defun pyslot-value (object slot-name)
  "getattr(OBJECT, SLOT-NAME) converted to Lisp."
  (python-name slot-name 'pyslot-value)
  (unless *alive* (python-start-if-not-alive))
  (with-python-gil
    (let ((obj (%pythonize object)))
      (unwind-protect (finish-pointer (pmg-getattr obj (python-name slot-name)))
        (pmg-decref obj)))))

(defun (setf pyslot-value) (new-value object slot-name)
  (python-name slot-name '(setf pyslot-value))
  (unless *alive* (python-start-if-not-alive))
  (with-python-gil
    (let ((obj (%pythonize object)) (v (%pythonize new-value)))
      (unwind-protect
           (when (minusp (pmg-setattr obj (python-name slot-name) v))
             (signal-last-error))
        (pmg-decref obj) (pmg-decref v))))
  new-value)

(defun pyref (object &rest indices)
  "OBJECT[INDICES...] (one index, or a tuple of several) converted to Lisp."
  (unless *alive* (python-start-if-not-alive))
  (with-python-gil
    (let ((obj (%pythonize object))
          (key (if (= 1 (length indices)) (%pythonize (first indices)) (%pythonize indices))))
      (unwind-protect (finish-pointer (pmg-getitem obj key))
        (pmg-decref obj) (pmg-decref key)))))

(defun (setf pyref) (new-value object &rest indices)
  (unless *alive* (python-start-if-not-alive))
  (with-python-gil
    (let ((obj (%pythonize object))
          (key (if (= 1 (length indices)) (%pythonize (first indices)) (%pythonize indices)))
          (v (%pythonize new-value)))
      (unwind-protect (when (minusp (pmg-setitem obj key v)) (signal-last-error))
        (pmg-decref obj) (pmg-decref key) (pmg-decref v))))
  new-value)
