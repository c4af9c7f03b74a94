;;;; conditions.lisp -- a module's own exception classes are condition classes of its generated
;;;; package, under the runtime's classes of Python's builtin exceptions.

(in-package #:pymodgen-bindings-tests)

(def-suite conditions :in bindings
  :description "Generated condition classes for Python exception classes.")
(in-suite conditions)

(defun ensure-condition-bindings ()
  "Generates and loads json, subprocess and email.errors under packages of their own (so
that they do not meet the stdlib sweep's): COND-JSON, COND-SUBPROCESS, COND-EMAIL-ERRORS."
  (ensure-arglist-bindings "json" "COND-JSON")
  (ensure-arglist-bindings "subprocess" "COND-SUBPROCESS")
  (ensure-arglist-bindings "email.errors" "COND-EMAIL-ERRORS"))

(def-test json-decode-error-by-class ()
  (ensure-condition-bindings)
  (is (eq :decode (eval (read-from-string
                         "(handler-case (cond-json:loads \"{\") (cond-json:json-decode-error () :decode))"))))
  (let ((c (handler-case (call "cond-json" "loads" "{") (error (c) c))))
    (is (typep c (sym "cond-json" "json-decode-error")))
    (is (typep c 'python-value-error) "JSONDecodeError(ValueError)")
    (is (typep c 'simple-pyerror))
    (is (equal "json.decoder.JSONDecodeError" (pyerror-type c)))
    (is (search "Expecting property name" (pyerror-message c))))
  (is (subtypep (sym "cond-json" "json-decode-error") 'python-value-error))
  ;; the symbol still names the constructor too
  (is (typep (call "cond-json" "json-decode-error" "msg" "doc" 0) 'pyobject-wrapper)))

(def-test hierarchies-inside-a-module ()
  (ensure-condition-bindings)
  (let ((c (handler-case (pycall "subprocess.run" '("false") :check t) (error (c) c))))
    (is (typep c (sym "cond-subprocess" "called-process-error")))
    (is (typep c (sym "cond-subprocess" "subprocess-error")))
    (is (typep c 'python-exception))
    (is (not (typep c (sym "cond-subprocess" "timeout-expired")))))
  ;; multiple inheritance: MultipartConversionError(MessageError, TypeError)
  (let ((class (sym "cond-email-errors" "multipart-conversion-error")))
    (is (subtypep class (sym "cond-email-errors" "message-error")))
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
    (is (typep c (sym "cond-json" "json-decode-error")))
    (is (equal "__main__.CondTestDecodeError" (pyerror-type c)))))
