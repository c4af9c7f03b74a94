;;;; py4cl2-cffi.lisp -- drop-in package PY4CL2-CFFI: the same symbols as PYMODGEN's API
;;;; (the very same symbols, so code written for py4cl2-cffi runs unchanged on pymodgen).

(defpackage #:py4cl2-cffi
  (:use #:cl #:pymodgen))

(eval-when (:compile-toplevel :load-toplevel :execute)
  (do-external-symbols (s '#:pymodgen)
    (unless (or (char= #\% (char (symbol-name s) 0))
                ;; the condition classes of Python exceptions: pymodgen:python-value-error ...
                (member s pymodgen::+python-condition-exports+)
                ;; classes written in Lisp (src/defpyclass.lisp): pymodgen's own
                (member s pymodgen::+defpyclass-exports+)
                ;; the Lisp classes of Python classes: pymodgen:python-instance ...
                (member s pymodgen::+python-class-exports+))
      (export (list s) '#:py4cl2-cffi))))

;;; py4cl2-cffi's internal helpers that its users reach with py4cl2-cffi:: (src/compat.lisp).
(eval-when (:compile-toplevel :load-toplevel :execute)
  (import (remove-if (lambda (s) (find-symbol (symbol-name s) '#:py4cl2-cffi))
                     pymodgen::+py4cl2-cffi-helpers+)
          '#:py4cl2-cffi))

;;; PYFOR is an ITERATE clause: defined again here in case ITERATE was loaded after pymodgen.
(pymodgen::define-pyfor-clause)
