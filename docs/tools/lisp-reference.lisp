;;;; lisp-reference.lisp -- writes the book's Lisp API reference from the docstrings of every
;;;; external symbol of PYMODGEN/CONFIG, PYMODGEN and PY4CL2-CFFI.
;;;;
;;;;   sbcl --script docs/tools/lisp-reference.lisp OUT-DIR
;;;;
;;;; writes OUT-DIR/lisp-config.md, OUT-DIR/lisp-pymodgen.md and OUT-DIR/lisp-py4cl2-cffi.md
;;;; (scripts/docs writes them aside and compares them with docs/src/reference/; `scripts/docs
;;;; --bless` writes them there). Prints one line per external symbol that has no docstring for
;;;; a role it plays (function, macro, variable, class) and exits 1 if there is any.
;;;; Deterministic: symbols sorted by name, no date, no path of this machine.

(require :asdf)
(require :sb-introspect)
(let ((here (make-pathname :name nil :type nil :defaults *load-truename*)))
  (push (merge-pathnames "../../runtime/lisp/" here) asdf:*central-registry*))
(setf *compile-verbose* nil *compile-print* nil)
(handler-bind ((warning #'muffle-warning))
  (let ((*standard-output* (make-broadcast-stream)))
    (asdf:load-system "pymodgen/config")
    (asdf:load-system "pymodgen")
    (asdf:load-system "pymodgen/py4cl2-cffi")))

(defpackage #:pymodgen-reference (:use #:cl))
(in-package #:pymodgen-reference)

(defparameter *notes*
  '(("PYMODGEN" "REGENERATE" "restart"
     "The name of the restart that MODULE-CHANGED-ERROR offers: it regenerates the bindings of
the changed module in place and loads them (see *ON-MODULE-CHANGE*).")
    ("PYMODGEN" "PYFOR" "ITERATE clause"
     "(iter (pyfor x in python-iterable) ...): an ITERATE driver clause that steps X through
the items of a Python iterable (a pyobject-wrapper, or any value pycall returns as one), as
py4cl2-cffi's. Defined when the system ITERATE is loaded (before or after pymodgen)."))
  "Symbols that name no function, variable or class (a restart, an ITERATE clause): their kind
and documentation, since Common Lisp has no docstring for them. Any other symbol must have a
docstring.")

(defvar *missing* '())

(defun note-for (symbol)
  (rest (find-if (lambda (n) (and (string= (first n) (package-name (symbol-package symbol)))
                                   (string= (second n) (symbol-name symbol))))
                  *notes*)))

(defun external-symbols (package)
  (let ((symbols '()))
    (do-external-symbols (s package) (push s symbols))
    (sort symbols #'string< :key #'symbol-name)))

(defvar *source-lambda-lists* (make-hash-table :test 'eq)
  "NAME -> lambda list of the top-level DEFUN, DEFMACRO and DEFGENERIC forms of the runtime's
sources: functions compiled with (DEBUG 0) keep no lambda list in the image.")

(defun note-source-definitions (form)
  "Records the lambda lists of the definitions in FORM, a top-level form (also those inside
EVAL-WHEN, PROGN and the runtime's %LOCALLY-MUFFLING-STYLE-WARNINGS); follows IN-PACKAGE."
  (when (and (consp form) (symbolp (first form)))
    (case (first form)
      ((defun defmacro defgeneric)
       (when (and (symbolp (second form)) (listp (third form)))
         (setf (gethash (second form) *source-lambda-lists*) (third form))))
      ((eval-when) (mapc #'note-source-definitions (cddr form)))
      ((progn) (mapc #'note-source-definitions (cdr form)))
      (in-package
       (let ((p (find-package (second form)))) (when p (setf *package* p))))
      (t (when (string= (symbol-name (first form)) "%LOCALLY-MUFFLING-STYLE-WARNINGS")
           (mapc #'note-source-definitions (cdr form)))))))

(defun read-source-lambda-lists ()
  (let ((src (merge-pathnames "../../runtime/lisp/src/"
                              (make-pathname :name nil :type nil :defaults *load-truename*)))
        ;; #.FORM is read, not evaluated (it would end the reading of a file otherwise)
        (readtable (copy-readtable nil)))
    (set-dispatch-macro-character #\# #\. (lambda (stream char n)
                                             (declare (ignore char n))
                                             (read stream t nil t)
                                             :read-time-value)
                                  readtable)
    (dolist (file (sort (directory (merge-pathnames "*.lisp" src)) #'string< :key #'namestring))
      (with-open-file (in file :external-format :utf-8)
        (let ((*package* (find-package "PYMODGEN")) (*read-eval* nil) (*readtable* readtable))
          (loop for form = (handler-case (read in nil in) (error () in))
                until (eq form in)
                do (note-source-definitions form)))))))

(defun lambda-list-text (symbol)
  (let ((ll (multiple-value-bind (ll found) (gethash symbol *source-lambda-lists*)
              (if found ll (sb-introspect:function-lambda-list symbol)))))
    ;; (a macro's &WHOLE and &ENVIRONMENT are not part of its calls)
    (loop for key in '(&whole &environment)
          for tail = (member key ll)
          when tail do (setf ll (append (ldiff ll tail) (cddr tail))))
    (let ((*print-case* :downcase) (*print-pretty* nil))
      (format nil "(~(~A~)~{ ~S~})" (symbol-name symbol) ll))))

(defun slot-reader-doc (symbol)
  "The documentation of the condition or class slot SYMBOL reads, as (CLASS-NAME . DOC).
SBCL keeps a condition slot's :DOCUMENTATION in its classoid (no MOP for condition slots)."
  (do-external-symbols (s (symbol-package symbol))
    (let ((class (find-class s nil)))
      (when class
        (if (subtypep class 'condition)
            (dolist (slot (sb-kernel::condition-classoid-slots (sb-kernel:find-classoid s)))
              (when (and (member symbol (sb-kernel::condition-slot-readers slot))
                         (sb-kernel::condition-slot-documentation slot))
                (return-from slot-reader-doc
                  (cons s (sb-kernel::condition-slot-documentation slot)))))
            (dolist (slot (ignore-errors (sb-mop:class-direct-slots class)))
              (when (and (member symbol (sb-mop:slot-definition-readers slot))
                         (documentation slot t))
                (return-from slot-reader-doc (cons s (documentation slot t)))))))))
  nil)

(defun roles (symbol)
  "A list of (KIND DOCSTRING SIGNATURE) for each role SYMBOL plays."
  (let ((roles '()))
    (cond ((macro-function symbol)
           (push (list "macro" (documentation symbol 'function) (lambda-list-text symbol)) roles))
          ((fboundp symbol)
           (let* ((generic (typep (fdefinition symbol) 'generic-function))
                  (reader (and generic (null (documentation symbol 'function)) (slot-reader-doc symbol))))
             (push (list (cond (reader (format nil "reader of a slot of ~(~A~)" (car reader)))
                               (generic "generic function")
                               (t "function"))
                         (if reader (cdr reader) (documentation symbol 'function))
                         (lambda-list-text symbol))
                   roles))))
    (when (boundp symbol)
      (push (list (if (constantp symbol) "constant" "variable")
                  (documentation symbol 'variable) nil)
            roles))
    (let ((class (find-class symbol nil)))
      (when class
        (push (list (if (subtypep class 'condition) "condition class" "class")
                    (or (documentation class t) (documentation symbol 'type)) nil)
              roles)))
    (when (and (null roles) (sb-int:info :type :kind symbol))
      (push (list "type" (documentation symbol 'type) nil) roles))
    (nreverse roles)))

(defun anchor (symbol)
  (string-downcase
   (with-output-to-string (s)
     (loop for c across (symbol-name symbol)
           do (cond ((alphanumericp c) (write-char c s))
                    ((char= c #\-) (write-char #\- s))
                    (t (format s "_~2,'0X" (char-code c))))))))

(defun write-docstring (out doc)
  ;; Docstrings are plain text, often with code in them: shown as written.
  (format out "~&```text~%~A~&```~%" (string-trim '(#\Newline #\Space) doc)))

(defun write-symbol (out symbol package-name)
  (let ((roles (roles symbol))
        (note (note-for symbol)))
    (format out "~%### <a id=\"~A\"></a>`~(~A~)`~%~%" (anchor symbol) (symbol-name symbol))
    (cond ((and (null roles) note)
           (format out "*~A*~%~%" (first note))
           (write-docstring out (second note)))
          ((null roles)
           (push (format nil "~A:~A (names nothing documentable)" package-name (symbol-name symbol))
                 *missing*)
           (format out "*no definition*~%"))
          (t
           (dolist (role roles)
             (destructuring-bind (kind doc signature) role
               (format out "*~A*" kind)
               (when signature (format out ": `~A`" signature))
               (format out "~%~%")
               (if doc
                   (write-docstring out doc)
                   (progn
                     (push (format nil "~A:~A (~A)" package-name (symbol-name symbol) kind) *missing*)
                     (format out "(no docstring)~%")))))))))

(defun write-page (path title intro package &key (filter (constantly t)))
  (with-open-file (out path :direction :output :if-exists :supersede :external-format :utf-8)
    (let ((*package* (find-package package))
          (symbols (remove-if-not filter (external-symbols package))))
      (format out "<!-- @generated by docs/tools/lisp-reference.lisp from the docstrings: ~
                   do not edit, run scripts/docs --bless -->~%~%# ~A~%~%~A~%~%" title intro)
      (format out "~D external symbols: ~{[`~(~A~)`](#~A)~^, ~}.~%"
              (length symbols)
              (loop for s in symbols collect (symbol-name s) collect (anchor s)))
      (dolist (s symbols) (write-symbol out s (package-name (find-package package)))))))

(defun main (dir)
  (read-source-lambda-lists)
  (let ((dir (uiop:ensure-directory-pathname dir)))
    (ensure-directories-exist dir)
    (write-page (merge-pathnames "lisp-config.md" dir)
                "Lisp API: PYMODGEN/CONFIG"
                "Package `PYMODGEN/CONFIG` (nickname `PY4CL2-CFFI/CONFIG`), ASDF system
`pymodgen/config` (or `py4cl2-cffi/config`): set before the runtime is loaded. How it is
used: [Choosing the interpreter](../guides/interpreter.md)."
                "PYMODGEN/CONFIG")
    (write-page (merge-pathnames "lisp-pymodgen.md" dir)
                "Lisp API: PYMODGEN"
                "Package `PYMODGEN`, ASDF system `pymodgen`: the runtime. The symbols whose
names start with `%` are the contract with generated bindings
([The generated-code contract](../design/runtime.md#the-generated-code-contract)); the
`python-...-error` condition classes mirror Python's builtin exceptions
([Errors and conditions](../guides/errors.md))."
                "PYMODGEN")
    (with-open-file (out (merge-pathnames "lisp-py4cl2-cffi.md" dir)
                         :direction :output :if-exists :supersede :external-format :utf-8)
      (let* ((*package* (find-package "PY4CL2-CFFI"))
             (symbols (external-symbols "PY4CL2-CFFI"))
             (own (remove-if (lambda (s) (eq (symbol-package s) (find-package "PYMODGEN"))) symbols))
             (helpers (sort (copy-list (symbol-value (find-symbol "+PY4CL2-CFFI-HELPERS+" "PYMODGEN")))
                            #'string< :key #'symbol-name)))
        (format out "<!-- @generated by docs/tools/lisp-reference.lisp from the docstrings: ~
                     do not edit, run scripts/docs --bless -->~%~%# Lisp API: PY4CL2-CFFI~%~%")
        (format out "Package `PY4CL2-CFFI`, ASDF system `pymodgen/py4cl2-cffi` (the drop-in for ~
py4cl2-cffi; [Moving from py4cl2-cffi](../guides/py4cl2-cffi.md)). Its ~D external symbols ~
are the very symbols of `PYMODGEN` (documented in [PYMODGEN](lisp-pymodgen.md)), but for ~
the `%` contract and the condition classes of Python exceptions:~%~%~
~{[`~(~A~)`](lisp-pymodgen.md#~A)~^, ~}.~%"
                (length symbols)
                (loop for s in (set-difference symbols own) collect (symbol-name s) collect (anchor s)))
        (if own
            (format out "~%Symbols of its own: ~D.~%" (length own))
            (format out "~%It exports no symbol of its own.~%"))
        (dolist (s own) (write-symbol out s "PY4CL2-CFFI"))
        (format out "~%## Internal helpers reached with `py4cl2-cffi::`~%~%~
py4cl2-cffi's users call some of its internal functions with a double colon; these are there too:~%")
        (dolist (s (remove-if (lambda (s) (member s symbols)) helpers))
          (let ((*missing* '()))        ; internal: documented when they have a docstring
            (write-symbol out s "PY4CL2-CFFI")))))
    (cond (*missing*
           (format t "~&~D external symbols without a docstring:~%~{  ~A~%~}" (length *missing*)
                   (reverse *missing*))
           (finish-output)
           (uiop:quit 1))
          (t (uiop:quit 0)))))

(main (or (second sb-ext:*posix-argv*) (error "usage: lisp-reference.lisp OUT-DIR")))
