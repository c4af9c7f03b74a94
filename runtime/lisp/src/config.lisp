;;;; config.lisp -- package PYMODGEN/CONFIG (nickname PY4CL2-CFFI/CONFIG): what is decided
;;;; before Python starts, py4cl2-cffi's configuration package with the same symbols.
;;;;
;;;; Loaded by the systems "pymodgen/config" and "py4cl2-cffi/config" before the runtime,
;;;; and cheap: one subprocess asks the interpreter for its version, ldflags and includes;
;;;; libpython is NOT loaded (the runtime loads it, after the user has set these variables).
;;;; The order in which the interpreter is chosen lives here (INTERPRETER-CANDIDATES); it
;;;; is documented in one place, runtime/lisp/README.md ("Choosing the interpreter").

(defpackage #:pymodgen/config
  (:use #:cl)
  (:nicknames #:py4cl2-cffi/config)
  (:export #:*python-executable-path*
           #:*python-ldflags*
           #:*python-ignore-ldflags*
           #:*python-includes*
           #:*python-site-packages-path*
           #:*disable-pystop*
           #:*python-call-mode*
           #:*pystart-verbosity*
           #:+python-version-string+
           #:print-configuration
           #:shared-library-from-ldflag))

(in-package #:pymodgen/config)

;;; (at compile time too: +PYTHON-VERSION-STRING+ is evaluated then)
(eval-when (:compile-toplevel :load-toplevel :execute)

(defun getenv* (name)
  (let ((v (uiop:getenv name)))
    (and v (plusp (length v)) v)))

(defvar *python-executable-path* (getenv* "PY4CL2_CONFIG_PYTHON_EXECUTABLE_PATH")
  "The Python interpreter to embed (a path or a command name on PATH), or NIL. Set it
before the runtime is loaded (its libpython is loaded then): an explicit choice here (or
from the environment variable PY4CL2_CONFIG_PYTHON_EXECUTABLE_PATH, its initial value)
wins over PYMODGEN_PYTHON and the rest of the order (runtime/lisp/README.md). NIL: that
order decides; PRINT-CONFIGURATION shows the result.")

(defun interpreter-candidates ()
  "The interpreters to try, in order (the first that runs and has a shared libpython is
used): *PYTHON-EXECUTABLE-PATH* (or PY4CL2_CONFIG_PYTHON_EXECUTABLE_PATH), PYMODGEN_PYTHON,
PYO3_PYTHON, $VIRTUAL_ENV/bin/python, $CONDA_PREFIX/bin/python, python3 on PATH."
  (remove nil
          (list (let ((p *python-executable-path*))
                  (and p (plusp (length (namestring p))) (namestring p)))
                (getenv* "PYMODGEN_PYTHON")
                (getenv* "PYO3_PYTHON")
                (let ((v (getenv* "VIRTUAL_ENV"))) (and v (format nil "~A/bin/python" v)))
                (let ((v (getenv* "CONDA_PREFIX"))) (and v (format nil "~A/bin/python" v)))
                "python3")))

;;; What the interpreter says about itself (sysconfig: what python3-config prints)

(defparameter +describe-code+
  "import sys, sysconfig
v = sysconfig.get_config_var
ver = '%d.%d' % sys.version_info[:2]
flags = ['-L' + (v('LIBDIR') or ''), '-lpython' + ver + getattr(sys, 'abiflags', '')]
flags += (v('LIBS') or '').split() + (v('SYSLIBS') or '').split()
inc = []
for p in (sysconfig.get_path('include'), sysconfig.get_path('platinclude')):
    if p and '-I' + p not in inc: inc.append('-I' + p)
print(sys.executable); print('%d.%d.%d' % sys.version_info[:3])
print(' '.join(flags)); print(' '.join(inc))")

(defun describe-python (exe)
  "(executable version ldflags includes) of the interpreter EXE, or NIL when it does not
run."
  (multiple-value-bind (out err code)
      (ignore-errors
       (uiop:run-program (list exe "-c" +describe-code+)
                         :output :string :error-output :string :ignore-error-status t))
    (declare (ignore err))
    (when (and out (eql code 0))
      (destructuring-bind (&optional executable version ldflags includes &rest rest)
          (uiop:split-string (string-right-trim '(#\Newline) out) :separator '(#\Newline))
        (declare (ignore rest))
        (when includes
          (list executable version
                (remove "" (uiop:split-string ldflags) :test #'string=)
                (remove "" (uiop:split-string includes) :test #'string=)))))))

(defun describe-chosen-python ()
  "(candidate executable version ldflags includes) of the interpreter the order chooses."
  (loop for exe in (interpreter-candidates)
        for d = (describe-python exe)
        when d return (cons exe d)))
)  ; eval-when

(eval-when (:compile-toplevel :load-toplevel :execute)
  (defvar *described* nil
    "DESCRIBE-CHOSEN-PYTHON when this package was loaded (also at compile time: the
constant below is evaluated then)."))
(eval-when (:compile-toplevel :load-toplevel :execute)
  (setf *described* (describe-chosen-python)))

(defconstant +python-version-string+
  (if (boundp '+python-version-string+)
      (symbol-value '+python-version-string+)
      (or (third *described*) ""))
  "The version (\"3.11.7\") of the interpreter chosen when this package was loaded (as
`python3 --version` prints it); \"\" when none was found. The running interpreter's
version is PYMODGEN:PYVERSION-INFO's, and PRINT-CONFIGURATION's.")

(declaim (type list *python-ldflags* *python-ignore-ldflags* *python-includes*
               *python-site-packages-path*))

(defvar *python-ldflags* (fourth *described*)
  "The chosen interpreter's link flags, as `python3-config --embed --ldflags` prints them
(from sysconfig): -L<libdir> -lpython3.X and the system libraries. Informational: pymodgen
compiles no C; it loads that interpreter's libpython by full path.")

(defvar *python-ignore-ldflags* '("-lpthread" "-ldl" "-lutil" "-lanl" "-lm" "-lrt")
  "Flags of *PYTHON-LDFLAGS* that name no library to load (left out by PYTHON-LIBRARIES).")

(defvar *python-includes* (fifth *described*)
  "The chosen interpreter's include flags, as `python3-config --includes` prints them.")

(defvar *python-site-packages-path* nil
  "Directories (strings or pathnames) added to the end of sys.path when Python starts
(PYSTART), after the interpreter's own sys.path (which already has its site-packages).")

(defvar *disable-pystop* nil
  "When true, PYSTOP does nothing (the session goes on).")

(deftype call-mode () '(member :multi-threaded :single-threaded :standard :dedicated-thread))
(declaim (type call-mode *python-call-mode*))
(defvar *python-call-mode* :multi-threaded
  ":MULTI-THREADED (the default): each Lisp thread calls Python itself, taking the GIL per
call. :SINGLE-THREADED: every Python call, from any Lisp thread, runs on one dedicated thread
that is Python's main thread (for libraries that insist on it: signal handlers, tkinter,
matplotlib's interactive backends). Read when the runtime is loaded: set it before (or load
the system \"py4cl2-cffi/single-threaded\"); PYMODGEN:+PYTHON-CALL-MODE+ is what was used.
:STANDARD and :DEDICATED-THREAD (py4cl2-cffi's later names) mean the same two modes.")

(defun normalized-call-mode (&optional (mode *python-call-mode*))
  (ecase mode
    ((:multi-threaded :standard) :multi-threaded)
    ((:single-threaded :dedicated-thread) :single-threaded)))

(defvar *pystart-verbosity* nil
  "Default of PYSTART's :VERBOSE: when true, PYSTART says what it started (interpreter,
version, libpython, runtime library, call mode).")

;;; Library names from link flags

(defgeneric shared-library-from-ldflag (ldflag operating-system)
  (:documentation "The file name of the shared library that LDFLAG (\"-lpython3.11\") names
on OPERATING-SYSTEM (a keyword, as UIOP:OPERATING-SYSTEM returns: :LINUX, :MACOSX, :WIN);
specialize it for other systems."))

(defmethod shared-library-from-ldflag (ldflag (operating-system (eql :linux)))
  (format nil "lib~A.so" (subseq ldflag 2)))

(defmethod shared-library-from-ldflag (ldflag (operating-system (eql :macosx)))
  (format nil "lib~A.dylib" (subseq ldflag 2)))

(defmethod shared-library-from-ldflag (ldflag (operating-system (eql :win)))
  (format nil "lib~A.dll" (subseq ldflag 2)))

(defun python-libraries (&optional (ldflags *python-ldflags*))
  "The shared libraries the -l flags of LDFLAGS name (minus *PYTHON-IGNORE-LDFLAGS*)."
  (loop for flag in ldflags
        when (and (> (length flag) 2) (string= "-l" flag :end2 2)
                  (not (member flag *python-ignore-ldflags* :test #'string=)))
          collect (shared-library-from-ldflag flag (uiop:operating-system))))

;;; What will be used

(defvar *runtime-configuration-function* nil
  "Set by the runtime once loaded: returns a plist (:executable :version :libpython
:runtime-library :call-mode :alive) of what it really uses.")

(defun print-configuration (&optional (stream *standard-output*))
  "Prints what pymodgen uses (or will use, before the runtime is loaded): the interpreter,
its version, libpython, the runtime library (the C ABI), the sys.path additions, the call
mode, and the interpreter's ldflags and includes."
  (let ((real (and *runtime-configuration-function* (funcall *runtime-configuration-function*))))
    (flet ((line (label value)
             (format stream "~&~A~28T~:[~A~;~(~S~)~]~%" label (keywordp value) value)))
      (cond (real
             (line "Python executable:" (getf real :executable))
             (line "Python version:" (getf real :version))
             (line "libpython:" (getf real :libpython))
             (line "runtime library (C ABI):" (getf real :runtime-library))
             (line "call mode:" (getf real :call-mode))
             (line "Python running:" (if (getf real :alive) "yes" "no (starts on first call)")))
            (t
             (let ((d (describe-chosen-python)))
               (line "Python executable:"
                     (if d (format nil "~A (~A)" (second d) (first d))
                         (format nil "none found; tried ~{~A~^, ~}" (interpreter-candidates))))
               (line "Python version:" (if d (third d) "?"))
               (line "libpython:" (format nil "~{~A~^ ~} (loaded with the runtime)"
                                          (python-libraries (and d (fourth d)))))
               (line "runtime library (C ABI):" "not loaded yet")
               (line "call mode:" (normalized-call-mode)))))
      (line "sys.path additions:" (format nil "~:[none~;~:*~{~A~^ ~}~]"
                                          (mapcar #'namestring *python-site-packages-path*)))
      (line "Python ldflags:" (format nil "~{~A~^ ~}" *python-ldflags*))
      (line "Python includes:" (format nil "~{~A~^ ~}" *python-includes*))
      (line "pystop disabled:" (if *disable-pystop* "yes" "no"))))
  (values))
