;;;; call-mode.lisp -- the runtime's side of PYMODGEN/CONFIG (src/config.lisp): the call
;;;; mode it was loaded with (+PYTHON-CALL-MODE+), sys.path additions at start, what
;;;; PYSTART :VERBOSE says, and what PRINT-CONFIGURATION reports once the runtime is loaded.

(in-package #:pymodgen)

(export '(+python-call-mode+) '#:pymodgen)

(defparameter *call-mode* (pymodgen/config::normalized-call-mode)
  "The call mode, decided when the runtime is loaded (the runtime reads this variable, never
the constant below: a compiler folds a constant into code, and a fasl compiled in one mode
may be loaded in the other).")

(defconstant +python-call-mode+ (pymodgen/config::normalized-call-mode)
  "The call mode this runtime was loaded with: :MULTI-THREADED (each Lisp thread calls Python
itself) or :SINGLE-THREADED (every call runs on Python's main thread), from
PYMODGEN/CONFIG:*PYTHON-CALL-MODE* when the runtime was loaded. Another mode needs a fresh
Lisp (Python starts once per process).")

(defun add-site-packages-paths ()
  "After start: appends PYMODGEN/CONFIG:*PYTHON-SITE-PACKAGES-PATH* to sys.path (each
directory once, also across PYSTOP/PYSTART)."
  (let ((paths (mapcar (lambda (p) (uiop:native-namestring p))
                       pymodgen/config:*python-site-packages-path*)))
    (when paths
      (pycall "lambda ps: __import__('sys').path.extend(
                 [p for p in dict.fromkeys(ps) if p not in __import__('sys').path])"
              (coerce paths 'vector))))
  nil)

;; (after the runtime's own start hook, before *ADDITIONAL-INIT-CODES*)
(unless (member 'add-site-packages-paths *after-start-hooks*)
  (setf *after-start-hooks* (append *after-start-hooks* (list 'add-site-packages-paths))))

(defun runtime-configuration ()
  "What this runtime uses: a plist for PYMODGEN/CONFIG:PRINT-CONFIGURATION."
  (let ((config (load-libraries)))
    (list :executable (python-executable config)
          :version (python-version config)
          :libpython (python-libpython config)
          :runtime-library (and *runtime-library-path* (namestring *runtime-library-path*))
          :call-mode *call-mode*
          :alive (python-alive-p))))

(setf pymodgen/config::*runtime-configuration-function* 'runtime-configuration)

(defun report-start (started)
  "PYSTART :VERBOSE's report: what runs (STARTED: whether this call started it)."
  (let ((c (runtime-configuration)))
    (format *standard-output* "~&; pymodgen: ~:[Python was already running~;started Python~]: ~
~A (Python ~A), libpython ~A, runtime library ~A, call mode ~(~S~)~@[, sys.path + ~{~A~^ ~}~]~%"
            started (getf c :executable) (getf c :version) (getf c :libpython)
            (getf c :runtime-library) (getf c :call-mode)
            (mapcar #'uiop:native-namestring pymodgen/config:*python-site-packages-path*))))

(defpmg "pmg_set_call_mode" :int (mode :int))
(defpmg "pmg_call_mode" :int)

(defun prepare-call-mode ()
  "Called by PYSTART before Python starts: puts the C ABI in the mode *CALL-MODE*
(the single-threaded mode starts its dedicated thread: runtime/capi/src/dedicated.rs)."
  (when (minusp (pmg-set-call-mode (if (eq *call-mode* :single-threaded) 1 0)))
    (signal-last-error)))
