;;;; py4cl2-cffi-single-threaded.lisp -- package PY4CL2-CFFI/SINGLE-THREADED (system
;;;; "py4cl2-cffi/single-threaded"): py4cl2-cffi's name for its single-threaded API, here the
;;;; very symbols of PY4CL2-CFFI (the call mode is the runtime's, +PYTHON-CALL-MODE+).

(defpackage #:py4cl2-cffi/single-threaded
  (:use #:cl #:py4cl2-cffi))

(eval-when (:compile-toplevel :load-toplevel :execute)
  (do-external-symbols (s '#:py4cl2-cffi)
    (export (list s) '#:py4cl2-cffi/single-threaded)))
