;;;; change.lisp -- recompile-on-change: a generated system notices, at load time, that its
;;;; Python module changed since generation, and signals or regenerates per
;;;; PYMODGEN::*ON-MODULE-CHANGE*.

(in-package #:pymodgen-bindings-tests)

(def-suite change :in bindings :description "The load-time module version check.")
(in-suite change)

(defparameter *probe-dir* (merge-pathnames "change-probe/" *out*)
  "A Python package written by the test, so it can be changed.")

(defun write-probe (body)
  (let ((file (merge-pathnames "pymodgen_change_probe/__init__.py" *probe-dir*)))
    (ensure-directories-exist file)
    (with-open-file (s file :direction :output :if-exists :supersede)
      (write-string body s))
    file))

(defun recorded-hash (dir)
  (let ((text (uiop:read-file-string (merge-pathnames "pymodgen-check.lisp" dir))))
    (let* ((start (+ (search ":hash \"" text) 7)))
      (subseq text start (position #\" text :start start)))))

(def-test module-change-is-noticed-and-regenerated ()
  (write-probe (format nil "def f(x):~%    \"\"\"Version one.\"\"\"~%    return x + 1~%"))
  (python-path-insert *probe-dir*)
  (let* ((out (merge-pathnames "systems/" *probe-dir*))
         (dir (first (generate '("pymodgen_change_probe") :pythonpath *probe-dir* :out out)))
         (old (recorded-hash dir)))
    (let ((pymodgen::*on-module-change* :error))
      (multiple-value-bind (warnings style error) (load-generated dir :force t)
        (is (null (or warnings style error)) "~A ~A ~A" warnings style error)))
    (is (= 2 (call "pymodgen_change_probe" "f" 1)))
    ;; Change the module: a new function; its files' size and mtime change, so does the hash.
    (sleep 0.01)
    (write-probe (format nil "def f(x):~%    \"\"\"Version two.\"\"\"~%    return x + 2~%~%def g():~%    return 7~%"))
    (let ((pymodgen::*on-module-change* :error))
      (let ((condition (nth-value 2 (load-generated dir :force t))))
        (is (typep condition 'pymodgen::module-changed-error))
        (is (search "pymodgen_change_probe changed" (princ-to-string condition)))))
    (let ((pymodgen::*on-module-change* :warn))
      (let ((warnings (load-generated dir :force t)))
        (is (some (lambda (w) (typep w 'pymodgen::module-changed-warning)) warnings))))
    (let ((pymodgen::*on-module-change* :regenerate))
      (let ((error (nth-value 2 (load-generated dir :force t))))
        (is (null error) "~A" error)))
    (is (string/= old (recorded-hash dir)) "the system was regenerated")
    (is (fboundp (sym "pymodgen_change_probe" "g")) "the new function is defined")
    (raw-pyexec "import importlib, pymodgen_change_probe; importlib.reload(pymodgen_change_probe)")
    (is (= 7 (call "pymodgen_change_probe" "g")))
    ;; Regenerated and unchanged since: loads without a word.
    (let ((pymodgen::*on-module-change* :error))
      (multiple-value-bind (warnings style error) (load-generated dir :force t :reloading t)
        (is (null (or warnings style error)) "~A ~A ~A" warnings style error)))))
