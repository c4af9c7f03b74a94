;;;; conditions.lisp -- a module's own exception classes are condition classes of its generated
;;;; package, under the runtime's classes of Python's builtin exceptions.

(in-package #:pymodgen-bindings-tests)

(def-suite conditions :in bindings
  :description "Generated condition classes for Python exception classes.")
(in-suite conditions)

(defvar *condition-systems-loaded* nil)

(defun ensure-condition-bindings ()
  "Generates and loads json, subprocess and email.errors (packages JSON, SUBPROCESS,
EMAIL.ERRORS)."
  (unless *condition-systems-loaded*
    (dolist (dir (generate '("json" "subprocess" "email.errors")))
      (multiple-value-bind (warnings style error) (load-generated dir)
        (when (or warnings style error)
          (error "loading ~A: ~A ~A ~A" dir warnings style error))))
    (setf *condition-systems-loaded* t)))

(def-test json-decode-error-by-class ()
  (ensure-condition-bindings)
  (is (eq :decode (eval (read-from-string
                         "(handler-case (json:loads \"{\") (json:json-decode-error () :decode))"))))
  (let ((c (handler-case (call "json" "loads" "{") (error (c) c))))
    (is (typep c (sym "json" "json-decode-error")))
    (is (typep c 'python-value-error) "JSONDecodeError(ValueError)")
    (is (typep c 'simple-pyerror))
    (is (equal "json.decoder.JSONDecodeError" (pyerror-type c)))
    (is (search "Expecting property name" (pyerror-message c))))
  (is (subtypep (sym "json" "json-decode-error") 'python-value-error))
  ;; the symbol still names the constructor too
  (is (typep (call "json" "json-decode-error" "msg" "doc" 0) 'pyobject-wrapper)))

(def-test hierarchies-inside-a-module ()
  (ensure-condition-bindings)
  (let ((c (handler-case (pycall "subprocess.run" '("false") :check t) (error (c) c))))
    (is (typep c (sym "subprocess" "called-process-error")))
    (is (typep c (sym "subprocess" "subprocess-error")))
    (is (typep c 'python-exception))
    (is (not (typep c (sym "subprocess" "timeout-expired")))))
  ;; multiple inheritance: MultipartConversionError(MessageError, TypeError)
  (let ((class (sym "email.errors" "multipart-conversion-error")))
    (is (subtypep class (sym "email.errors" "message-error")))
    (is (subtypep class 'python-type-error))
    (let ((c (handler-case (raw-pyexec "import email.errors
raise email.errors.MultipartConversionError('x')")
               (error (c) c))))
      (is (typep c class))
      (is (typep c 'python-type-error)))))

(def-test subclasses-made-at-run-time-find-the-generated-class ()
  (ensure-condition-bindings)
  (raw-pyexec "import json
class CondTestDecodeError(json.JSONDecodeError): pass")
  (let ((c (handler-case (raw-pyexec "raise CondTestDecodeError('m', 'doc', 0)") (error (c) c))))
    (is (typep c (sym "json" "json-decode-error")))
    (is (equal "__main__.CondTestDecodeError" (pyerror-type c)))))
