;;;; py4cl2-cffi.asd -- py4cl2-cffi's system names, for code written for it: the drop-in
;;;; package PY4CL2-CFFI over pymodgen (pymodgen.asd) and its configuration systems.

(defsystem "py4cl2-cffi"
  :description "Drop-in replacement for py4cl2-cffi: package PY4CL2-CFFI over pymodgen (the
same as system \"pymodgen/py4cl2-cffi\")."
  :depends-on ("pymodgen/py4cl2-cffi"))

(defsystem "py4cl2-cffi/config"
  :description "py4cl2-cffi's configuration package PY4CL2-CFFI/CONFIG (a nickname of
PYMODGEN/CONFIG): set its variables after loading this and before loading py4cl2-cffi."
  :depends-on ("pymodgen/config"))

(defsystem "py4cl2-cffi/single-threaded"
  :description "py4cl2-cffi in the single-threaded call mode: every Python call runs on
Python's main thread. Package PY4CL2-CFFI/SINGLE-THREADED has the symbols of PY4CL2-CFFI."
  :depends-on ("pymodgen/select-single-threaded" "pymodgen/py4cl2-cffi")
  :components ((:file "src/py4cl2-cffi-single-threaded")))
