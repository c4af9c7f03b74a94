;;;; tests/fuzz.lisp -- seeded fuzzing of the runtime: random values of every translated
;;;; type in both directions, random call shapes, Python that raises, Lisp callbacks that
;;;; signal, throw, recurse or unwind, from 1-4 threads, GC forced between steps. After each
;;;; case the image must still answer (pycall "str" 42) with the Lisp float modes intact.
;;;;
;;;; A case depends on (seed, case number, enabled classes) only: (fuzz-case SEED CASE) in a
;;;; fresh image reproduces it. The suite runs a small size (+fuzz-default-cases+);
;;;; scripts/lisp-fuzz runs the long mode, batches of cases in child SBCLs, so that a crash
;;;; or a hang is reported with its seed and case instead of ending the run.

(in-package #:pymodgen-tests)

(def-suite fuzz :in pymodgen)
(in-suite fuzz)

;;; ------------------------------------------------------------------------------------
;;; Case classes

(defparameter *fuzz-all-classes*
  '(:roundtrip :to-python :from-python :call-shapes :odd-keywords :python-raises
    :callback-value :callback-error :callback-python-error :callback-recurse
    :callback-unwind :deep-recursion :float-env :output :threads :wrappers :restart
    :circular :wrong-types)
  "Every step class the generator knows.")

(defparameter *fuzz-known-failing*
  '()
  "Classes left out of the default run until their fix lands, each with a comment naming
its finding; PYMODGEN_FUZZ_CLASSES=all (or a list) turns them on. Empty: the classes of
issue 10 items 1, 2, 3 and 6 (:float-env, :callback-unwind, :deep-recursion,
:odd-keywords) were here until their fixes landed (56b2dda, 0740207).")

(defun fuzz-default-classes ()
  "The classes named by PYMODGEN_FUZZ_CLASSES (\"all\", or names separated by commas or
spaces, e.g. \"roundtrip,threads\"; a leading \"+\" adds them to the default set), else
every class but the known-failing ones."
  (let ((env (uiop:getenv "PYMODGEN_FUZZ_CLASSES"))
        (default (set-difference *fuzz-all-classes* *fuzz-known-failing*)))
    (flet ((parse (s)
             (loop for name in (uiop:split-string s :separator ", ")
                   for k = (find (string-upcase (string-trim " " name)) *fuzz-all-classes*
                                 :key #'symbol-name :test #'string=)
                   unless (zerop (length (string-trim " " name)))
                     do (unless k (error "PYMODGEN_FUZZ_CLASSES: unknown class ~S (known: ~{~(~A~)~^ ~})"
                                         name *fuzz-all-classes*))
                     and collect k)))
      (cond ((or (null env) (zerop (length (string-trim " " env)))) (remove-if-not (lambda (c) (member c default)) *fuzz-all-classes*))
            ((string-equal (string-trim " " env) "all") *fuzz-all-classes*)
            ((char= (char (string-trim " " env) 0) #\+)
             (let ((extra (parse (subseq (string-trim " " env) 1))))
               (remove-if-not (lambda (c) (or (member c default) (member c extra))) *fuzz-all-classes*)))
            (t (parse env))))))

;;; ------------------------------------------------------------------------------------
;;; Randomness: one random state per (seed, case, thread)

(defvar *rs* (%seed-random-state 0))

(defun fuzz-random-state (seed case &optional (thread 0))
  (%seed-random-state
   (make-array 4 :element-type '(unsigned-byte 32)
                 :initial-contents (list (ldb (byte 32 0) seed) (ldb (byte 32 32) seed)
                                         (ldb (byte 32 0) case) (+ 7 thread)))))

(defun rnd (n) (random n *rs*))
(defun one-in (n) (zerop (rnd n)))
(defun pick (sequence) (elt sequence (rnd (length sequence))))

;;; ------------------------------------------------------------------------------------
;;; Floats by their bits (comparisons never do float arithmetic, so they are safe under
;;; any trap setting)

(defun double-bits (x)
  (declare (double-float x))
  (cffi:with-foreign-object (p :uint64)
    (setf (cffi:mem-ref p :double) x)
    (cffi:mem-ref p :uint64)))

(defun bits-double (bits)
  (cffi:with-foreign-object (p :uint64)
    (setf (cffi:mem-ref p :uint64) (ldb (byte 64 0) bits))
    (cffi:mem-ref p :double)))

(defun single-bits (x)
  (cffi:with-foreign-object (p :uint32)
    (setf (cffi:mem-ref p :float) x)
    (cffi:mem-ref p :uint32)))

(defun bits-single (bits)
  (cffi:with-foreign-object (p :uint32)
    (setf (cffi:mem-ref p :uint32) (ldb (byte 32 0) bits))
    (cffi:mem-ref p :float)))

(defun nan-bits-p (bits) (and (= (ldb (byte 11 52) bits) #x7ff) (plusp (ldb (byte 52 0) bits))))

(defun to-double (x)
  "X (a real) as a double, exactly for singles (NaN and infinities included)."
  (etypecase x
    (double-float x)
    (single-float
     (let* ((b (single-bits x)) (sign (ldb (byte 1 31) b)) (e (ldb (byte 8 23) b)) (m (ldb (byte 23 0) b)))
       (if (= e 255)                    ; inf or NaN: by bits, no conversion instruction
           (bits-double (logior (ash sign 63) (ash #x7ff 52) (ash m 29)))
           (coerce x 'double-float))))
    (rational (coerce x 'double-float))))

(defun same-double-p (a b)
  (let ((x (double-bits a)) (y (double-bits b)))
    (or (= x y) (and (nan-bits-p x) (nan-bits-p y)))))

;;; ------------------------------------------------------------------------------------
;;; Values. A generated value is (lisp-value expected-back python-source): what to pass,
;;; what Python hands back for it (identity function, or evaluating the source), and a
;;; Python expression for the same value (NIL when there is none: Lisp objects, wrappers).

(defstruct (fz-thing (:constructor make-fz-thing (n))) n)

(defun fzgen-integer ()
  (case (rnd 6)
    (0 (- (rnd 21) 10))
    (1 (- (rnd (expt 2 32)) (expt 2 31)))
    (2 (pick (list most-positive-fixnum most-negative-fixnum (1+ most-positive-fixnum)
                   (1- most-negative-fixnum) (1- (expt 2 63)) (- (expt 2 63)) (expt 2 63)
                   (- -1 (expt 2 63)) (expt 2 64) (1- (expt 2 64)) (- (expt 2 64)) 0)))
    (t (* (if (one-in 2) 1 -1) (rnd (expt 2 (+ 1 (rnd 300))))))))

(defparameter +special-doubles+
  (list 0 (ash 1 63) #x7ff0000000000000 #xfff0000000000000 #x7ff8000000000000 #xfff8000000000000
        #x7fefffffffffffff #x0000000000000001 #x0010000000000000 #x3ff0000000000000
        #x000fffffffffffff #x8000000000000001 #x3fb999999999999a))

(defun fzgen-double-bits ()
  (case (rnd 4)
    (0 (pick +special-doubles+))
    (1 (random (expt 2 64) *rs*))
    (t (double-bits (bits-double (logior (ash (rnd 2) 63) (ash (+ 900 (rnd 250)) 52) (random (expt 2 52) *rs*)))))))

(defvar *fz-non-finite* t
  "When true, generated floats include infinities and NaNs. Off unless the :float-env
class is on: Python computing on them under SBCL's traps is issue 10 item 1.")

(defun finite-bits (b)
  "B, or when B is an infinity or NaN, a finite double of the same sign."
  (if (= (ldb (byte 11 52) b) #x7ff) (dpb #x7fe (byte 11 52) b) b))

(defun fzgen-double ()
  (let ((b (fzgen-double-bits)))
    (bits-double (cond ((not *fz-non-finite*) (finite-bits b))
                       ;; no signalling NaN: converting one is an :invalid operation in Lisp itself
                       ((nan-bits-p b) (logior b (ash 1 51)))
                       (t b)))))

(defun fzgen-single ()
  (let ((b (case (rnd 4)
             (0 (pick (list 0 (ash 1 31) #x7f800000 #xff800000 #x7fc00000 #x7f7fffff #x00000001 #x3f800000)))
             (t (let ((b (random (expt 2 32) *rs*)))
                  ;; no signalling NaN
                  (if (and (= (ldb (byte 8 23) b) 255) (plusp (ldb (byte 23 0) b))) (logior b (ash 1 22)) b))))))
    (bits-single (if (and (not *fz-non-finite*) (= (ldb (byte 8 23) b) 255)) (dpb 254 (byte 8 23) b) b))))

(defun py-double (x) (format nil "fz_f64(~D)" (double-bits (to-double x))))

(defparameter +char-ranges+
  ;; (low high) code point ranges: ASCII, NUL and controls, Latin-1, BMP without
  ;; surrogates, astral planes
  '((32 126) (0 31) (128 255) (256 #xd7ff) (#xe000 #xfffd) (#x10000 #x10ffff) (#x1f600 #x1f64f)))

(defun fzgen-string ()
  (let* ((n (case (rnd 8) (0 0) (1 (+ 100 (rnd 3000))) (t (rnd 20))))
         (ranges (loop repeat (1+ (rnd 2)) collect (pick +char-ranges+)))
         (s (make-string n)))
    (dotimes (i n)
      (destructuring-bind (lo hi) (pick ranges)
        (setf (char s i) (code-char (+ lo (rnd (1+ (- hi lo))))))))
    (let ((shape (rnd 6)))
      (cond ((and (= shape 0) (every (lambda (c) (< (char-code c) 128)) s))
             (coerce s 'simple-base-string))
            ((= shape 1)                ; not simple: a fill pointer
             (make-array n :element-type 'character :initial-contents s :fill-pointer n :adjustable t))
            (t s)))))

(defun py-string (s)
  (format nil "fz_str([~{~D~^,~}])" (map 'list #'char-code s)))

(defun simple-string-of (s) (coerce s '(simple-array character (*))))

(defparameter +array-types+
  '((double-float "float64") (single-float "float32")
    ((signed-byte 8) "int8") ((signed-byte 16) "int16") ((signed-byte 32) "int32") ((signed-byte 64) "int64")
    ((unsigned-byte 8) "uint8") ((unsigned-byte 16) "uint16") ((unsigned-byte 32) "uint32")
    ((unsigned-byte 64) "uint64") ((complex double-float) "complex128") ((complex single-float) "complex64")))

(defun fzgen-element (type)
  (cond ((eq type 'double-float) (fzgen-double))
        ((eq type 'single-float) (fzgen-single))
        ((equal type '(complex double-float)) (complex (fzgen-double) (fzgen-double)))
        ((equal type '(complex single-float)) (complex (fzgen-single) (fzgen-single)))
        ((eq (first type) 'signed-byte) (- (rnd (expt 2 (second type))) (expt 2 (1- (second type)))))
        (t (rnd (expt 2 (second type))))))

(defun py-element (x)
  (etypecase x
    (integer (format nil "~D" x))
    (float (py-double x))
    (complex (format nil "complex(~A,~A)" (py-double (realpart x)) (py-double (imagpart x))))))

(defun py-nested (array)
  "ARRAY's elements as a nested Python list text (row-major)."
  (let ((dims (array-dimensions array)) (i -1))
    (labels ((walk (dims)
               (if (null dims)
                   (py-element (row-major-aref array (incf i)))
                   (format nil "[~{~A~^,~}]" (loop repeat (first dims) collect (walk (rest dims)))))))
      (walk dims))))

(defun fzgen-array ()
  (destructuring-bind (type dtype) (pick +array-types+)
    (let* ((rank (pick '(1 1 1 2 2 3 0)))
           (dims (loop repeat rank collect (if (one-in 8) 0 (1+ (rnd 4)))))
           (a (make-array dims :element-type type)))
      (dotimes (i (array-total-size a)) (setf (row-major-aref a i) (fzgen-element type)))
      (let ((source (format nil "numpy.array(~A, dtype='~A').reshape((~{~D,~}))" (py-nested a) dtype dims)))
        (if (and (= rank 1) (one-in 5))
            ;; not simple (adjustable): copied, comes back as a simple array
            (let ((b (make-array dims :element-type type :adjustable t)))
              (dotimes (i (array-total-size a)) (setf (row-major-aref b i) (row-major-aref a i)))
              (list b a source))
            (list a a source))))))

(defun fzgen-t-array ()
  "An array of element type T, rank 2: numpy gets the dtype its elements share."
  (let* ((dims (list (1+ (rnd 3)) (1+ (rnd 3))))
         (doubles (one-in 2))
         (type (if doubles 'double-float '(signed-byte 64)))
         (a (make-array dims))
         (e (make-array dims :element-type type)))
    (dotimes (i (array-total-size a))
      (let ((x (fzgen-element type)))
        (setf (row-major-aref a i) x (row-major-aref e i) x)))
    (list a e (format nil "numpy.array(~A, dtype='~A').reshape((~{~D,~}))" (py-nested e) (if doubles "float64" "int64") dims))))

(defun fzgen-keyword ()
  (let ((k (pick '(:foo :foo-bar :|MixedCase| :x1 :|lower|))))
    (list k (let ((name (symbol-name k))) (simple-string-of (if (notany #'lower-case-p name) (string-downcase name) name)))
          nil)))

(defun fzgen-scalar (&key (keywords t))
  (let ((k (rnd (if keywords 14 13))))
    (case k
      ((0 1) (let ((i (fzgen-integer))) (list i i (format nil "~D" i))))
      (2 (let* ((d (1+ (rnd (expt 2 (1+ (rnd 100))))))
                (n (* (if (one-in 2) 1 -1) (rnd (* 5 d))))
                (r (/ n d)))
           (list r r (if (integerp r) (format nil "~D" r) (format nil "fractions.Fraction(~D,~D)" (numerator r) (denominator r))))))
      ((3 4) (let ((d (fzgen-double))) (list d d (py-double d))))
      (5 (let ((s (fzgen-single))) (list s (to-double s) (py-double s))))
      (6 (let* ((re (if (one-in 3) (- (rnd 7) 3) (fzgen-double)))
                (im (if (realp re) (if (rationalp re) (1+ (rnd 5)) (fzgen-double))))
                (c (complex re im))
                (e (complex (to-double re) (to-double im))))
           (list c e (format nil "complex(~A,~A)" (py-double re) (py-double im)))))
      ((7 8) (let ((s (fzgen-string))) (list s (simple-string-of s) (py-string s))))
      (9 (let ((b (one-in 2))) (list b b (if b "True" "False"))))
      (10 (list +py-none+ +py-none+ "None"))
      (11 (let ((octets (loop repeat (rnd 20) collect (rnd 256))))
            (list (pybytes octets) (coerce octets '(simple-array (unsigned-byte 8) (*)))
                  (format nil "bytes([~{~D~^,~}])" octets))))
      (12 (let ((thing (make-fz-thing (rnd 1000)))) (list thing thing nil)))
      (t (fzgen-keyword)))))

(defun fzgen-value (depth &key (keywords t))
  "A random (lisp-value expected-back python-source) of nesting DEPTH at most."
  (if (or (<= depth 0) (one-in 3))
      (if (one-in 6) (if (one-in 4) (fzgen-t-array) (fzgen-array)) (fzgen-scalar :keywords keywords))
      (case (rnd 3)
        (0 (let ((items (loop repeat (1+ (rnd 4)) collect (fzgen-value (1- depth)))))
             (list (mapcar #'first items) (mapcar #'second items)
                   (and (every #'third items) (format nil "(~{~A,~})" (mapcar #'third items))))))
        (1 (let ((items (loop repeat (rnd 5) collect (fzgen-value (1- depth)))))
             (list (coerce (mapcar #'first items) 'vector) (coerce (mapcar #'second items) 'simple-vector)
                   (and (every #'third items) (format nil "[~{~A~^,~}]" (mapcar #'third items))))))
        (t (let ((h (make-hash-table :test #'equal)) (e (make-hash-table :test #'equal)) (parts '()) (ok t))
             (dotimes (i (rnd 5))
               (let ((key (if (one-in 2) (+ (* 1000 i) (rnd 1000)) (format nil "k~D~A" i (fzgen-string))))
                     (v (fzgen-value (1- depth))))
                 (setf (gethash key h) (first v)
                       (gethash (if (stringp key) (simple-string-of key) key) e) (second v))
                 (if (third v)
                     (push (format nil "~A: ~A" (if (stringp key) (py-string key) key) (third v)) parts)
                     (setf ok nil))))
             (list h e (and ok (format nil "{~{~A~^, ~}}" parts))))))))

(defun fz-equal (expected actual)
  "EXPECTED and ACTUAL are the same translated value: floats of the same type by their
bits (any NaN equals any NaN), strings as fresh (simple-array character), arrays of the
same element type and shape, hash tables EQUAL-keyed with the same entries, wrappers of
the same object."
  (cond ((typep expected 'double-float) (and (typep actual 'double-float) (same-double-p expected actual)))
        ((typep expected 'single-float)
         (and (typep actual 'single-float) (same-double-p (to-double expected) (to-double actual))))
        ((complexp expected)
         (and (complexp actual)
              (fz-equal (realpart expected) (realpart actual))
              (fz-equal (imagpart expected) (imagpart actual))))
        ((rationalp expected) (eql expected actual))
        ((stringp expected) (and (typep actual '(simple-array character (*))) (string= expected actual)))
        ((listp expected)
         (and (listp actual) (= (length expected) (length actual)) (every #'fz-equal expected actual)))
        ((typep expected 'simple-vector)
         (and (typep actual 'simple-vector) (= (length expected) (length actual))
              (every #'fz-equal expected actual)))
        ((arrayp expected)
         (and (arrayp actual) (typep actual 'simple-array)
              (equal (array-element-type expected) (array-element-type actual))
              (equal (array-dimensions expected) (array-dimensions actual))
              (loop for i below (array-total-size expected)
                    always (fz-equal (row-major-aref expected i) (row-major-aref actual i)))))
        ((hash-table-p expected)
         (and (hash-table-p actual) (eq (hash-table-test actual) 'equal)
              (= (hash-table-count expected) (hash-table-count actual))
              (loop for k being the hash-keys of expected using (hash-value v)
                    always (multiple-value-bind (w found) (gethash k actual)
                             (and found (fz-equal v w))))))
        ((pyobject-wrapper-p expected) (pyobject-wrapper-eq expected actual))
        (t (eq expected actual))))

(defun short (x &optional (n 300))
  (let ((s (handler-case (let ((*print-length* 8) (*print-level* 4) (*print-readably* nil))
                           (prin1-to-string x))
             (error () "#<unprintable>"))))
    (if (> (length s) n) (concatenate 'string (subseq s 0 n) "...") s)))

;;; ------------------------------------------------------------------------------------
;;; The Python side

(defparameter +fuzz-helpers+ "
import struct, fractions, math, sys
try:
    import numpy
except ImportError:
    numpy = None
def fz_f64(bits):
    return struct.unpack('<d', struct.pack('<Q', bits))[0]
def fz_str(cps):
    return ''.join(map(chr, cps))
def fz_ident(x):
    return x
def fz_same(a, b):
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        return (a != a and b != b) or struct.pack('<d', a) == struct.pack('<d', b)
    if isinstance(a, complex):
        return fz_same(a.real, b.real) and fz_same(a.imag, b.imag)
    if isinstance(a, (tuple, list)):
        return len(a) == len(b) and all(fz_same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        return len(a) == len(b) and all(k in b and fz_same(v, b[k]) for k, v in a.items())
    if numpy is not None and isinstance(a, numpy.ndarray):
        return a.dtype == b.dtype and a.shape == b.shape and fz_same(a.tolist(), b.tolist())
    return a == b
def fz_two(a, b):
    return [a, b]
def fz_sig(a, b=2, *args, c=3, **kw):
    return [a, b, list(args), c, kw]
class FzError(Exception):
    pass
class FzBadStr(Exception):
    def __str__(self):
        raise ValueError('no str for you')
fz_exceptions = [ValueError, TypeError, RuntimeError, ZeroDivisionError, OverflowError,
                 KeyError, KeyboardInterrupt, SystemExit, GeneratorExit, StopIteration,
                 FzError, FzBadStr, RecursionError, MemoryError]
def fz_raise(i, msg):
    raise fz_exceptions[i](msg)
def fz_raise_chained(msg):
    try:
        1/0
    except ZeroDivisionError as e:
        raise ValueError(msg) from e
def fz_call(f, *a, **k):
    return f(*a, **k)
def fz_call_catch(f, *a):
    try:
        return ['returned', f(*a)]
    except Exception as e:
        return ['raised', type(e).__name__]
def fz_call_twice(f, *a):
    f(*a)
    return f(*a)
def fz_print(s, end):
    print(s, end=end)
    return len(s)
fz_helpers_loaded = True
")

(defun ensure-fuzz-helpers ()
  (unless (ignore-errors (eq t (pyvalue "fz_helpers_loaded")))
    (raw-pyexec +fuzz-helpers+)))

(defparameter +exception-names+
  '("ValueError" "TypeError" "RuntimeError" "ZeroDivisionError" "OverflowError" "KeyError"
    "KeyboardInterrupt" "SystemExit" "GeneratorExit" "StopIteration" "__main__.FzError"
    "__main__.FzBadStr" "RecursionError" "MemoryError"))

;;; ------------------------------------------------------------------------------------
;;; Steps. Each returns NIL when all is well, else a string saying what went wrong.

(define-condition fz-condition (error) ((n :initarg :n :reader fz-condition-n)))
(define-condition fz-signal (condition) ((n :initarg :n :reader fz-signal-n)))

(defmacro expect (form expected &optional (what (format nil "~S" form)))
  "NIL when FORM's value is FZ-EQUAL to EXPECTED, else a description."
  (let ((v (gensym)) (e (gensym)))
    `(let ((,v ,form) (,e ,expected))
       (unless (fz-equal ,e ,v)
         (format nil "~A: expected ~A, got ~A; first difference ~A" ,what (short ,e) (short ,v)
                 (short (fz-diff ,e ,v)))))))

(defvar *fz-debug* (uiop:getenv "PYMODGEN_FUZZ_DEBUG")
  "When true, unexpected Lisp errors print their backtrace (for reading failures).")

(defmacro outcome (form)
  "(:value v) or (:pyerror type message condition) or (:error condition)."
  `(handler-case (handler-bind ((error (lambda (c)
                                         (when (and *fz-debug* (not (typep c 'pyerror)))
                                           (format *error-output* "~&~A~%" c)
                                           (uiop:print-backtrace :count 40 :stream *error-output*)))))
                   (list :value ,form))
     (pyerror (c) (list :pyerror (pyerror-type c) (pyerror-message c) c))
     (error (c) (list :error c))))

(defun step-roundtrip ()
  (let* ((v (fzgen-value 3 :keywords nil))
         (cell (%callable-cell "__main__" "fz_ident")))
    (destructuring-bind (value expected source) v
      (declare (ignore source))
      (case (rnd 4)
        (0 (expect (pycall "fz_ident" value) expected (format nil "fz_ident of ~A" (short value))))
        (1 (expect (%call-cell cell (list value) nil) expected (format nil "%call-cell fz_ident of ~A" (short value))))
        (2 (expect (with-python-gil (pycall "fz_ident" value)) expected
                   (format nil "fz_ident in with-python-gil of ~A" (short value))))
        (t (let ((r (pycall "fz_sig" value :b value)))
             (expect r (vector expected expected #() 3 (make-hash-table :test #'equal))
                     (format nil "fz_sig of ~A" (short value)))))))))

(defun step-to-python ()
  (destructuring-bind (value expected source) (fzgen-value 3 :keywords nil)
    (declare (ignore expected))
    (when source
      (let* ((py (outcome (with-remote-objects (raw-pyeval source))))
             (r (if (eq (first py) :value) (outcome (pycall "fz_same" value (second py))) py)))
        (unless (equal r '(:value t))
          (format nil "Lisp -> Python: fz_same(~A, ~A) gave ~A~:[ (evaluating the source)~;~]"
                  (short value) (short source 200) (short r) (eq (first py) :value)))))))

(defparameter +python-only-values+
  ;; (source expected): values only Python makes
  (list (list "()" (lambda () +py-empty-tuple+))
        (list "numpy.float32(1.5)" (constantly 1.5f0)) ; single-float, as py4cl2-cffi
        (list "numpy.int16(-3)" (constantly -3))
        (list "numpy.uint64(2**64-1)" (constantly (1- (expt 2 64))))
        (list "numpy.float64('nan')" (lambda () (bits-double #x7ff8000000000000)))
        (list "numpy.complex64(1+2j)" (constantly #C(1d0 2d0)))
        (list "numpy.array([True, False])" (constantly #(t nil)))
        (list "float('-inf')" (lambda () (bits-double #xfff0000000000000)))
        (list "-0.0" (constantly -0d0))
        (list "2**200" (constantly (expt 2 200)))
        (list "-(2**63)" (constantly (- (expt 2 63))))
        (list "fractions.Fraction(-7, 3)" (constantly -7/3))
        (list "'\\U0001F600\\x00\\u00e9'" (lambda () (simple-string-of (coerce (list (code-char #x1f600) (code-char 0) (code-char #xe9)) 'string))))
        (list "b''" (lambda () (make-array 0 :element-type '(unsigned-byte 8))))
        (list "{}" (lambda () (make-hash-table :test #'equal)))
        (list "[]" (constantly #()))
        (list "((),)" (lambda () (list +py-empty-tuple+)))))

(defun step-from-python ()
  (if (one-in 4)
      (destructuring-bind (source expected) (pick +python-only-values+)
        (expect (raw-pyeval source) (funcall expected) source))
      (destructuring-bind (value expected source) (fzgen-value 3)
        (declare (ignore value))
        (when source
          (if (one-in 5)
              (let ((r (outcome (with-remote-objects (raw-pyeval "{" source ", 1}")))))
                ;; a set (unhashable members are a TypeError): a wrapper or a pyerror
                (unless (or (and (eq (first r) :value) (pyobject-wrapper-p (second r)))
                            (and (eq (first r) :pyerror) (equal (second r) "TypeError")))
                  (format nil "a set from ~A gave ~A" (short source 200) (short r))))
              (expect (raw-pyeval source) expected (format nil "pyeval of ~A" (short source 200))))))))

(defun bind-python-call (params positional kwargs)
  "What Python's binding of POSITIONAL and KWARGS (alist of Python names) to fz_two
(PARAMS :two) or fz_sig (:sig) gives: (:value expected) or (:pyerror \"TypeError\")."
  (let ((bound (make-hash-table :test #'equal)) (extra-kw (make-hash-table :test #'equal)) (rest '()))
    (flet ((bad () (return-from bind-python-call '(:pyerror "TypeError"))))
      (ecase params
        (:two (when (> (length positional) 2) (bad))
         (loop for v in positional for n in '("a" "b") do (setf (gethash n bound) v))
         (loop for (n . v) in kwargs
               do (if (and (member n '("a" "b") :test #'string=) (not (nth-value 1 (gethash n bound))))
                      (setf (gethash n bound) v)
                      (bad)))
         (unless (= 2 (hash-table-count bound)) (bad))
         (list :value (vector (gethash "a" bound) (gethash "b" bound))))
        (:sig
         (loop for v in positional for i from 0
               do (if (< i 2) (setf (gethash (nth i '("a" "b")) bound) v) (push v rest)))
         (loop for (n . v) in kwargs
               do (cond ((member n '("a" "b") :test #'string=)
                         (when (nth-value 1 (gethash n bound)) (bad))
                         (setf (gethash n bound) v))
                        ((string= n "c") (setf (gethash n bound) v))
                        (t (setf (gethash n extra-kw) v))))
         (unless (nth-value 1 (gethash "a" bound)) (bad))
         (list :value (vector (gethash "a" bound) (gethash "b" bound 2) (coerce (reverse rest) 'simple-vector)
                              (gethash "c" bound 3) extra-kw)))))))

(defun step-call-shapes ()
  (let* ((params (pick '(:two :sig)))
         (npos (rnd 5))
         (positional (loop repeat npos collect (fzgen-value 1 :keywords nil)))
         (names (remove-duplicates (loop repeat (rnd 4) collect (pick '(:a :b :c :d :foo-bar :zz)))))
         (kws (loop for k in names collect (cons k (fzgen-value 1 :keywords nil))))
         (python-kws (loop for (k . v) in kws
                           collect (cons (substitute #\_ #\- (string-downcase (symbol-name k))) (second v))))
         (expected (bind-python-call params (mapcar #'second positional) python-kws))
         (fn (if (eq params :two) "fz_two" "fz_sig"))
         (via-cell (one-in 3))
         (r (outcome (if via-cell
                         (%call-cell (%callable-cell "__main__" fn) (mapcar #'first positional)
                                     (loop for (k . v) in kws
                                           append (list (substitute #\_ #\- (string-downcase (symbol-name k))) (first v))))
                         (apply #'pycall fn (append (mapcar #'first positional)
                                                    (loop for (k . v) in kws append (list k (first v)))))))))
    (unless (case (first expected)
              (:value (and (eq (first r) :value) (fz-equal (second expected) (second r))))
              (:pyerror (and (eq (first r) :pyerror) (equal (second r) (second expected)))))
      (format nil "~A~:[~; via %call-cell~] with ~D positional, keywords ~S: expected ~A, got ~A"
              fn via-cell npos names (short expected) (short r)))))

(defun step-odd-keywords ()
  ;; Odd keyword lists and other malformed shapes: any Lisp error or pyerror is fine, but
  ;; its report must print, without stack garbage (issue 10 item 6).
  (let* ((args (case (rnd 3)
                 (0 (list :a 1 :b))
                 (1 (list 1 2 :a))
                 (t (append (loop repeat (rnd 3) collect (rnd 100)) (list :x (rnd 5) :y)))))
         (fn (pick '("dict" "fz_sig" "fz_two")))
         (r (outcome (apply #'pycall fn args))))
    (let ((text (if (member (first r) '(:error :pyerror))
                    (handler-case (princ-to-string (car (last r))) (error (e) (format nil "unprintable: ~A" (type-of e))))
                    "")))
      (cond ((eq (first r) :value) (format nil "(pycall ~S~{ ~S~}) returned ~A instead of an error" fn args (short (second r))))
            ((or (search "unknown immediate" text) (search "unprintable" text)
                 (not (search (prin1-to-string (car (last args))) text)))
             (format nil "(pycall ~S~{ ~S~}) reported ~S" fn args text))))))

(defun step-python-raises ()
  (let* ((i (rnd (length +exception-names+)))
         (msg (remove (code-char 0) (simple-string-of (fzgen-string))))
         (chained (one-in 6))
         (r (outcome (if chained (pycall "fz_raise_chained" msg) (pycall "fz_raise" i msg))))
         (type (if chained "ValueError" (nth i +exception-names+)))
         (message (cond ((string= type "KeyError") (pycall "repr" msg))
                        ((string= type "__main__.FzBadStr") nil)
                        (t msg))))
    (unless (and (eq (first r) :pyerror)
                 (equal (second r) type)
                 (or (null message) (string= (third r) message))
                 (search (if chained "fz_raise_chained" "fz_raise") (pyerror-traceback (fourth r))))
      (format nil "~:[fz_raise ~D~;fz_raise_chained~*~] ~A: got ~A" chained i (short msg 80) (short r)))))

(defun step-callback-value ()
  (let* ((args (loop repeat (rnd 4) collect (fzgen-value 2 :keywords nil)))
         (ret (fzgen-value 2))
         (seen :never-called)
         (f (lambda (&rest got) (setf seen got) (first ret)))
         (kw (one-in 3))
         (r (outcome (if kw
                         (apply #'pycall "fz_call" f (append (mapcar #'first args) (list :kw-arg (first ret))))
                         (apply #'pycall (pick '("fz_call" "fz_call_twice")) f (mapcar #'first args))))))
    (or (unless (and (eq (first r) :value) (fz-equal (second ret) (second r)))
          (format nil "callback returning ~A gave ~A" (short (first ret)) (short r)))
        (unless (fz-equal (append (mapcar #'second args) (when kw (list :kw-arg (second ret)))) seen)
          (format nil "callback got ~A for arguments ~A" (short seen) (short (mapcar #'first args)))))))

(defun step-callback-error ()
  (let ((n (rnd 1000)))
    (case (rnd 5)
      (0 (let ((r (handler-case (pycall "fz_call" (lambda () (error 'fz-condition :n n)))
                    (fz-condition (c) (list :caught (fz-condition-n c))))))
           (unless (equal r (list :caught n)) (format nil "Lisp error in a callback came out as ~A" (short r)))))
      (1 (let ((r (pycall "fz_call_catch" (lambda () (error "boom ~D" n)))))
           (unless (fz-equal #("raised" "RuntimeError") r) (format nil "Python catching a Lisp error saw ~A" (short r)))))
      (2 (let ((r (handler-case (pycall "fz_call" (lambda () (/ n (length ""))))
                    (division-by-zero () :division-by-zero))))
           (unless (eq r :division-by-zero) (format nil "(/ n 0) in a callback gave ~A" (short r)))))
      (3 (let ((r (handler-bind ((warning #'muffle-warning))
                    (pycall "fz_call" (lambda () (warn "fuzz warning ~D" n) n)))))
           (unless (eql r n) (format nil "a muffled warning in a callback gave ~A" (short r)))))
      (t (let* ((seen nil)
                (r (handler-bind ((fz-signal (lambda (c) (setf seen (fz-signal-n c)))))
                     ;; the handler runs inside the callback and declines: no unwind
                     (pycall "fz_call" (lambda () (signal 'fz-signal :n n) (1+ n))))))
           (unless (and (eql r (1+ n)) (eql seen n))
             (format nil "a declined signal in a callback gave ~A (handler saw ~A)" (short r) seen)))))))

(defun step-callback-python-error ()
  (let ((i (rnd 10)) (msg (format nil "inner ~D" (rnd 1000))))
    (if (one-in 2)
        (let ((r (outcome (pycall "fz_call" (lambda () (pycall "fz_raise" i msg))))))
          (unless (and (eq (first r) :pyerror) (equal (second r) (nth i +exception-names+)))
            (format nil "a pyerror ~A escaping a callback came out as ~A" (nth i +exception-names+) (short r))))
        (let ((r (pycall "fz_call" (lambda () (handler-case (pycall "fz_raise" i msg)
                                                 (pyerror (c) (pyerror-type c)))))))
          (unless (equal r (nth i +exception-names+))
            (format nil "a pyerror handled inside a callback gave ~A" (short r)))))))

(defun step-callback-recurse (&optional (depth (1+ (rnd 30))))
  (labels ((rec (n) (if (zerop n) 0 (1+ (pycall "fz_call" #'rec (1- n))))))
    (let ((r (outcome (rec depth))))
      (unless (equal r (list :value depth))
        (format nil "Lisp -> Python -> Lisp recursion of depth ~D gave ~A" depth (short r))))))

(defun step-deep-recursion ()
  ;; issue 10 item 3: deep recursion ends in a RecursionError with its message
  (labels ((rec (n) (if (zerop n) 0 (1+ (pycall "fz_call" #'rec (1- n))))))
    (let* ((depth (+ 1500 (rnd 3000)))
           (r (outcome (rec depth))))
      (unless (or (equal r (list :value depth))
                  (and (eq (first r) :pyerror) (equal (second r) "RecursionError") (plusp (length (third r))))
                  ;; the Lisp control stack may be exhausted first: a Lisp error, not a fault
                  (and (eq (first r) :error) (typep (second r) 'storage-condition)))
        (format nil "recursion of depth ~D gave ~A" depth (short r))))))

(defun step-callback-unwind ()
  ;; issue 10 item 2: every unwind out of a callback through Python frames
  (let ((n (rnd 1000)) (fn (pick '("fz_call" "fz_call_catch" "fz_call_twice"))))
    (case (rnd 4)
      (0 (let ((r (catch 'fz-tag (pycall fn (lambda () (throw 'fz-tag (list :thrown n)))) :not-thrown)))
           (unless (equal r (list :thrown n)) (format nil "throw out of ~A gave ~A" fn (short r)))))
      (1 (let ((r (block out (pycall fn (lambda () (return-from out (list :returned n)))) :not-returned)))
           (unless (equal r (list :returned n)) (format nil "return-from out of ~A gave ~A" fn (short r)))))
      (2 (let ((r (handler-case (pycall fn (lambda () (signal 'fz-signal :n n) :no-handler))
                    (fz-signal (c) (list :signalled (fz-signal-n c))))))
           (unless (equal r (list :signalled n)) (format nil "handler-case of a signal out of ~A gave ~A" fn (short r)))))
      (t (let ((r (catch 'fz-tag
                    ;; two Python frames between the throw and the catch
                    (pycall "fz_call" (lambda () (pycall fn (lambda () (throw 'fz-tag (list :thrown2 n)))))))))
           (unless (equal r (list :thrown2 n)) (format nil "throw through two Python calls gave ~A" (short r))))))))

(defparameter +float-env-cases+
  ;; (code expected): expected is a double's bits, or a pyerror type
  '(("1e300*1e300" #x7ff0000000000000) ("-1e300*1e300" #xfff0000000000000)
    ("float('inf')-float('inf')" :nan) ("1e-300*1e-300" 0) ("math.exp(-1000)" 0)
    ("math.exp(1000)" "OverflowError") ("1/0" "ZeroDivisionError") ("1.0/0" "ZeroDivisionError")
    ("float(numpy.exp(1000.0))" #x7ff0000000000000) ("float(numpy.float64(1.0)/0.0)" #x7ff0000000000000)
    ("float(numpy.sqrt(-1.0))" :nan) ("float(numpy.float64(1e-300)*1e-300)" 0)
    ("math.fsum([1e308, 1e308])" "OverflowError") ("2.0**-1080" 0)))

(defvar *fz-zero* 0d0 "A zero the compiler cannot fold.")

(defun step-float-env ()
  ;; issue 10 item 1: Python computes in its own float environment; Lisp keeps its own
  (if (one-in 4)
      ;; inside a callback the Lisp modes are back: Lisp's own traps signal there
      (let ((r (outcome (pycall "fz_call" (lambda () (/ 1d0 *fz-zero*)))))
            (traps (%float-traps)))
        (unless (if (member :divide-by-zero traps)
                    (and (eq (first r) :error) (typep (second r) 'division-by-zero))
                    (eq (first r) :value))
          (format nil "(/ 1d0 0d0) in a callback with traps ~S gave ~A" traps (short r))))
      (destructuring-bind (code expected) (pick +float-env-cases+)
        (let ((r (outcome (raw-pyeval code))))
          (unless (cond ((stringp expected) (and (eq (first r) :pyerror) (equal (second r) expected)))
                        ((eq expected :nan) (and (eq (first r) :value) (floatp (second r)) (nan-bits-p (double-bits (second r)))))
                        (t (and (eq (first r) :value) (floatp (second r)) (= (double-bits (second r)) expected))))
            (format nil "~A gave ~A" code (short r)))))))

(defun step-output ()
  (let* ((s (remove (code-char 0) (simple-string-of (fzgen-string))))
         (end (pick (list "" (string #\Newline) "|")))
         (out (with-python-output (pycall "fz_print" s end))))
    (unless (equal out (concatenate 'string s end))
      (format nil "print of ~A captured ~A" (short s) (short out)))))

(defun step-wrappers ()
  ;; wrappers made and dropped in bulk, GC'd and flushed while others are alive
  (let* ((keep (with-remote-objects (raw-pyeval "[1, 2, 3]")))
         (n (+ 10 (rnd 500))))
    (dotimes (i n) (with-remote-objects (pycall "fz_ident" (list i "x"))))
    (when (one-in 2) (tg:gc :full (one-in 2)))
    (pymodgen::pmg-flush)
    (let ((r (pycall "len" keep)))
      (unless (eql r 3) (format nil "a wrapper kept over ~D dropped ones: len gave ~A" n (short r))))))

(defun step-restart ()
  ;; pystop/pystart with a wrapper and a cell from the earlier session: the wrapper either
  ;; still works or is a clear error, the cell re-resolves
  (let ((w (with-remote-objects (raw-pyeval "[1, 2, 3]")))
        (cell (%callable-cell "math" "factorial")))
    (%call-cell cell '(3) nil)
    (pystop)
    (pystart)
    (ensure-fuzz-helpers)
    (let ((r (outcome (pycall "len" w))))
      (or (unless (or (equal r '(:value 3)) (member (first r) '(:pyerror :error)))
            (format nil "a wrapper from before pystop gave ~A" (short r)))
          (unless (eql 24 (%call-cell cell '(4) nil)) "a cell from before pystop")))))

(defun step-threads (seed case classes)
  (let* ((k (+ 2 (rnd 3)))
         (non-finite *fz-non-finite*)
         (threads (loop for th from 1 to k
                        collect (let ((th th))
                                  (bt:make-thread
                                   (lambda ()
                                     (let ((*rs* (fuzz-random-state seed case th))
                                           (*fz-non-finite* non-finite))
                                       (loop for i below (+ 1 (rnd 6))
                                             for class = (pick classes)
                                             for failure = (run-step class seed case)
                                             when failure return (format nil "thread ~D, ~(~A~): ~A" th class failure))))
                                   :name (format nil "fuzz ~D/~D thread ~D" seed case th)))))
         (results (mapcar (lambda (th) (join-with-timeout th 120)) threads)))
    (let ((bad (remove nil results)))
      (when bad (format nil "~{~A~^; ~}" (substitute "a thread hung (120 s)" :timeout bad))))))

;;; Circular and shared structure; wrong argument types to each runtime entry

(defun fzgen-container (items)
  "A fresh list, vector or hash table (EQUAL) holding ITEMS."
  (case (rnd 3)
    (0 (copy-list items))
    (1 (coerce items 'vector))
    (t (let ((h (make-hash-table :test #'equal)))
         (loop for x in items for i from 0 do (setf (gethash (format nil "k~D" i) h) x))
         h))))

(defun fz-container-set (container item)
  "Puts ITEM into CONTAINER (replacing an element, or as a new value)."
  (etypecase container
    (cons (setf (nth (rnd (length container)) container) item))
    (vector (if (plusp (length container))
                (setf (aref container (rnd (length container))) item)
                (return-from fz-container-set nil)))
    (hash-table (setf (gethash (format nil "c~D" (rnd 100)) container) item)))
  t)

(defun fzgen-circular ()
  "A container that contains itself: a cdr-circular list, or a path of 1-4 random
containers whose last holds the first; maybe inside further acyclic containers."
  (let ((c (if (one-in 3)
               (let ((l (loop repeat (1+ (rnd 4)) collect (first (fzgen-value 1 :keywords nil)))))
                 (setf (cdr (last l)) l)
                 l)
               (let* ((path (loop repeat (1+ (rnd 4))
                                  collect (fzgen-container
                                           (loop repeat (1+ (rnd 3))
                                                 collect (first (fzgen-value 1 :keywords nil)))))))
                 ;; link each to the next, the last to the first
                 (loop for (a b) on (append path (list (first path))) while b
                       do (fz-container-set a b))
                 (first path)))))
    (loop repeat (rnd 3)
          do (setf c (fzgen-container (list* c (loop repeat (rnd 3)
                                                     collect (first (fzgen-value 1 :keywords nil)))))))
    c))

(defun circular-outcome-problem (r what)
  "NIL when R (an OUTCOME) is a CIRCULAR-STRUCTURE-ERROR whose report prints (without
*PRINT-CIRCLE*) and says what it found, else a description."
  (let ((c (car (last r))))
    (cond ((not (and (eq (first r) :error) (typep c 'circular-structure-error)))
           (format nil "~A: expected a circular-structure-error, got ~A" what (short r)))
          (t (let ((text (let ((*print-circle* nil) (*print-length* nil) (*print-level* nil))
                           (princ-to-string c))))
               (unless (and (search "cannot convert" text)
                            (or (search "contains itself" text) (search "is circular" text))
                            (< (length text) 400))
                 (format nil "~A: the report ~S" what (short text))))))))

(defun step-circular ()
  (ensure-fuzz-helpers)
  (if (one-in 3)
      ;; shared, acyclic: one Python object for each shared container, and a 2^k-path DAG
      (let* ((shared (fzgen-container (loop repeat (1+ (rnd 3))
                                            collect (first (fzgen-value 1 :keywords nil)))))
             (n (+ 2 (rnd 3)))
             (outer (fzgen-container (loop repeat n collect shared)))
             (dag (let ((x (fzgen-container (list shared))))
                    (dotimes (i (+ 20 (rnd 30)) x) (setf x (list x x)))))
             (r (outcome (pycall "lambda o, d: (len(set(map(id, (o.values() if isinstance(o, dict) else o)))), d[0] is d[1])"
                                 outer dag))))
        (unless (and (eq (first r) :value) (equalp (second r) '(1 t)))
          (format nil "shared ~A in ~A: expected (1 T), got ~A" (short shared) (type-of outer) (short r))))
      (let* ((c (fzgen-circular))
             (entry (rnd 7))
             (r (outcome (ecase entry
                           (0 (pycall "fz_ident" c))
                           (1 (pycall "fz_sig" 1 :c c))
                           (2 (%call-cell (%callable-cell "__main__" "fz_ident") (list c) nil))
                           (3 (setf (pyvalue "fz_cyc") c))
                           (4 (pyeval "fz_ident(" c ")"))
                           (5 (with-pythonizers ((vector "tuple")) (pycall "fz_ident" c)))
                           ;; returned by a Lisp callback: the condition comes back out
                           (6 (pycall "fz_call" (lambda () c)))))))
        (circular-outcome-problem r (format nil "entry ~D" entry)))))

(defparameter +fz-entries+
  ;; (name accepts-p thunk-maker): (funcall thunk-maker wrong) calls the entry with WRONG in
  ;; the argument ACCEPTS-P judges
  (list (list "pycall" (lambda (x) (typep x '(or string symbol pyobject-wrapper function)))
              (lambda (x) (lambda () (pycall x 1))))
        (list "pyvalue" (lambda (x) (typep x '(or string symbol pyobject-wrapper)))
              (lambda (x) (lambda () (pyvalue x))))
        (list "(setf pyvalue)" (lambda (x) (typep x '(or string symbol)))
              (lambda (x) (lambda () (setf (pyvalue x) 1))))
        (list "pyslot-value" (lambda (x) (typep x '(or string symbol)))
              (lambda (x) (lambda () (pyslot-value "abc" x))))
        (list "pymethod" (lambda (x) (typep x '(or string symbol)))
              (lambda (x) (lambda () (pymethod "abc" x))))
        (list "raw-pyeval" #'stringp (lambda (x) (lambda () (raw-pyeval "1 + " x))))
        (list "raw-pyexec" #'stringp (lambda (x) (lambda () (raw-pyexec x))))
        (list "import-module" #'stringp (lambda (x) (lambda () (import-module x))))
        (list "import-function" #'stringp (lambda (x) (lambda () (import-function "sqrt" x))))
        (list "export-function" (lambda (x) (typep x '(or string symbol)))
              (lambda (x) (lambda () (export-function #'identity x))))
        (list "pygenerator" (lambda (x) (or (functionp x) (and (symbolp x) x (fboundp x))))
              (lambda (x) (lambda () (pygenerator x nil))))
        (list "python-object-type" #'pyobject-wrapper-p (lambda (x) (lambda () (python-object-type x))))
        (list "pybytes" (lambda (x) (and (typep x 'sequence)
                                         (or (not (listp x)) (pymodgen::list-length-or-shape x))
                                         (every (lambda (e) (typep e '(unsigned-byte 8))) x)))
              (lambda (x) (lambda () (pybytes x))))
        (list "defpymodule" #'stringp (lambda (x) (lambda () (macroexpand-1 `(defpymodule ,x)))))
        (list "defpyfun" (lambda (x) (typep x '(or null string)))
              (lambda (x) (lambda () (macroexpand-1 `(defpyfun "sqrt" ,x)))))))

(defun fzgen-wrong-value ()
  (case (rnd 4)
    (0 (first (fzgen-value 2 :keywords nil)))
    (1 (fzgen-circular))
    (t (pick (list 42 -1 (expt 2 100) 1.5d0 2.5f0 2/3 #C(1 2) #\a (list 1 2) (cons 1 2)
                   (vector 1 2) (make-hash-table) (make-fz-thing 7) (make-array '(2 2))
                   (list "str") (vector "str") (find-package "CL") #p"/tmp/x")))))

(defun step-wrong-types ()
  (destructuring-bind (name accepts-p thunk-maker) (pick +fz-entries+)
    (let ((wrong (loop for x = (fzgen-wrong-value) unless (funcall accepts-p x) return x)))
      (let* ((r (outcome (funcall (funcall thunk-maker wrong))))
             (c (car (last r)))
             (text (and (eq (first r) :error)
                        (let ((*print-circle* nil))
                          (handler-case (princ-to-string c) (error (e) (format nil "unprintable: ~A" e)))))))
        (unless (and (typep c 'pymodgen-type-error)
                     (search (format nil "pymodgen: ~A: " name) text)
                     (< (length text) 600))
          (format nil "~A given ~A: expected a pymodgen-type-error naming it, got ~A~@[ ~S~]"
                  name (short wrong) (short r) text))))))

;; (not :output: sys.stdout is process-wide, so captures from concurrent threads mix, as
;; WITH-PYTHON-OUTPUT says)
(defparameter +thread-safe-classes+
  '(:roundtrip :to-python :from-python :call-shapes :python-raises :callback-value
    :callback-error :callback-python-error :callback-recurse :wrappers
    :odd-keywords :callback-unwind :float-env :circular :wrong-types))

(defun run-step (class seed case &optional classes)
  "Runs one step of CLASS; NIL or a failure description (unexpected conditions included)."
  (handler-case
      (ecase class
        (:roundtrip (step-roundtrip))
        (:to-python (step-to-python))
        (:from-python (step-from-python))
        (:call-shapes (step-call-shapes))
        (:odd-keywords (step-odd-keywords))
        (:python-raises (step-python-raises))
        (:callback-value (step-callback-value))
        (:callback-error (step-callback-error))
        (:callback-python-error (step-callback-python-error))
        (:callback-recurse (step-callback-recurse))
        (:callback-unwind (step-callback-unwind))
        (:deep-recursion (step-deep-recursion))
        (:float-env (step-float-env))
        (:output (step-output))
        (:wrappers (step-wrappers))
        (:restart (step-restart))
        (:circular (step-circular))
        (:wrong-types (step-wrong-types))
        (:threads (step-threads seed case (or (intersection classes +thread-safe-classes+) '(:roundtrip)))))
    (serious-condition (c)
      (format nil "unexpected ~S: ~A" (type-of c)
              (handler-case (short (princ-to-string c) 500) (error () "(unprintable)"))))))

(defun health-check (modes)
  "NIL when the image still works: str(42), the GIL not held, the Lisp float traps
(MODES) as before the case."
  (handler-case
      (cond ((not (equal "42" (pycall "str" 42))) "(pycall \"str\" 42) is wrong")
            ((/= 0 (pymodgen::pmg-gil-held)) "the GIL is still held after the case")
            ((not (equal modes (%float-traps)))
             (format nil "the Lisp float traps changed from ~S to ~S" modes (%float-traps))))
    (serious-condition (c) (format nil "health check: ~S ~A" (type-of c) (short (princ-to-string c) 300)))))

(defun fuzz-case (seed case &key (classes (fuzz-default-classes)))
  "Runs case CASE of SEED: 1-4 steps of random CLASSES, GC forced between some, then the
health check. Returns NIL or a failure description naming (seed, case)."
  (let* ((*rs* (fuzz-random-state seed case))
         (*fz-non-finite* (and (member :float-env classes) t))
         (modes (%float-traps))
         (nsteps (1+ (rnd 4)))
         (failure nil) (done '()))
    (ensure-fuzz-helpers)
    (loop for i below nsteps
          for class = (pick (if (member :restart classes)
                                ;; restarts are rare: one case in ~30
                                (if (one-in 30) '(:restart) (or (remove :restart classes) classes))
                                classes))
          do (push class done)
             (setf failure (run-step class seed case classes))
             (when failure (return))
             (case (rnd 4)
               (0 (tg:gc))
               (1 (tg:gc :full t) (pymodgen::pmg-flush))))
    (let ((health (health-check modes)))
      (when (or failure health)
        (format nil "seed ~D case ~D (steps ~{~(~A~)~^ ~}): ~A~@[; then ~A~]"
                seed case (reverse done) (or failure "") health)))))

(defun fuzz-batch (seed start end &key (classes (fuzz-default-classes)) (stream *standard-output*))
  "Runs cases START below END of SEED, printing `CASE n ok` or `CASE n FAIL text` (one
line each, flushed before the next case starts: scripts/lisp-fuzz reads them). Returns
the failures."
  (pystart)
  (format stream "~&BATCH seed ~D cases ~D-~D classes ~{~(~A~)~^,~}~%" seed start (1- end) classes)
  (finish-output stream)
  (loop for case from start below end
        for failure = (progn (format stream "~&START ~D~%" case) (finish-output stream)
                             (fuzz-case seed case :classes classes))
        do (format stream "~&CASE ~D ~:[ok~;FAIL ~:*~A~]~%" case
                   (and failure (substitute #\Space #\Newline failure)))
           (finish-output stream)
        when failure collect failure
        finally (format stream "BATCH DONE~%") (finish-output stream)))

;;; ------------------------------------------------------------------------------------
;;; The default-size run of the test command

(defconstant +fuzz-default-cases+ 100)

(defun fuzz-seed ()
  "PYMODGEN_FUZZ_SEED, else 1 (the test command is deterministic)."
  (let ((env (uiop:getenv "PYMODGEN_FUZZ_SEED")))
    (or (and env (parse-integer env :junk-allowed t)) 1)))

(test fuzz-default-size
  (let* ((seed (fuzz-seed))
         (n (or (let ((env (uiop:getenv "PYMODGEN_FUZZ_CASES"))) (and env (parse-integer env :junk-allowed t)))
                +fuzz-default-cases+))
         (classes (fuzz-default-classes)))
    (dotimes (case n)
      (let ((failure (fuzz-case seed case :classes classes)))
        (is (null failure) "~A" failure)))))

(test fuzz-generators-cover-every-translated-type
  ;; The generator reaches every Lisp type of the translation table (so the default size
  ;; exercises them all).
  (let ((*rs* (fuzz-random-state 1 0)) (seen (make-hash-table :test #'equal)))
    (labels ((note (x)
               (setf (gethash (typecase x
                                (fixnum :fixnum) (integer :bignum) (ratio :ratio) (single-float :single)
                                (double-float :double) (complex :complex) (base-string :base-string)
                                (string :string) ((member t nil) :boolean) (keyword :keyword)
                                (cons :list) (simple-vector :vector)
                                ((and array (not vector)) :array-rank-not-1)
                                (vector :specialized-vector)
                                (hash-table :hash-table) (fz-thing :lisp-object) (pyobject-wrapper :wrapper)
                                (t (type-of x)))
                              seen)
                     t)
               (typecase x
                 (cons (mapc #'note x))
                 (simple-vector (map nil #'note x))
                 (hash-table (maphash (lambda (k v) (declare (ignore k)) (note v)) x)))))
      (dotimes (i 3000) (note (first (fzgen-value 3)))))
    (dolist (k '(:fixnum :bignum :ratio :single :double :complex :base-string :string :boolean :keyword
                 :list :vector :specialized-vector :array-rank-not-1 :hash-table :lisp-object :wrapper))
      (is (gethash k seen) "the generator never made a ~(~A~)" k))))

(defun fz-diff (expected actual &optional (path '()))
  "The path (list of indices/keys) to the first place where ACTUAL differs from
EXPECTED, with both values there; NIL when they are FZ-EQUAL. For reading failures."
  (cond ((fz-equal expected actual) nil)
        ((and (consp expected) (listp actual) (= (length expected) (length actual)))
         (loop for e in expected for a in actual for i from 0
               thereis (fz-diff e a (cons i path))))
        ((and (typep expected 'simple-vector) (typep actual 'simple-vector) (= (length expected) (length actual)))
         (loop for e across expected for a across actual for i from 0
               thereis (fz-diff e a (cons i path))))
        ((and (hash-table-p expected) (hash-table-p actual) (= (hash-table-count expected) (hash-table-count actual)))
         (loop for k being the hash-keys of expected using (hash-value v)
               thereis (multiple-value-bind (w found) (gethash k actual)
                         (if found (fz-diff v w (cons k path)) (list (reverse (cons k path)) :missing-key)))))
        (t (list (reverse path) expected actual))))

;;; ------------------------------------------------------------------------------------
;;; The second configuration of the test command: SBCL with every float trap enabled

(defparameter +all-float-traps+ '(:overflow :invalid :divide-by-zero :underflow)
  "Every float trap SBCL itself survives. (:inexact is not one: SBCL's own reader and
printer, and most of its float code, compute inexact results, e.g. (/ 1d0 3d0).)")

(test float-traps-configuration
  ;; In the trapping run (scripts/lisp-test's second SBCL) every trap is on, in new
  ;; threads too; in the default run SBCL's defaults are.
  (let ((traps (%float-traps))
        (thread-traps (bt:join-thread
                       (bt:make-thread (lambda () (%float-traps))))))
    (if (uiop:getenv "PYMODGEN_TEST_FLOAT_TRAPS")
        (is (null (set-exclusive-or traps +all-float-traps+)) "traps ~S" traps)
        (is (subsetp '(:overflow :invalid :divide-by-zero) traps) "traps ~S" traps))
    (is (null (set-exclusive-or traps thread-traps)) "a new thread has traps ~S" thread-traps)
    ;; underflow and overflow in Python, under any of them, stay Python's
    (is (eql 0d0 (pycall "math.exp" -1000)))
    (is (eql 0d0 (raw-pyeval "1e-300 * 1e-300")))
    (is (eql +double-float-positive-infinity+ (raw-pyeval "1e300 * 1e300")))
    (is (equal traps (%float-traps)))))

(defparameter *float-traps-skipped-tests*
  '(;; FUZZ-FINDINGS F5: fails in this run only (2 of 2 full runs, 0 of 4 isolated ones):
    ;; the child SBCL is still alive 10 s after SIGTERM. Not about floats.
    interrupt-sigterm-ends-long-call)
  "Tests left out of the trapping run, each with a comment naming its finding.")

(defun run-tests-with-float-traps (&key (skip '(stress)) (skip-tests *float-traps-skipped-tests*))
  "The runner of the trapping configuration: enables +ALL-FLOAT-TRAPS+ (in this thread and,
as SBCL copies them, in the threads it makes), then runs every runtime suite but SKIP (the
volume tests of STRESS are not about floats), and in them every test but SKIP-TESTS.
Prints `N passed, N failed` last; T when nothing failed."
  (%set-float-traps +all-float-traps+)
  (pystart)
  (let* ((suites (remove-if (lambda (s) (member s skip))
                            '(readme types errors arrays stress generated robustness fuzz)))
         (results (let ((*print-pretty* t))
                    (loop for s in suites
                          for suite = (fiveam::get-test s)
                          for names = (and suite (loop for k being the hash-keys of (fiveam::tests suite) collect k))
                          when suite
                            append (if (intersection names skip-tests)
                                       (loop for name in names
                                             unless (member name skip-tests) append (run name))
                                       (run s)))))
         (passed (count-if (lambda (r) (typep r 'it.bese.fiveam::test-passed)) results))
         (failed (count-if (lambda (r) (typep r 'it.bese.fiveam::test-failure)) results)))
    (explain! results)
    (finish-output)
    (format t "~&~D passed, ~D failed~%" passed failed)
    (finish-output)
    (and (zerop failed) (plusp passed))))
