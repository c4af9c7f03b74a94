;;;; tests/readme.lisp -- the examples of the py4cl2-cffi README (our API spec), verbatim
;;;; where they do not depend on libraries we do not have (array-operations, magicl).

(in-package #:pymodgen-tests)

(def-suite readme :in pymodgen)
(in-suite readme)

(defun pyprint (object)
  (pycall "print" object)
  (pycall "sys.stdout.flush")
  (values))

(test foo-str-loop
  (raw-pyexec "def foo(): return str(1)")
  (is (equal "1" (pycall "foo")))
  (is (null (dotimes (i 10000) (pycall "foo")))))

(test numpy-add-out-changes-a-in-place
  (let ((a (make-array 10 :element-type 'single-float
                          :initial-contents (loop for i below 10 collect (/ i 10.0))))
        (b (make-array 10 :element-type 'single-float
                          :initial-contents (loop for i below 10 collect (float i)))))
    (let ((expected (map 'vector #'+ a b))
          (r (pycall "numpy.add" a b :out a)))
      (is (eq a r) "numpy returns the out array: we return the very Lisp array")
      (is (every (lambda (x y) (< (abs (- x y)) 1e-6)) expected a))
      (is (equal '(simple-array single-float (10)) (type-of a))))))

(test numpy-linalg-svd-3x3
  (let* ((a (make-array '(3 3) :element-type 'double-float
                               :initial-contents '((0.8441d0 0.3109d0 0.3477d0)
                                                   (0.3423d0 0.6038d0 0.4120d0)
                                                   (0.5945d0 0.0636d0 0.6331d0))))
         (r (pycall "numpy.linalg.svd" a)))
    (is (= 3 (length r)))
    (destructuring-bind (u s vh) r
      (is (equal '(3 3) (array-dimensions u)))
      (is (equal '(3) (array-dimensions s)))
      (is (eq 'double-float (array-element-type s)))
      ;; U diag(S) Vh reconstructs A
      (is (loop for i below 3
                always (loop for j below 3
                             always (< (abs (- (aref a i j)
                                               (loop for k below 3
                                                     sum (* (aref u i k) (aref s k) (aref vh k j)))))
                                       1d-12)))))))

(test callbacks-rest-and-key
  (raw-pyexec "def foo(fn, *args, **kwargs): return fn(*args, **kwargs)")
  ;; The README shows (8 9 "d" 5 "b" 3 "a" 2) from an older py4cl2-cffi that reversed the
  ;; keyword order; keywords reach the lambda as :A :B :D in Python's order and come back
  ;; as strings, since Lisp keywords are passed to Python as str.
  (is (equal '(8 9 "a" 2 "b" 3 "d" 5)
             (pycall "foo" (lambda (d e &rest args &key a b &allow-other-keys)
                             (declare (ignore a b))
                             (list* d e args))
                     8 9 :a 2 :b 3 :d 5)))
  (is (equal '(1 t 2)
             (pycall "foo" (lambda (a &rest kw) (list a (eq :x (first kw)) (second kw)))
                     1 :x 2))
      "keywords seen by the lambda are Lisp keywords"))

(test import-module-matplotlib-plot
  (is (eq t (import-module "matplotlib.pyplot" :as "plt")))
  ;; py4cl2-cffi's README shows the result in an image where no generated package types
  ;; Line2D: other suites of the same image may have loaded generated bindings of matplotlib
  ;; (whose classes then type it), so typing is left out here, as in an image without them.
  (let ((r (let ((pymodgen::*typed-classes-p* nil))
             (pycall "plt.plot"
                     (alexandria:iota 10)
                     (mapcar (lambda (x) (* x x))
                             (alexandria:iota 10))))))
    (is (vectorp r))
    (is (= 1 (length r)))
    (is (typep (aref r 0) 'pyobject-wrapper))
    (is (search "Line2D" (python-object-type (aref r 0))))
    (let ((printed (let ((*print-pyobject-wrapper-identity* t)) (prin1-to-string (aref r 0)))))
      (is (eql 0 (search "#<PYTHON-OBJECT :type <class 'matplotlib.lines.Line2D'>" printed)))
      (is (search (format nil "~%  Line2D(") printed))))
  (is (eq +py-none+ (pycall "plt.show")))
  (is (search "#<PYTHON-OBJECT :type <class 'NoneType'>"
              (prin1-to-string (pycall "plt.show")))))

(test with-lispifiers-example
  (is (equalp #(1 2 3) (raw-pyeval "[1, 2, 3]")))
  (with-lispifiers ((vector (lambda (x) (coerce x 'list))))
    (is (equal '(1 2 3) (raw-pyeval "[1,2,3]")))
    (is (eql 5 (raw-pyeval "5")))))

(test with-pythonizers-example
  (is (equal (format nil "[1, 2, 3]~%") (with-python-output (pyprint #(1 2 3)))))
  (with-pythonizers ((vector "tuple"))
    (is (equal (format nil "(1, 2, 3)~%") (with-python-output (pyprint #(1 2 3)))))
    (is (equal (format nil "5~%") (with-python-output (pyprint 5))))))

(test pyvalue-sys-path
  (let ((path (pyvalue "sys.path")))
    (is (vectorp path))
    (is (every #'stringp path))
    (is (find-if (lambda (p) (search (format nil "python3~D.zip" (python-minor-version)) p)) path))
    (is (find-if (lambda (p) (search "site-packages" p)) path))
    (is (equal (pyvalue "sys.executable")
               (pymodgen::python-executable pymodgen::*python-config*)))))

(test pyvalue-sys-and-setf
  (is (typep (pyvalue "sys") 'pyobject-wrapper))
  (setf (pyvalue "my_var") 42)
  (is (eql 42 (pyvalue "my_var")))
  (is (eql 43 (pyeval "my_var + 1"))))
