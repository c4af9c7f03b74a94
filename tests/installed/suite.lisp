;;;; suite.lisp -- pymodgen as a Lisp user installs it: the wheel in a fresh venv, the Lisp
;;;; systems found through ASDF's source registry (pymodgen-lisp register), no cargo on PATH.
;;;; Run by scripts/test-installed in a fresh SBCL or ECL, after (require :asdf):
;;;;   PYMODGEN_TEST_VENV       the venv the wheel is installed in
;;;;   PYMODGEN_TEST_GENERATED  the directory `pymodgen json --lang lisp` wrote (from the venv's bin)
;;;; Last line of output: `N passed, N failed` (fiveam checks).

(defpackage #:pymodgen-installed-tests
  (:use #:cl))
(in-package #:pymodgen-installed-tests)

(defun env (name)
  (or (uiop:getenv name) (error "~A is not set (run scripts/test-installed)" name)))

(defun under-p (path directory)
  "True when PATH's true name is inside DIRECTORY's."
  (let ((p (namestring (truename path)))
        (d (namestring (truename (uiop:ensure-directory-pathname directory)))))
    (and (<= (length d) (length p)) (string= d p :end2 (length d)))))

(defvar *load-error* nil)

;; Loaded as a user does: `pymodgen` only through the registered source registry.
(handler-case
    (handler-bind ((warning #'muffle-warning))
      (asdf:load-system "fiveam")
      (asdf:load-system "pymodgen")
      (asdf:load-system "pymodgen/py4cl2-cffi")
      ;; py4cl2-cffi's own system names (py4cl2-cffi.asd ships in the wheel too)
      (asdf:load-system "py4cl2-cffi/config")
      (asdf:load-system "py4cl2-cffi"))
  (error (c) (setf *load-error* c)))

(when *load-error*
  (format t "~&pymodgen failed to load: ~A~%0 passed, 1 failed~%" *load-error*)
  (finish-output)
  (uiop:quit 1))

(fiveam:def-suite installed :description "pymodgen installed from the wheel")
(fiveam:in-suite installed)

(fiveam:test loaded-from-the-venv
  (let ((venv (env "PYMODGEN_TEST_VENV")))
    (fiveam:is (under-p (asdf:system-source-directory "pymodgen") venv))
    (fiveam:is (under-p pymodgen::*runtime-library-path* venv))
    (fiveam:is (not (pymodgen::in-checkout-p)))
    (fiveam:is (under-p (asdf:system-source-directory "py4cl2-cffi") venv))
    ;; the interpreter chosen is the venv's (VIRTUAL_ENV), its libpython by full path
    (fiveam:is (eql 0 (search venv (pymodgen::python-executable pymodgen::*python-config*))))))

(fiveam:test pycall
  (fiveam:is (equal "42" (pymodgen:pycall "str" 42)))
  (fiveam:is (= 255 (pymodgen:pycall "int" "ff" :base 16)))
  (fiveam:is (equal "1" (py4cl2-cffi:pycall "str" 1))))

(fiveam:test callback
  (fiveam:is (= 41 (pymodgen:pycall "lambda f: f(20) + 1" (lambda (x) (* 2 x)))))
  (fiveam:is (equal '(3 2 1)
                    (coerce (pymodgen:pycall "sorted" (vector 2 3 1)
                                             :key (lambda (x) (- x)))
                            'list))))

(fiveam:test pyerror
  (handler-case (progn (pymodgen:pycall "int" "not a number")
                       (fiveam:fail "no pyerror"))
    (pymodgen:pyerror (e)
      (fiveam:is (equal "ValueError" (pymodgen:pyerror-type e)))
      (fiveam:is (search "not a number" (pymodgen:pyerror-message e))))))

(fiveam:test numpy-add-out
  (let ((a (make-array 3 :element-type 'double-float :initial-contents '(1d0 2d0 3d0))))
    (fiveam:is (eq a (pymodgen:pycall "numpy.add" a a :out a)))
    (fiveam:is (equalp #(2d0 4d0 6d0) a))))

(fiveam:test generated-json-system
  ;; a system written by the venv's `pymodgen json --lang lisp`, loaded and called
  (let ((dir (uiop:ensure-directory-pathname
              (merge-pathnames "json/" (uiop:ensure-directory-pathname (env "PYMODGEN_TEST_GENERATED"))))))
    (push dir asdf:*central-registry*)
    (handler-bind ((warning #'muffle-warning))
      (asdf:load-system "pymodgen-json"))
    (fiveam:is (equal "[1, 2]" (uiop:symbol-call "JSON" "DUMPS" (list 1 2))))
    (fiveam:is (equal "{\"a\": 1}" (uiop:symbol-call "JSON" "DUMPS" (alexandria:plist-hash-table '("a" 1) :test 'equal))))
    (fiveam:is (= 3 (length (uiop:symbol-call "JSON" "LOADS" "[1, 2, 3]"))))))

(let* ((results (let ((*print-pretty* t)) (fiveam:run 'installed)))
       (passed (count-if (lambda (r) (typep r 'fiveam::test-passed)) results))
       (failed (count-if (lambda (r) (typep r 'fiveam::test-failure)) results)))
  (fiveam:explain! results)
  (format t "~&~D passed, ~D failed~%" passed failed)
  (finish-output)
  (uiop:quit (if (and (zerop failed) (plusp passed)) 0 1)))
