;;;; lispify.lisp -- Python objects to Lisp values.

(in-package #:pymodgen)

(defvar *lispifiers* nil
  "Each entry in the alist LISPIFIERS maps from a lisp-type to a single-argument lisp
function. This function takes as input the \"default\" lisp objects and is expected to
appropriately parse it to the corresponding lisp object.")

(defmacro with-lispifiers ((&rest overriding-lispifiers) &body body)
  "Each entry of overriding-lispifiers is a two-element list of the form (TYPE LISPIFIER).
Here, TYPE is unevaluated, while LISPIFIER will be evaluated; the LISPIFIER is expected to
take a default-lispified object and return the appropriate object user expects.
Example: (with-lispifiers ((vector (lambda (x) (coerce x 'list)))) (raw-pyeval \"[1,2,3]\"))
=> (1 2 3)"
  `(let ((*lispifiers* (list* ,@(loop for (type lispifier) in overriding-lispifiers
                                      collect `(cons ',type ,lispifier))
                              *lispifiers*)))
     ,@body))

(defvar *remote* nil "T inside WITH-REMOTE-OBJECTS: results stay Python objects.")

(defmacro with-remote-objects (&body body)
  "Ensures that all values returned by python functions and methods are kept in python,
and only pointers (PYOBJECT-WRAPPERs) are returned to lisp. This is useful if performing
operations on large datasets."
  `(let ((*remote* t)) ,@body))

(defmacro with-remote-objects* (&body body)
  "Like WITH-REMOTE-OBJECTS, but the value of the last form is converted to Lisp."
  `(lispify (with-remote-objects ,@body)))

(defvar *type-lispifiers* (%make-synchronized-hash-table :test #'equal)
  "Python qualified type name -> function of a PYOBJECT-WRAPPER (see DEFINE-LISPIFIER).")

(defvar *builtin-overrides* nil
  "T once DEFINE-LISPIFIER has overridden a type the runtime converts itself (\"int\",
\"str\", \"list\", \"numpy.float32\" ...): from then on every converted value is checked
against *TYPE-LISPIFIERS* by its type name. (Global, never bound.)")

(defparameter +natively-converted-types+
  '("int" "bool" "float" "complex" "str" "bytes" "NoneType" "tuple" "list" "dict"
    "fractions.Fraction" "Fraction" "numpy.ndarray" "_pymodgen.LispObject")
  "Types whose objects never reach the \"other objects\" branch (numpy scalar types,
\"numpy.<name>\", neither).")

(defun natively-converted-type-p (name)
  (or (member name +natively-converted-types+ :test #'string=)
      (and (> (length name) 6) (string= "numpy." name :end2 6))))

(defmacro define-lispifier (name (pyobject-var) &body body)
  "Defines how Python objects whose type is named NAME (e.g. \"decimal.Decimal\"; builtins
without module: \"int\") become Lisp values: BODY runs with PYOBJECT-VAR bound to a
PYOBJECT-WRAPPER and returns the Lisp value. Objects of other types without a lispifier stay
wrappers. NAME may be a type the runtime converts itself (\"int\", \"list\",
\"numpy.float32\" ...): the lispifier then replaces the built-in conversion (at the cost
of one type-name lookup per converted value, for every conversion, from then on)."
  (check-type name string)
  `(progn (setf (gethash ,name *type-lispifiers*) (lambda (,pyobject-var) ,@body))
          (when (natively-converted-type-p ,name) (setf *builtin-overrides* t))
          ,name))

(defun raw-flag (mode)
  "The RAW argument of the runtime's call/eval functions for a result wanted as MODE:
objects stay unclassified for wrappers, and for Lisp values once a built-in conversion is
overridden (FINISH-CALL then classifies them itself)."
  (if (and (eq mode :lisp) (not *builtin-overrides*)) 0 1))

(declaim (inline customize))
(defun customize (object)
  (if (null *lispifiers*)
      object
      (loop for (type . lispifier) in *lispifiers*
            when (typep object type) do (return (funcall lispifier object))
            finally (return object))))

(declaim (inline copy-str))
(defun copy-str (kind len data)
  (declare (optimize speed (safety 0) (debug 0))
           (type fixnum kind len) (type %pointer data))
  (let ((s (make-string len)))
    (case kind
      (1 (dotimes (i len) (setf (schar s i) (code-char (%pointer-ref-8 data i)))))
      (2 (dotimes (i len) (setf (schar s i) (code-char (%pointer-ref-16 data (* 2 i))))))
      (t (dotimes (i len) (setf (schar s i) (code-char (%pointer-ref-32 data (* 4 i)))))))
    s))

(defun pystr-to-lisp (pointer)
  "The Lisp string of the Python str at POINTER (borrowed)."
  (cffi:with-foreign-object (v :uint8 +value-size+)
    (let ((tag (pmg-classify pointer v)))
      (unless (= tag +tag-str+) (error "pymodgen: not a str object"))
      (copy-str (value-kind v) (value-len v) (value-data v)))))

(defun parse-hex-int (pointer)
  (let ((s (check-pointer (pmg-long-to-hex pointer))))
    (unwind-protect
         (let* ((text (pystr-to-lisp s))
                (neg (char= (char text 0) #\-))
                (digits (subseq text (if neg 3 2))))
           (let ((n (parse-integer digits :radix 16))) (if neg (- n) n)))
      (pmg-decref s))))

(defun format-element-type (fmt)
  (let ((fmt (string-left-trim "=<@" fmt)))
    (cond ((string= fmt "d") 'double-float)
          ((string= fmt "f") 'single-float)
          ((member fmt '("q" "l") :test #'string=) '(signed-byte 64))
          ((member fmt '("Q" "L") :test #'string=) '(unsigned-byte 64))
          ((string= fmt "i") '(signed-byte 32))
          ((string= fmt "I") '(unsigned-byte 32))
          ((string= fmt "h") '(signed-byte 16))
          ((string= fmt "H") '(unsigned-byte 16))
          ((string= fmt "b") '(signed-byte 8))
          ((string= fmt "B") '(unsigned-byte 8))
          ((string= fmt "?") :bool)
          ((string= fmt "Zd") '(complex double-float))
          ((string= fmt "Zf") '(complex single-float))
          (t nil))))

(defun memcpy (dst src n)
  (%memcpy dst src n))

(defun ndarray-to-lisp (obj)
  "A fresh Lisp array with the contents of the numpy array OBJ (borrowed): one memcpy
into an array of the matching element type (bool -> T/NIL, object dtypes via tolist)."
  (cffi:with-foreign-object (info :uint8 +array-info-size+)
    (when (minusp (pmg-array-info obj 1 info))
      ;; not a buffer (object, datetime ... dtypes): go through tolist()
      (pmg-error-clear)
      (return-from ndarray-to-lisp (ndarray-via-tolist obj)))
    (let ((holder (ainfo-holder info)))
      (unwind-protect
           (let* ((et (format-element-type (ainfo-format info)))
                  (dims (loop for i below (ainfo-ndim info) collect (ainfo-shape info i)))
                  (total (reduce #'* dims))
                  (data (ainfo-data info)))
             (cond ((eq et :bool)
                    (let ((a (make-array dims)))
                      (dotimes (i total a)
                        (setf (row-major-aref a i) (/= 0 (cffi:mem-aref data :uint8 i))))))
                   (et
                    (let ((a (make-array dims :element-type et)))
                      (when (plusp total)
                        (let ((storage (%array-storage a)))
                          (%with-pinned (storage)
                            (memcpy (%vector-pointer storage) data
                                    (* total (ainfo-itemsize info))))))
                      a))
                   (t (ndarray-via-tolist obj))))
        (pmg-decref holder)))))

(defun ndarray-via-tolist (obj)
  (let* ((dims (lispify-attr obj "shape"))
         (dims (if (listp dims) dims nil))
         (nested (let ((l (call-method-pointer obj "tolist" '())))
                   (lispify-pointer l t))))
    (if (or (null dims) (not (vectorp nested)))
        nested
        (let ((a (make-array dims)) (i 0))
          (labels ((walk (x d)
                     (if (null d)
                         (progn (setf (row-major-aref a i) x) (incf i))
                         (map nil (lambda (y) (walk y (cdr d))) x))))
            (walk nested dims))
          a))))

(defun shared-array-of (obj)
  (cdr (assoc (cffi:pointer-address obj) *shared-arrays*)))

(defun type-name-of (obj)
  "The qualified name of OBJ's type (\"numpy.float32\"; builtins without module), or \"\"."
  (let ((n (pmg-type-name obj)))
    (if (cffi:null-pointer-p n)
        (progn (pmg-error-clear) "")
        (unwind-protect (pystr-to-lisp n) (pmg-decref n)))))

(defun lispify-object (tag obj owned)
  "Lisp value of OBJ (tag from the classifier). OWNED: OBJ is a new reference whose
ownership passes here."
  (let ((keep nil)
        (*conversion-depth* (1+ *conversion-depth*))
        ;; a dict subclass that a generated package typed (Counter): a typed wrapper
        (class (and (= tag +tag-dict+) *typed-classes-p* (python-class-of obj))))
    (when (> *conversion-depth* +max-conversion-depth+)
      (when owned (pmg-decref obj))
      (error "pymodgen: containers nested more than ~D deep (or cyclic) cannot be converted"
             +max-conversion-depth+))
    (unwind-protect
         (with-python-gil
           (cond
             (class
              (setf keep t)
              (%typed (if owned (wrap-new-reference obj) (wrap-borrowed obj)) class))
             ((= tag +tag-bigint+) (parse-hex-int obj))
             ((= tag +tag-tuple+)
              (let ((n (pmg-len obj)))
                (if (zerop n)
                    +py-empty-tuple+
                    (cffi:with-foreign-object (v :uint8 +value-size+)
                      (loop for i below n
                            collect (progn (when (= (pmg-item-classify obj i v) +tag-error+)
                                             (signal-last-error))
                                           (lispify-value v nil)))))))
             ((= tag +tag-list+)
              (let* ((n (pmg-len obj)) (vec (make-array n)))
                (cffi:with-foreign-object (v :uint8 +value-size+)
                  (dotimes (i n vec)
                    (when (= (pmg-item-classify obj i v) +tag-error+) (signal-last-error))
                    (setf (svref vec i) (lispify-value v nil))))))
             ((= tag +tag-dict+)
              (let ((h (make-hash-table :test #'equal)))
                (cffi:with-foreign-objects ((k :uint8 +value-size+) (v :uint8 +value-size+)
                                            (pos :int64))
                  (setf (cffi:mem-ref pos :int64) 0)
                  (loop for r = (pmg-dict-next obj pos k v)
                        while (= r 1)
                        do (let ((key (lispify-value k nil)))
                             (setf (gethash key h) (lispify-value v nil)))
                        finally (when (minusp r) (signal-last-error))))
                h))
             ((= tag +tag-bytes+)
              (cffi:with-foreign-object (v :uint8 +value-size+)
                (pmg-classify obj v)
                (let* ((n (value-len v))
                       (a (make-array n :element-type '(unsigned-byte 8))))
                  (when (plusp n)
                    (%with-pinned (a)
                      (memcpy (%vector-pointer a) (value-data v) n)))
                  a)))
             ((= tag +tag-ndarray+)
              (or (shared-array-of obj) (ndarray-to-lisp obj)))
             ((= tag +tag-npscalar+)
              (let ((v (lispify-pointer (call-method-pointer obj "item" '()) t)))
                (if (and (typep v 'double-float) (string= (type-name-of obj) "numpy.float32"))
                    (coerce v 'single-float)
                    v)))
             ((= tag +tag-fraction+)
              (/ (lispify-attr obj "numerator") (lispify-attr obj "denominator")))
             ((= tag +tag-lispobj+)
              (handle-object (lispify-attr obj "_handle")))
             (t
              (let* ((name (type-name-of obj))
                     (lispifier (gethash name *type-lispifiers*))
                     (w (progn (setf keep t)
                               (if owned (wrap-new-reference obj) (wrap-borrowed obj)))))
                (if lispifier (funcall lispifier w) (%maybe-typed w obj))))))
      (when (and owned (not keep)) (pmg-decref obj)))))

(defun lispify-attr (obj name)
  "Internal: attribute NAME of OBJ with the default translation."
  (let ((p (check-pointer (pmg-getattr obj name)))
        (*lispifiers* nil))
    (lispify-pointer p t)))

(defun lispify-value (v owned)
  "Lisp value of the classified PmgValue V. OWNED: its object is a new reference."
  (declare (optimize speed (safety 0) (debug 0)))
  (if (and *builtin-overrides* (not owned))
      (lispify-value-overridden v)
      (lispify-value-default v owned)))

(defun lispify-value-overridden (v)
  "LISPIFY-VALUE of a borrowed V when DEFINE-LISPIFIER overrides built-in types."
  (let* ((obj (value-obj v))
         (f (and (/= (value-tag v) +tag-error+) (not (cffi:null-pointer-p obj))
                 (gethash (type-name-of obj) *type-lispifiers*))))
    (if f
        (customize (funcall f (wrap-borrowed obj)))
        (lispify-value-default v nil))))

(defun lispify-value-default (v owned)
  (declare (optimize speed (safety 0) (debug 0)))
  (let ((tag (value-tag v)))
    (declare (type (signed-byte 32) tag))
    (customize
     (case tag
       (#.+tag-str+ (copy-str (value-kind v) (value-len v) (value-data v)))
       (#.+tag-int+ (value-i v))
       (#.+tag-float+ (value-f v))
       (#.+tag-none+ +py-none+)
       (#.+tag-true+ t)
       (#.+tag-false+ nil)
       (#.+tag-complex+ (complex (value-f v) (value-f2 v)))
       (#.+tag-error+ (signal-last-error))
       (t (lispify-object tag (value-obj v) owned))))))

(defun finish-call (tag v mode)
  "The result of a pmg_call* (TAG, PmgValue V) as MODE asks: :LISP a Lisp value, :WRAPPER a
PYOBJECT-WRAPPER (WITH-REMOTE-OBJECTS; the call was raw), :POINTER the new reference."
  (cond ((= tag +tag-error+) (signal-last-error))
        ((and (eq mode :lisp) *builtin-overrides*)
         ;; the call was raw (RAW-FLAG): classify the object here, borrowed
         (lispify-pointer (value-obj v) t))
        ((eq mode :lisp) (lispify-value v t))
        ((eq mode :pointer) (value-obj v))
        (t (let* ((obj (value-obj v))
                  (shared (shared-array-of obj)))
             (if shared
                 (progn (pmg-decref obj) shared)
                 (wrap-python-object obj))))))

(defun finish-pointer (p)
  "A new reference P (NULL: signal the error) as the user-visible result: a Lisp value,
or a wrapper inside WITH-REMOTE-OBJECTS."
  (check-pointer p)
  (if *remote* (wrap-python-object p) (lispify-pointer p t)))

(defun lispify-pointer (pointer owned)
  "Lisp value of the Python object at POINTER. OWNED: a new reference passed to us."
  (cffi:with-foreign-object (v :uint8 +value-size+)
    (if (and owned *builtin-overrides*)
        ;; classified borrowed, so that a lispifier can see the object; then released
        (unwind-protect
             (let ((tag (pmg-classify pointer v)))
               (if (= tag +tag-error+) (signal-last-error) (lispify-value v nil)))
          (pmg-decref pointer))
        (let ((tag (if owned (pmg-result pointer v) (pmg-classify pointer v))))
          (if (= tag +tag-error+) (signal-last-error) (lispify-value v owned))))))

(defun lispify (object)
  "Converts a PYOBJECT-WRAPPER (or foreign pointer) to its Lisp value; other objects are
returned as they are."
  (typecase object
    (pyobject-wrapper
     (let ((*remote* nil))
       (lispify-pointer (pyobject-wrapper-pointer object) nil)))
    (python-instance (lispify (python-instance-wrapper object)))
    (%pointer (let ((*remote* nil)) (lispify-pointer object nil)))
    (t object)))
