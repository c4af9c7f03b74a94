;;;; pythonize.lisp -- Lisp values to Python objects.

(in-package #:pymodgen)

(defvar *pythonizers* nil
  "Each entry in the alist PYTHONIZERS maps from a lisp-type to a single-argument
PYTHON-FUNCTION-DESIGNATOR. This python function takes as input the \"default\" python
objects and is expected to appropriately convert it to the corresponding python object.")

(defmacro with-pythonizers ((&rest overriding-pythonizers) &body body)
  "Each entry of OVERRIDING-PYTHONIZERS is a two-element list of the form (TYPE PYTHONIZER).
TYPE is unevaluated, PYTHONIZER is evaluated: a Python function designator (a name such as
\"tuple\", a pyobject-wrapper or a Lisp function) applied to the default Python object of
each Lisp value of TYPE. Example: (with-pythonizers ((vector \"tuple\")) (pycall \"print\" #(1 2 3)))
prints (1, 2, 3)."
  `(let ((*pythonizers* (list* ,@(loop for (type pythonizer) in overriding-pythonizers
                                       collect `(cons ',type ,pythonizer))
                               *pythonizers*)))
     ,@body))

(defgeneric pythonize (lisp-value-or-object)
  (:documentation "Given a lisp object, return a CFFI:FOREIGN-POINTER pointing to the
python object corresponding to the given lisp object: a NEW (strong) reference, which the
caller owns. Methods may be added for user classes; they must return a new reference (for
example the result of calling PYTHONIZE on another value)."))

(defmethod pythonize ((o integer))
  (if (typep o '(signed-byte 64))
      (check-pointer (pmg-long o))
      (check-pointer (pmg-long-from-hex (format nil "~(~x~)" o)))))

(defmethod pythonize ((o ratio))
  (call-to-pointer (name-cell "fractions.Fraction") (list (numerator o) (denominator o))))

(defmethod pythonize ((o float))
  (check-pointer (pmg-float (coerce o 'double-float))))

(defun single-float-to-float32 (o)
  "numpy.float32 of the single-float O (a new reference), as py4cl2-cffi's PY-REPR spells
single-floats for PYEVAL/PYEXEC (a Python float without numpy). Function arguments are
Python floats (float32 is not a float: time.sleep and others refuse it)."
  (if (member :arrays *internal-features*)
      (let ((*pythonizers* nil))
        (call-to-pointer (name-cell "numpy.float32") (list (coerce o 'double-float))))
      (check-pointer (pmg-float (coerce o 'double-float)))))

(defmethod pythonize ((o complex))
  (check-pointer (pmg-complex (coerce (realpart o) 'double-float)
                              (coerce (imagpart o) 'double-float))))

(defun lisp-string-to-python (s)
  (let ((s (if (typep s 'simple-string) s (coerce s 'simple-string))))
    (declare (simple-string s))
    (%with-pinned (s)
      (check-pointer
       (etypecase s
         ((simple-array character (*))
          (pmg-str-from-kind 4 (%vector-pointer s) (length s)))
         (simple-base-string
          (pmg-str-from-kind 1 (%vector-pointer s) (length s))))))))

(defmethod pythonize ((o string)) (lisp-string-to-python o))

(defmethod pythonize ((o symbol))
  (cond ((eq o t) (check-pointer (pmg-bool 1)))
        ((null o) (check-pointer (pmg-bool 0)))
        (t (let ((name (symbol-name o)))
             (lisp-string-to-python
              (if (notany #'lower-case-p name) (string-downcase name) name))))))

(defun fill-container (container items)
  "Fills tuple/list CONTAINER from the Lisp sequence ITEMS."
  (let ((i 0))
    (map nil (lambda (x)
               (when (minusp (pmg-fill container i (cffi:null-pointer) (%pythonize x)))
                 (signal-last-error))
               (incf i))
         items)
    container))

(defun make-container (kind n)
  (check-pointer (pmg-container kind n)))

(defmacro with-new-container ((var kind n) &body body)
  "Binds VAR to a fresh container; decrefs it if BODY exits non-locally; returns it."
  (let ((ok (gensym)))
    `(let ((,var (make-container ,kind ,n)) (,ok nil))
       (unwind-protect (multiple-value-prog1 (progn ,@body) (setf ,ok t))
         (unless ,ok (pmg-decref ,var))))))

;;; Containers: depth, cycles and shared structure. One conversion (one argument, one value
;;; set...) starts at its outermost container, which binds *CONVERSION-MEMO*. Containers met
;;; inside it are recorded (from the first nested container on, so a flat list records
;;; nothing): :IN-PROGRESS while converted, then their Python object. Meeting a container
;;; that is in progress is a cycle (CIRCULAR-STRUCTURE-ERROR); meeting one that is done gives
;;; the same Python object again, so shared structure is converted once, and arrives in
;;; Python shared as it was in Lisp (as pickle and copy.deepcopy keep sharing).

(defvar *conversion-memo* :none
  ":NONE outside a conversion to Python; inside one, the record described above: an EQ
alist while it is short, then an EQ hash table. Its Python objects are references it owns,
released when the outermost conversion ends.")
(defvar *conversion-root* nil "The outermost container of the current conversion.")

(defconstant +memo-alist-limit+ 16 "Records beyond this many go into a hash table.")

(defun release-conversion-memo (memo)
  (flet ((release (v) (unless (eq v :in-progress) (pmg-decref v))))
    (if (listp memo)
        (loop for (nil . v) in memo do (release v))
        (maphash (lambda (k v) (declare (ignore k)) (release v)) memo))))

(defun memo-lookup (object)
  (let ((memo *conversion-memo*))
    (if (listp memo)
        (cdr (assoc object memo :test #'eq))
        (gethash object memo))))

(defun memo-record (object value)
  "Records VALUE for OBJECT (a new entry or an update)."
  (let ((memo *conversion-memo*))
    (if (listp memo)
        (let ((entry (assoc object memo :test #'eq)))
          (cond (entry (setf (cdr entry) value))
                ((< (length memo) +memo-alist-limit+)
                 (setf *conversion-memo* (acons object value memo)))
                (t (let ((table (make-hash-table :test 'eq)))
                     (loop for (k . v) in memo do (setf (gethash k table) v))
                     (setf (gethash object table) value
                           *conversion-memo* table)))))
        (setf (gethash object memo) value))))

(defun circular-error (object)
  (error 'circular-structure-error
         :object object
         :reason (format nil "the ~A contains itself (circular structure)"
                         (typecase object
                           (list "list") (hash-table "hash table") (vector "vector") (t "array")))))

(defun memoized-conversion (object thunk)
  "THUNK's conversion of the container OBJECT, nested in a conversion: see above."
  (declare (function thunk))
  (when (> *conversion-depth* +max-conversion-depth+) (%depth-error *conversion-root*))
  (when (null *conversion-memo*)
    ;; the first nested container: the outermost one is in progress too
    (memo-record *conversion-root* :in-progress))
  (let ((seen (memo-lookup object)))
    (cond ((eq seen :in-progress) (circular-error object))
          (seen (pmg-incref seen) seen)
          (t (memo-record object :in-progress)
             (let ((p (funcall thunk)))
               (pmg-incref p)        ; the record's own reference
               (memo-record object p)
               p)))))

(defmacro with-container-conversion ((object) &body body)
  "BODY converts the container OBJECT to a new reference, with the depth, cycle and sharing
rules above."
  (let ((o (gensym "O")) (thunk (gensym "THUNK")))
    `(let ((,o ,object)
           (*conversion-depth* (1+ *conversion-depth*)))
       (flet ((,thunk () ,@body))
         (declare (dynamic-extent #',thunk))
         (if (eq *conversion-memo* :none)
             (let ((*conversion-memo* nil) (*conversion-root* ,o))
               (unwind-protect (,thunk)
                 (when *conversion-memo* (release-conversion-memo *conversion-memo*))))
             (memoized-conversion ,o #',thunk))))))

(defmethod pythonize :around ((o list))
  (if (null o) (call-next-method) (with-container-conversion (o) (call-next-method))))

(defmethod pythonize :around ((o array))
  ;; strings and specialized arrays contain no Lisp objects
  (if (or (stringp o) (not (eq t (array-element-type o))))
      (call-next-method)
      (with-container-conversion (o) (call-next-method))))

(defmethod pythonize :around ((o hash-table))
  (with-container-conversion (o) (call-next-method)))

(defun list-length-or-shape (list)
  "The length of LIST, or NIL and :DOTTED or :CIRCULAR (CLtL's LIST-LENGTH, which tells
dotted lists apart instead of signalling)."
  (declare (list list) (optimize speed))
  (do ((n 0 (+ n 2)) (fast list (cddr fast)) (slow list (cdr slow)))
      (nil)
    (declare (fixnum n))
    (cond ((null fast) (return n))
          ((atom fast) (return (values nil :dotted)))
          ((null (cdr fast)) (return (1+ n)))
          ((atom (cdr fast)) (return (values nil :dotted)))
          ((and (eq fast slow) (> n 0)) (return (values nil :circular))))))

(defmethod pythonize ((o list))
  (multiple-value-bind (n shape) (list-length-or-shape o)
    (case shape
      (:circular (error 'circular-structure-error
                        :object o :reason "the list is circular (its tail comes back to an earlier cons)"))
      (:dotted (error 'python-conversion-error
                      :object o :reason "a dotted list has no Python counterpart (lists are tuples)"))
      (t (with-python-gil
           (with-new-container (tu 0 n) (fill-container tu o) tu))))))

(defmethod pythonize ((o hash-table))
  (with-python-gil
    (with-new-container (d 2 0)
      (maphash (lambda (k v)
                 (let ((pk (%pythonize k)))
                   (when (minusp (pmg-fill d 0 pk (%pythonize v)))
                     (signal-last-error))))
               o)
      d)))

(defun pybytes (octets)
  "A Python bytes object (a PYOBJECT-WRAPPER) holding the octets of the Lisp sequence
OCTETS."
  (unless (and (typep octets 'sequence)
               (or (typep octets '(array (unsigned-byte 8) (*)))
                   (and (or (not (listp octets)) (list-length-or-shape octets))
                        (every (lambda (x) (typep x '(unsigned-byte 8))) octets))))
    (%bad-argument 'pybytes octets '(or (vector (unsigned-byte 8)) sequence)
                   "a sequence of octets (integers from 0 to 255)"))
  (let ((v (coerce octets '(simple-array (unsigned-byte 8) (*)))))
    (%with-pinned (v)
      (wrap-new-reference (check-pointer (pmg-bytes (%vector-pointer v) (length v)))))))

;;; Arrays

(defun array-dtype (array)
  "numpy dtype string for a specialized Lisp array, or NIL."
  ;; (element types as the implementation names them: ECL says EXT:INTEGER64 for
  ;; (signed-byte 64), SI:COMPLEX-DOUBLE-FLOAT for (complex double-float))
  (let ((et (array-element-type array)))
    (cond ((eq et 'double-float) "f8")
          ((eq et 'single-float) "f4")
          ((equal et '#.(upgraded-array-element-type '(signed-byte 64))) "i8")
          ((equal et '#.(upgraded-array-element-type '(signed-byte 32))) "i4")
          ((equal et '#.(upgraded-array-element-type '(signed-byte 16))) "i2")
          ((equal et '#.(upgraded-array-element-type '(signed-byte 8))) "i1")
          ((equal et '#.(upgraded-array-element-type '(unsigned-byte 64))) "u8")
          ((equal et '#.(upgraded-array-element-type '(unsigned-byte 32))) "u4")
          ((equal et '#.(upgraded-array-element-type '(unsigned-byte 16))) "u2")
          ((equal et '#.(upgraded-array-element-type '(unsigned-byte 8))) "u1")
          ((equal et '#.(upgraded-array-element-type '(complex double-float))) "c16")
          ((equal et '#.(upgraded-array-element-type '(complex single-float))) "c8")
          (t nil))))

(defun dtype-size (dtype)
  (cdr (assoc dtype '(("f8" . 8) ("f4" . 4) ("i8" . 8) ("i4" . 4) ("i2" . 2) ("i1" . 1)
                      ("u8" . 8) ("u4" . 4) ("u2" . 2) ("u1" . 1) ("c16" . 16) ("c8" . 8))
              :test #'string=)))

(defun shareable-array-p (o)
  "A specialized simple array whose memory numpy can use directly."
  (and (typep o 'simple-array) (not (stringp o)) (array-dtype o) t))

(defun array-over-pinned (array)
  "A numpy array (new reference) over ARRAY's memory. ARRAY must be pinned by the caller
for as long as Python uses the result."
  (let* ((dtype (array-dtype array))
         (storage (%array-storage array))
         (rank (array-rank array)))
    (cffi:with-foreign-object (shape :int64 (max 1 rank))
      (dotimes (i rank) (setf (cffi:mem-aref shape :int64 i) (array-dimension array i)))
      (check-pointer
       (pmg-array-over (%vector-pointer storage)
                       (* (array-total-size array) (dtype-size dtype))
                       dtype rank shape 1)))))

(defun array-copy-to-python (array)
  "A numpy array (new reference) holding a copy of the specialized ARRAY."
  (let ((array (if (typep array 'simple-array)
                   array
                   (let ((c (make-array (array-dimensions array)
                                        :element-type (array-element-type array))))
                     (dotimes (i (array-total-size array) c)
                       (setf (row-major-aref c i) (row-major-aref array i)))))))
    (%with-pinned (array)
      (with-python-gil
        (let ((view (array-over-pinned array)))
          (unwind-protect (call-method-pointer view "copy" '())
            (pmg-decref view)))))))

(defvar *pinned-arrays* nil
  "Arrays pinned for the current call: these reach Python by reference.")
(defvar *shared-arrays* nil
  "Alist (address-of-numpy-array . lisp-array) of arrays shared in the current call.")

(defun nested-lists (array)
  (let ((dims (array-dimensions array)))
    (labels ((rec (ds offset)
               (if (null ds)
                   (row-major-aref array offset)
                   (let ((stride (reduce #'* (cdr ds))))
                     (coerce (loop for i below (car ds)
                                   collect (rec (cdr ds) (+ offset (* i stride))))
                             'vector)))))
      (rec dims 0))))

(defmethod pythonize ((o array))
  (cond ((and (member o *pinned-arrays* :test #'eq))
         (let ((p (array-over-pinned o)))
           (push (cons (cffi:pointer-address p) o) *shared-arrays*)
           p))
        ((array-dtype o) (array-copy-to-python o))
        ((and (vectorp o) (= 1 (array-rank o)))
         (with-python-gil
           (with-new-container (l 1 (length o)) (fill-container l o) l)))
        (t ;; a general multi-dimensional array: a numpy array of the one numeric type all its
           ;; elements share (so #2A((1d0 2d0) (3d0 4d0)) is float64), else of objects
         ;; (the dtype as a Python str already: a pythonizer of strings or vectors must not
         ;; turn it into something else)
         (call-to-pointer (name-cell "numpy.array") (list (nested-lists o))
                          (list "dtype" (wrap-new-reference
                                         (lisp-string-to-python (uniform-dtype o))))))))

(defun uniform-dtype (array)
  "The numpy dtype that holds every element of ARRAY exactly: float64, float32, int64 or
complex128 when all elements are of that one type, else object."
  (flet ((all (type)
           (dotimes (i (array-total-size array) t)
             (unless (typep (row-major-aref array i) type) (return nil)))))
    (cond ((zerop (array-total-size array)) "object")
          ((all 'double-float) "float64")
          ((all 'single-float) "float32")
          ((all '(signed-byte 64)) "int64")
          ((all '(complex double-float)) "complex128")
          (t "object"))))

(defmethod pythonize ((o pyobject-wrapper))
  (let ((p (pyobject-wrapper-pointer o)))
    (pmg-incref p)
    p))

(defmethod pythonize ((o #.+pointer-class+))
  (pmg-incref o)
  o)

(defmethod pythonize ((o function))
  (check-pointer (pmg-make-callable (register-object o))))

(defmethod pythonize ((o t))
  ;; Any other Lisp object: a proxy whose attribute access calls PYTHON-GETATTR /
  ;; PYTHON-SETATTR.
  (call-to-pointer (name-cell "_pymodgen.LispObject") (list (register-object o))))

(define-condition python-attribute-missing (error)
  ((object :initarg :object) (name :initarg :name :reader missing-name))
  (:report (lambda (c s)
             (format s "~S has no attribute ~S for Python (define a PYTHON-GETATTR method)"
                     (slot-value c 'object) (missing-name c))))
  (:documentation "Signalled by the default PYTHON-GETATTR; Python sees AttributeError."))

(defgeneric python-getattr (object slot-name)
  (:documentation "Called when python accesses an object's slot (getattr). Signal
PYTHON-ATTRIBUTE-MISSING (what the default method does) for attributes that do not exist:
Python then sees an AttributeError, so hasattr() and getattr(o, name, default) work.")
  (:method (object slot-name)
    (error 'python-attribute-missing :object object :name slot-name)))

(defgeneric python-setattr (object slot-name value)
  (:documentation "Called when python sets an object's slot (setattr)")
  (:method (object slot-name value)
    (declare (ignore value))
    (error "pymodgen: cannot set attribute ~S of ~S from Python (define a PYTHON-SETATTR method)"
           slot-name object)))

(defun %pythonize (x)
  "PYTHONIZE, then the matching entry of *PYTHONIZERS* (a new reference)."
  (let ((p (pythonize x)))
    (if (null *pythonizers*)
        p
        (let ((entry (find-if (lambda (e) (typep x (car e))) *pythonizers*)))
          (if (null entry)
              p
              (let ((w (wrap-new-reference p))
                    (f (cdr entry))
                    (*pythonizers* nil))
                (if (functionp f)
                    (pythonize (funcall f w))
                    (call-to-pointer (callable-target f) (list w)))))))))
