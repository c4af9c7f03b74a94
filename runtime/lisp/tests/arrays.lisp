;;;; tests/arrays.lisp -- specialized Lisp arrays <-> numpy (shared memory one way, one
;;;; memcpy the other).

(in-package #:pymodgen-tests)

(def-suite arrays :in pymodgen)
(in-suite arrays)

(defparameter *element-types*
  '(double-float single-float
    (signed-byte 8) (signed-byte 16) (signed-byte 32) (signed-byte 64)
    (unsigned-byte 8) (unsigned-byte 16) (unsigned-byte 32) (unsigned-byte 64)
    (complex double-float) (complex single-float)))

(defun sample-array (et dims)
  (let ((a (make-array dims :element-type et)))
    (dotimes (i (array-total-size a) a)
      (setf (row-major-aref a i)
            (cond ((subtypep et 'float) (coerce (/ i 4) et))
                  ((subtypep et 'complex) (coerce (complex i (- i)) et))
                  ((and (subtypep et '(signed-byte 64)) (not (subtypep et '(unsigned-byte 64))))
                   (- (mod (* i 37) 100) 50))
                  (t (mod (* i 37) 200)))))))

(test every-element-type-and-rank-round-trips
  (dolist (et *element-types*)
    (dolist (dims '((7) (2 3) (2 3 4) (1 1 1 2)))
      (let* ((a (sample-array et dims))
             (c (pycall "numpy.copy" a)))
        (is (not (eq a c)))
        (is (equal (array-element-type a) (array-element-type c)) "~A ~A" et dims)
        (is (equal dims (array-dimensions c)))
        (is (equalp a c) "contents ~A ~A" et dims)))))

(test dtype-names
  (is (equal "float64" (pycall "str" (pyslot-value (with-remote-objects (pycall "numpy.asarray" (make-array 2 :element-type 'double-float))) "dtype"))))
  (loop for (et name) in '((single-float "float32") ((signed-byte 8) "int8") ((unsigned-byte 16) "uint16")
                           ((signed-byte 64) "int64") ((complex double-float) "complex128"))
        do (is (equal name (pyeval "str(" (with-remote-objects (pycall "numpy.copy" (make-array 2 :element-type et))) ".dtype)")))))

(test vectors-by-reference-in-one-call
  ;; the fast path: a specialized vector among immediate arguments goes into the one foreign
  ;; call as ARG_ARRAY (numpy's C API makes the ndarray there); every element type, its dtype,
  ;; its values, writes by Python, the very array back (EQ), an empty one
  (loop for (et dtype) in '((double-float "float64") (single-float "float32")
                            ((signed-byte 64) "int64") ((signed-byte 32) "int32")
                            ((signed-byte 16) "int16") ((signed-byte 8) "int8")
                            ((unsigned-byte 64) "uint64") ((unsigned-byte 32) "uint32")
                            ((unsigned-byte 16) "uint16") ((unsigned-byte 8) "uint8")
                            ((complex double-float) "complex128") ((complex single-float) "complex64"))
        do (let ((a (make-array 3 :element-type et :initial-element (coerce 2 et))))
             (raw-pyexec "def describe(x): return '%s %d' % (x.dtype, x.sum())
def double_in_place(x, k):
    x *= k
    return x")
             (is (equal (format nil "~A 6" dtype) (pycall "describe" a)) "~S" et)
             (is (eq a (pycall "double_in_place" a 2)) "~S: the Lisp array itself back" et)
             (is (every (lambda (x) (= x 4)) a) "~S: written in place" et)))
  (let ((a (make-array 4 :element-type 'double-float :initial-contents '(1d0 2d0 3d0 4d0))))
    (is (= 10d0 (pycall "numpy.sum" a)))
    (is (= 10d0 (%call-cell (%callable-cell "numpy" "sum") (list a) nil)))
    (is (eq a (pycall "numpy.negative" a a)) "numpy's out= given positionally")
    (is (equalp #(-1d0 -2d0 -3d0 -4d0) a))
    (is (= -10d0 (with-python-gil (with-python-float-environment (pycall "numpy.sum" a))))))
  (is (eql 0 (pycall "len" (make-array 0 :element-type 'double-float))))
  (is (equal "(0,)" (pycall "str" (pyslot-value (with-remote-objects (pycall "numpy.asarray" (make-array 0 :element-type 'single-float))) "shape"))))
  ;; a view of the argument is a new array (a copy back); a result holding the argument too
  (let ((a (make-array 4 :element-type 'double-float :initial-element 1d0)))
    (let ((v (pyeval "lambda x: x[1:]")))
      (is (equalp #(1d0 1d0 1d0) (pycall v a)))
      (is (not (eq a (pycall v a)))))))

(test arrays-are-shared-not-copied
  (let ((a (sample-array 'double-float '(3 4))))
    (pycall "numpy.multiply" a 2d0 :out a)
    (is (= 5.5d0 (aref a 2 3)) "numpy wrote into the Lisp array")
    (is (eq a (pycall "numpy.asarray" a)) "the array Python returns is the Lisp array"))
  (let ((a (sample-array '(signed-byte 32) '(5))))
    (raw-pyexec "def bump(x): x += 1")
    (pycall "bump" a)
    (is (equalp #(-49 -12 25 -38 -1) a))))

(test arrays-among-other-arguments
  ;; every kind of argument the one-call path takes, an array among them; then the same with
  ;; an argument only the general path takes (a bignum, a keyword argument, a string with a
  ;; fill pointer, a 17th argument): the same conversions either way
  (raw-pyexec "def pmg_kinds(*a, **k): return repr([type(x).__name__ for x in a]) + repr(sorted(k))")
  (let* ((a (sample-array 'double-float '(2 3)))
         (w (with-remote-objects (pyeval "[1]")))
         (s (make-array 2 :element-type 'character :fill-pointer 1 :initial-contents "xy"))
         (args (list a 1 2d0 3f0 t nil (string (code-char 233)) (coerce "b" 'base-string) w))
         (kinds "'ndarray', 'int', 'float', 'float', 'bool', 'bool', 'str', 'str', 'list'"))
    (is (equal (format nil "[~A][]" kinds) (apply #'pycall "pmg_kinds" args)))
    (is (equal (format nil "[~A, 'int'][]" kinds) (apply #'pycall "pmg_kinds" (append args (list (expt 2 70))))))
    (is (equal (format nil "[~A]['x']" kinds) (apply #'pycall "pmg_kinds" (append args (list :x 1)))))
    (is (equal (format nil "[~A, 'str'][]" kinds) (apply #'pycall "pmg_kinds" (append args (list s)))))
    (is (equal "x" (pycall "str" s)) "a string with a fill pointer is read up to it")
    (is (equal (format nil "[~{'~A'~^, ~}][]" (make-list 17 :initial-element "ndarray"))
               (apply #'pycall "pmg_kinds" (make-list 17 :initial-element a))))
    (is (= 1.5d0 (pycall "float" (pycall "numpy.sum" (sample-array 'single-float '(4))))))))

(test numpy-to-lisp
  (let ((a (pyeval "__import__('numpy').arange(1000000, dtype='float64')")))
    (is (equal '(simple-array double-float (1000000)) (type-of a)))
    (is (= 999999d0 (aref a 999999))))
  (is (equalp #(t nil t) (pyeval "__import__('numpy').array([True, False, True])")))
  (is (equalp #(#C(1d0 2d0) #C(0d0 -1d0)) (pyeval "__import__('numpy').array([1+2j, -1j])")))
  (let ((a (pyeval "__import__('numpy').arange(12).reshape(3, 4).T")))
    (is (equal '(4 3) (array-dimensions a)) "non-contiguous views are copied contiguous")
    (is (= 9 (aref a 1 2))))
  (let ((a (pyeval "__import__('numpy').arange(6, dtype='int16')[::2]")))
    (is (equalp #(0 2 4) a))
    (is (equal (upgraded-array-element-type '(signed-byte 16)) (array-element-type a))))
  (is (equalp #("a" "b") (pyeval "__import__('numpy').array(['a', 'b'], dtype=object)")))
  (is (equalp #2A((1d0 2d0) (3d0 4d0)) (pyeval "__import__('numpy').array([[1.0, 2.0], [3.0, 4.0]])")))
  (is (= 5.0d0 (aref (pyeval "__import__('numpy').array(5.0)")))))

(test general-arrays-and-vectors
  (is (equalp #(1 2 3) (pycall "list" (vector 1 2 3))))
  (let ((r (pycall "numpy.asarray" (make-array '(2 2) :initial-contents '((1 "a") (2 "b"))))))
    (is (equal '(2 2) (array-dimensions r)))
    (is (equal "b" (aref r 1 1))))
  (let ((v (make-array 3 :element-type 'double-float :adjustable t :initial-contents '(1d0 2d0 3d0))))
    (is (= 6d0 (pycall "numpy.sum" v)) "non-simple arrays are copied")))

(test sum-of-a-large-array
  (let ((a (make-array 1000000 :element-type 'double-float :initial-element 0.5d0)))
    (is (= 500000d0 (pycall "numpy.sum" a)))))

(def-test general-arrays-get-the-dtype-their-elements-share (:suite arrays)
  ;; A literal #2A is an array of element type T: its elements decide the dtype.
  (flet ((dtype (a) (pyeval "str(" (with-remote-objects (pycall "numpy.asarray" a)) ".dtype)")))
    (is (equal "float64" (dtype #2A((1d0 2d0) (3d0 4d0)))))
    (is (equal "int64" (dtype #2A((1 2) (3 4)))))
    (is (equal "float32" (dtype #2A((1f0 2f0) (3f0 4f0)))))
    (is (equal "object" (dtype #2A((1 "two") (3d0 4)))))
    (is (equal "object" (dtype #2A((1 #.(expt 2 70)) (3 4))))))
  (is (< (abs (+ 2d0 (pycall "numpy.linalg.det" #2A((1d0 2d0) (3d0 4d0))))) 1d-9)))
