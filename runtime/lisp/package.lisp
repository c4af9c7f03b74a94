;;;; package.lisp -- package PYMODGEN: the py4cl2-cffi API plus the generated-code contract.

(defpackage #:pymodgen
  (:use #:cl)
  (:export
   ;; process
   #:pystart #:pystop #:python-alive-p #:python-start-if-not-alive #:pyversion-info
   #:*additional-init-codes* #:*internal-features*
   ;; calling Python
   #:pycall #:pyvalue #:pyslot-value #:pymethod #:pyref #:pyeval #:pyexec
   #:raw-pyeval #:raw-pyexec #:pygenerator #:chain #:chain*
   #:pyhelp #:pyslot-list #:pymethod-list
   ;; modules and functions
   #:import-module #:import-function #:export-function #:defpyfun #:defpymodule
   #:*defpymodule-silent-p*
   ;; output
   #:with-python-output #:with-python-error-output #:*python-output-to-lisp*
   ;; translation
   #:*lispifiers* #:*pythonizers* #:with-lispifiers #:with-pythonizers #:define-lispifier
   #:pythonize #:lispify #:with-remote-objects #:with-remote-objects*
   #:python-getattr #:python-setattr #:python-attribute-missing
   #:python-conversion-error #:python-conversion-error-object #:python-conversion-error-reason
   #:circular-structure-error #:pymodgen-type-error #:pymodgen-type-error-function
   #:pymodgen-type-error-accepts
   ;; python objects
   #:pyobject-wrapper #:pyobject-wrapper-p #:pyobject-wrapper-pointer
   #:pyobject-wrapper-eq #:pyobject-wrapper-eq*
   #:python-object #:python-object-eq #:python-object-eq* #:python-object-type
   #:*print-pyobject* #:*print-pyobject-wrapper-identity* #:*print-python-object*
   #:+py-none+ #:+py-empty-tuple+ #:+py-none-pointer+ #:+py-empty-tuple-pointer+
   #:pybytes
   ;; errors
   #:pyerror #:pyerror-type #:pyerror-message #:pyerror-traceback
   #:python-not-alive-error
   #:python-stale-object-error
   ;; GIL and garbage collection
   #:with-python-gil #:with-python-float-environment #:*float-switch* #:float-switch-in-force
   #:with-pygc #:enable-pygc #:disable-pygc #:*pygc-threshold*
   ;; the contract with generated bindings (see src/generated.lisp)
   #:%callable-cell #:%call-cell #:%module-hash))
