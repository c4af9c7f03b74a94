;;;; py4cl2-cffi.lisp -- drop-in package PY4CL2-CFFI: the same symbols as PYMODGEN's API
;;;; (the very same symbols, so code written for py4cl2-cffi runs unchanged on pymodgen).

(defpackage #:py4cl2-cffi
  (:use #:cl #:pymodgen))

(eval-when (:compile-toplevel :load-toplevel :execute)
  (do-external-symbols (s '#:pymodgen)
    (unless (char= #\% (char (symbol-name s) 0))
      (export (list s) '#:py4cl2-cffi))))
