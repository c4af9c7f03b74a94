;;;; select-single-threaded.lisp -- loaded by the systems "pymodgen/single-threaded" and
;;;; "py4cl2-cffi/single-threaded" before the runtime: selects the single-threaded call mode.

(in-package #:pymodgen/config)

(let ((runtime (find-package "PYMODGEN")))
  (if (and runtime (find-symbol "+PYTHON-CALL-MODE+" runtime)
           (not (eq :single-threaded (symbol-value (find-symbol "+PYTHON-CALL-MODE+" runtime)))))
      (error "pymodgen: the runtime is already loaded in the ~(~S~) call mode; the single-threaded
mode is chosen before it loads: load \"py4cl2-cffi/single-threaded\" (or set
PYMODGEN/CONFIG:*PYTHON-CALL-MODE*) in a fresh Lisp."
             (symbol-value (find-symbol "+PYTHON-CALL-MODE+" runtime)))
      (setf *python-call-mode* :single-threaded)))
