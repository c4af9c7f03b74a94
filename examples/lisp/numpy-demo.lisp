;;;; numpy-demo.lisp -- numpy from Common Lisp through pymodgen-generated bindings.
;;;;
;;;; Run by scripts/demo, after `pymodgen numpy --lang lisp --submodules --out $PYMODGEN_DEMO_OUT`:
;;;;   sbcl --script examples/lisp/numpy-demo.lisp
;;;; It loads the runtime (ASDF system "pymodgen"), then the generated system
;;;; "pymodgen-numpy", calls numpy with real lambda lists, passes a Lisp array to numpy by
;;;; reference, and finishes with py4cl2-cffi's defpymodule.

(require :asdf)
(defvar *root* (merge-pathnames "../../" (directory-namestring *load-truename*)))
(push (merge-pathnames "runtime/lisp/" *root*) asdf:*central-registry*)
(handler-bind ((warning #'muffle-warning))
  (asdf:load-system "pymodgen"))

(defvar *out* (uiop:ensure-directory-pathname
               (or (uiop:getenv "PYMODGEN_DEMO_OUT") (merge-pathnames "target/demo/lisp/" *root*))))
(asdf:load-asd (merge-pathnames "numpy/pymodgen-numpy.asd" *out*))
(handler-bind ((warning #'muffle-warning))
  (asdf:load-system "pymodgen-numpy"))

(defmacro show (form)
  `(format t "~&~S~%  => ~S~%" ',form ,form))

(format t "~&Python ~{~A~^.~} with numpy ~A~%" (subseq (pymodgen:pyversion-info) 0 3)
        (pymodgen:pyvalue "numpy.__version__"))

;; Generated functions: required parameters positional, optional ones positional or by keyword.
(show (numpy:sum (numpy:sin (numpy:linspace 0 pi 5))))
(show (numpy:linspace 0 1 5 :endpoint nil))
(show (numpy:sum #2A((1d0 2d0) (3d0 4d0)) :axis 0))
(show (numpy.linalg:det #2A((1d0 2d0) (3d0 4d0))))
(show (numpy.linalg:svd #2A((3d0 0d0) (0d0 4d0))))

;; A specialized Lisp array reaches numpy by reference: numpy writes into it.
(let ((a (make-array 4 :element-type 'double-float :initial-contents '(1d0 2d0 3d0 4d0)))
      (b (make-array 4 :element-type 'double-float :initial-element 10d0)))
  (numpy:add a b :out a)
  (format t "~&(numpy:add a b :out a) changed a in place => ~S~%" a))

;; Python's docstring is the Lisp docstring.
(let ((doc (documentation 'numpy:linspace 'function)))
  (format t "~&(documentation 'numpy:linspace 'function) starts with:~%  ~A~%"
          (subseq doc 0 (position #\Newline doc))))

;; py4cl2-cffi's defpymodule, on the same generator.
(pymodgen:defpymodule "math" nil :lisp-package "M" :silent t)
(show (m:sqrt 4))
(format t "~&numpy demo from Lisp: ok~%")
