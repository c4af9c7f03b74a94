;;;; conditions.lisp -- Python's exception classes as condition classes.
;;;;
;;;; A Python exception is signalled as the condition class of its type, whose superclasses
;;;; mirror the Python bases: PYTHON-VALUE-ERROR for ValueError, under PYTHON-EXCEPTION, under
;;;; PYTHON-BASE-EXCEPTION, under SIMPLE-PYERROR (what py4cl2-cffi signals for every Python
;;;; exception), under PYERROR. Naming scheme: "PYTHON-" followed by the class name in kebab
;;;; case, as generated packages name Python names (ValueError -> PYTHON-VALUE-ERROR, OSError
;;;; -> PYTHON-OS-ERROR, PythonFinalizationError -> PYTHON-PYTHON-FINALIZATION-ERROR).
;;;; Generated packages define their module's own exception classes with
;;;; DEFINE-PYTHON-EXCEPTION (json.JSONDecodeError -> JSON:JSON-DECODE-ERROR, under
;;;; PYTHON-VALUE-ERROR). An exception whose type has no condition class in the image (a class
;;;; made by PYEXEC, a module without generated bindings) is signalled as the class of its
;;;; nearest ancestor that has one, in the order of the type's __mro__ (PYERROR-TYPE still
;;;; names the type itself): no class is made on the fly for it. (One is made, once, when
;;;; several packages define a class for the same Python class: see DEFINE-PYTHON-EXCEPTION.)

(in-package #:pymodgen)

(eval-when (:compile-toplevel :load-toplevel :execute)
  (export '(define-python-exception) '#:pymodgen))

(defvar *python-exception-classes* (%make-synchronized-hash-table :test #'equal)
  "Python exception type name (as PYERROR-TYPE names it: \"ValueError\",
\"json.decoder.JSONDecodeError\") -> the condition classes defined for it, oldest first
(several when the bindings of several modules, or packages, expose the class).")

(defvar *python-condition-cache* (%make-synchronized-hash-table :test #'equal)
  "The names of an exception type's __mro__ (one per line, from the C ABI) -> the condition
class to signal. Cleared whenever a class is registered.")

(defvar *combined-condition-classes* (%make-synchronized-hash-table :test #'equal)
  "A list of condition classes -> the class made to inherit from them all.")

(defun %register-python-exception (python-name class)
  "Makes CLASS a condition class signalled for the Python exception type PYTHON-NAME."
  (let ((old (gethash python-name *python-exception-classes*)))
    (unless (member class old)
      (setf (gethash python-name *python-exception-classes*) (append old (list class)))))
  (clrhash *python-condition-cache*)
  class)

(defmacro define-python-exception (name (&rest superclasses) python-name &key documentation)
  "Defines NAME as a condition class signalled for the Python exception class PYTHON-NAME
(\"module.QualName\", as PYERROR-TYPE names it) and its subclasses, a subclass of the
condition classes SUPERCLASSES (those of the Python bases: PYTHON-VALUE-ERROR ..., or the class
of another DEFINE-PYTHON-EXCEPTION; default PYTHON-EXCEPTION). Generated bindings define their
module's exception classes with it. When several classes are defined for the same Python
class (its module's bindings and those of a module that re-exports it, or the bindings of one
module under two packages), its exceptions are signalled as a class made to inherit from them
all, so that a handler for any of them catches them. Returns NAME."
  (check-type name symbol)
  (check-type python-name string)
  `(progn
     (define-condition ,name ,(or superclasses '(python-exception)) ()
       ,@(when documentation `((:documentation ,documentation))))
     (%register-python-exception ,python-name ',name)
     ',name))

(defun %combined-condition-class (classes)
  "A condition class that inherits from each of CLASSES (made once), or, should CLOS refuse
that combination, the first of them."
  (or (gethash classes *combined-condition-classes*)
      (setf (gethash classes *combined-condition-classes*)
            (let ((name (make-symbol (format nil "~{~S~^+~}" classes))))
              (handler-case (progn (eval `(define-condition ,name ,classes ())) name)
                (error () (first classes)))))))

(declaim (ftype (function (string) (values symbol &optional)) %python-condition-class))
(defun %python-condition-class (mro)
  "The condition class to signal for a Python exception whose type's __mro__ names are MRO
(one per line, the type first): the class registered for the first name that has one (made
from all of them when there are several), else SIMPLE-PYERROR."
  (or (gethash mro *python-condition-cache*)
      (let ((class (loop with start = 0
                         for end = (position #\Newline mro :start start)
                         for classes = (gethash (subseq mro start end) *python-exception-classes*)
                         when classes return (if (rest classes)
                                                 (%combined-condition-class classes)
                                                 (first classes))
                         while end do (setf start (1+ end))
                         finally (return 'simple-pyerror))))
        (when (> (hash-table-count *python-condition-cache*) 1000)
          (clrhash *python-condition-cache*)) ; classes made at run time, e.g. in a loop
        (setf (gethash mro *python-condition-cache*) class))))

(defmacro %define-builtin-exceptions (&rest entries)
  "ENTRIES: (\"PythonName\" lisp-name (lisp-superclass ...) [\"first Python version\"])."
  `(progn
     ,@(loop for (python name supers since) in entries
             collect `(define-python-exception ,name ,(or supers '(simple-pyerror)) ,python
                        :documentation
                        ,(format nil "Python's ~A~@[ (Python ~A and later)~], signalled as a ~
condition of this class (PYERROR-TYPE says which exact Python class)." python since)))
     (eval-when (:compile-toplevel :load-toplevel :execute)
       (export ',(mapcar #'second entries) '#:pymodgen))
     (defparameter +python-condition-exports+ '(define-python-exception ,@(mapcar #'second entries))
       "The external symbols of PYMODGEN that name Python exception classes as conditions
(and DEFINE-PYTHON-EXCEPTION): not exported from PY4CL2-CFFI, whose users' packages could
have such names of their own.")
     (defparameter +builtin-python-exceptions+ ',entries
       "The exception classes of Python's builtins, with their bases (all Python versions
this runtime supports; a test compares them with the running Python's).")))

;;; The table: every public exception class of `builtins` on Python 3.10-3.13 (aliases such
;;; as IOError left out), a base before its subclasses, with the version that added it when
;;; later than 3.10. From: [(n, [b.__name__ for b in c.__bases__ if b is not object]) for n, c
;;; in vars(builtins).items() if isinstance(c, type) and issubclass(c, BaseException) and
;;; c.__name__ == n and not n.startswith("_")]. The test suite holds it to the running Python.
(%define-builtin-exceptions
  ("BaseException" python-base-exception ())
  ("Exception" python-exception (python-base-exception))
  ("ArithmeticError" python-arithmetic-error (python-exception))
  ("AssertionError" python-assertion-error (python-exception))
  ("AttributeError" python-attribute-error (python-exception))
  ("BaseExceptionGroup" python-base-exception-group (python-base-exception) "3.11")
  ("OSError" python-os-error (python-exception))
  ("BlockingIOError" python-blocking-io-error (python-os-error))
  ("ConnectionError" python-connection-error (python-os-error))
  ("BrokenPipeError" python-broken-pipe-error (python-connection-error))
  ("BufferError" python-buffer-error (python-exception))
  ("Warning" python-warning (python-exception))
  ("BytesWarning" python-bytes-warning (python-warning))
  ("ChildProcessError" python-child-process-error (python-os-error))
  ("ConnectionAbortedError" python-connection-aborted-error (python-connection-error))
  ("ConnectionRefusedError" python-connection-refused-error (python-connection-error))
  ("ConnectionResetError" python-connection-reset-error (python-connection-error))
  ("DeprecationWarning" python-deprecation-warning (python-warning))
  ("EOFError" python-eof-error (python-exception))
  ("EncodingWarning" python-encoding-warning (python-warning))
  ("ExceptionGroup" python-exception-group (python-base-exception-group python-exception) "3.11")
  ("FileExistsError" python-file-exists-error (python-os-error))
  ("FileNotFoundError" python-file-not-found-error (python-os-error))
  ("FloatingPointError" python-floating-point-error (python-arithmetic-error))
  ("FutureWarning" python-future-warning (python-warning))
  ("GeneratorExit" python-generator-exit (python-base-exception))
  ("ImportError" python-import-error (python-exception))
  ("ImportWarning" python-import-warning (python-warning))
  ("SyntaxError" python-syntax-error (python-exception))
  ("IndentationError" python-indentation-error (python-syntax-error))
  ("LookupError" python-lookup-error (python-exception))
  ("IndexError" python-index-error (python-lookup-error))
  ("InterruptedError" python-interrupted-error (python-os-error))
  ("IsADirectoryError" python-is-a-directory-error (python-os-error))
  ("KeyError" python-key-error (python-lookup-error))
  ("KeyboardInterrupt" python-keyboard-interrupt (python-base-exception))
  ("MemoryError" python-memory-error (python-exception))
  ("ModuleNotFoundError" python-module-not-found-error (python-import-error))
  ("NameError" python-name-error (python-exception))
  ("NotADirectoryError" python-not-a-directory-error (python-os-error))
  ("RuntimeError" python-runtime-error (python-exception))
  ("NotImplementedError" python-not-implemented-error (python-runtime-error))
  ("OverflowError" python-overflow-error (python-arithmetic-error))
  ("PendingDeprecationWarning" python-pending-deprecation-warning (python-warning))
  ("PermissionError" python-permission-error (python-os-error))
  ("ProcessLookupError" python-process-lookup-error (python-os-error))
  ("PythonFinalizationError" python-python-finalization-error (python-runtime-error) "3.13")
  ("RecursionError" python-recursion-error (python-runtime-error))
  ("ReferenceError" python-reference-error (python-exception))
  ("ResourceWarning" python-resource-warning (python-warning))
  ("RuntimeWarning" python-runtime-warning (python-warning))
  ("StopAsyncIteration" python-stop-async-iteration (python-exception))
  ("StopIteration" python-stop-iteration (python-exception))
  ("SyntaxWarning" python-syntax-warning (python-warning))
  ("SystemError" python-system-error (python-exception))
  ("SystemExit" python-system-exit (python-base-exception))
  ("TabError" python-tab-error (python-indentation-error))
  ("TimeoutError" python-timeout-error (python-os-error))
  ("TypeError" python-type-error (python-exception))
  ("UnboundLocalError" python-unbound-local-error (python-name-error))
  ("ValueError" python-value-error (python-exception))
  ("UnicodeError" python-unicode-error (python-value-error))
  ("UnicodeDecodeError" python-unicode-decode-error (python-unicode-error))
  ("UnicodeEncodeError" python-unicode-encode-error (python-unicode-error))
  ("UnicodeTranslateError" python-unicode-translate-error (python-unicode-error))
  ("UnicodeWarning" python-unicode-warning (python-warning))
  ("UserWarning" python-user-warning (python-warning))
  ("ZeroDivisionError" python-zero-division-error (python-arithmetic-error)))
