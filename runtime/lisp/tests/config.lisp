;;;; tests/config.lisp -- py4cl2-cffi's configuration (package PY4CL2-CFFI/CONFIG, also
;;;; PYMODGEN/CONFIG), PYSTART :VERBOSE and the call modes (issue 20), used as py4cl2-cffi's
;;;; own code and README use them: the config system is loaded first, its variables set,
;;;; then the runtime loaded (in a fresh child Lisp).

(defpackage #:pymodgen-config-tests
  (:use #:cl #:py4cl2-cffi #:fiveam)
  (:import-from #:pymodgen-tests #:run-child-lisp))

(in-package #:pymodgen-config-tests)

(def-suite config :in pymodgen-tests::pymodgen
  :description "py4cl2-cffi/config, pystart :verbose and the call modes.")
(in-suite config)

(defun python-says (code) (pyeval code))

(defun contains (part whole) (and (search part whole) t))

(defmacro with-temporary-directory ((var) &body body)
  "BODY with VAR bound to the native namestring (ending in /) of a fresh directory,
deleted afterwards."
  `(let ((,var (format nil "~Apymodgen-config-~D-~D/"
                       (uiop:native-namestring (uiop:temporary-directory))
                       (pymodgen::%getpid) (random 1000000 (make-random-state t)))))
     (ensure-directories-exist ,var)
     (unwind-protect (progn ,@body)
       (uiop:delete-directory-tree (pathname ,var) :validate t :if-does-not-exist :ignore))))

(defun link-interpreter (directory name)
  "A symbolic link DIRECTORY/NAME to the running interpreter: another path to the same
Python (sys.executable reports the path it was started as)."
  (let ((link (concatenate 'string directory name)))
    (uiop:run-program (list "ln" "-s" (python-says "__import__('sys').executable") link))
    link))

(defun output-line (prefix output)
  "The rest of the line of OUTPUT that starts with PREFIX, or NIL."
  (let ((start (search (format nil "~%~A" prefix) (format nil "~%~A" output))))
    (and start
         (let ((from (+ start 1 (length prefix))))
           (subseq output (1- from) (position #\Newline output :start (1- from)))))))

;;; In this Lisp (multi-threaded, loaded without configuration)

(test configuration-values
  ;; as py4cl2-cffi computes them: the interpreter's version string and its python3-config
  ;; ldflags and includes
  (is (string= (python-says "__import__('platform').python_version()")
               py4cl2-cffi/config:+python-version-string+))
  (let ((mm (python-says "'%d.%d' % __import__('sys').version_info[:2]")))
    (is (member (format nil "-lpython~A~A" mm (python-says "__import__('sys').abiflags"))
                py4cl2-cffi/config:*python-ldflags* :test #'string=))
    (is (member (format nil "-L~A" (python-says "__import__('sysconfig').get_config_var('LIBDIR')"))
                py4cl2-cffi/config:*python-ldflags* :test #'string=))
    (is (member (format nil "-I~A" (python-says "__import__('sysconfig').get_path('include')"))
                py4cl2-cffi/config:*python-includes* :test #'string=))
    (is (member "-lm" py4cl2-cffi/config:*python-ignore-ldflags* :test #'string=))
    (is (equal (list (format nil "libpython~A.so" mm))
               (pymodgen/config::python-libraries (list "-lm" (format nil "-lpython~A" mm))))))
  (is (null py4cl2-cffi/config:*python-site-packages-path*))
  ;; (this suite also runs in the single-threaded mode: scripts/lisp-test)
  ;; (SYMBOL-VALUE: this file's fasl may have been compiled in the other mode)
  (is (eq (pymodgen/config::normalized-call-mode) (symbol-value '+python-call-mode+)))
  (is (eql (if (eq (symbol-value '+python-call-mode+) :single-threaded) 1 0)
           (pymodgen::pmg-call-mode)))
  (is (null pymodgen::+disable-pystop+)))

(test shared-library-from-ldflag
  (is (string= "libpython3.11.so"
               (py4cl2-cffi/config:shared-library-from-ldflag "-lpython3.11" :linux)))
  (is (string= "libpython3.11.dylib"
               (py4cl2-cffi/config:shared-library-from-ldflag "-lpython3.11" :macosx)))
  (is (string= "libpython3.11.dll"
               (py4cl2-cffi/config:shared-library-from-ldflag "-lpython3.11" :win)))
  (is (string= (format nil "lib~A.so" "z")
               (py4cl2-cffi/config:shared-library-from-ldflag "-lz" (uiop:operating-system))))
  (signals error (py4cl2-cffi/config:shared-library-from-ldflag "-lz" :no-such-os)))

(test print-configuration-reports-what-runs
  (pystart)
  (let ((text (with-output-to-string (s) (py4cl2-cffi/config:print-configuration s)))
        (config (pymodgen::load-libraries)))
    (is (contains (pymodgen::python-executable config) text))
    (is (contains (python-says "__import__('platform').python_version()") text))
    (is (contains (pymodgen::python-libpython config) text))
    (is (contains (namestring pymodgen::*runtime-library-path*) text))
    (is (contains (format nil "~(~S~)" (symbol-value '+python-call-mode+)) text))
    (is (contains "Python running:             yes" text))))

(test pystart-verbose
  (pystart)
  ;; already running: says so, with what runs
  (let ((text (with-output-to-string (*standard-output*) (pystart :verbose t))))
    (is (contains "Python was already running" text))
    (is (contains (pymodgen::python-libpython (pymodgen::load-libraries)) text)))
  (is (string= "" (with-output-to-string (*standard-output*) (pystart :verbose nil))))
  (is (string= "" (with-output-to-string (*standard-output*) (pystart))))
  ;; the default comes from *PYSTART-VERBOSITY*
  (let ((py4cl2-cffi/config:*pystart-verbosity* t))
    (is (contains "already running" (with-output-to-string (*standard-output*) (pystart))))))

(test disable-pystop
  (pystart)
  (pyexec "cfg_kept = 5")
  (let ((py4cl2-cffi/config:*disable-pystop* t))
    (is (eq t (pystop)))
    (is (python-alive-p))
    (is (eql 5 (pyeval "cfg_kept"))))
  ;; and PYSTOP works again once the variable is false
  (pystop)
  (is (not (python-alive-p)))
  (pystart)
  (signals pyerror (pyeval "cfg_kept")))

;;; In a fresh child Lisp: the configuration set before the runtime loads

(test config-before-runtime
  ;; py4cl2-cffi's README: load py4cl2-cffi/config, set the variables, then load the
  ;; runtime. The explicit interpreter wins over PYMODGEN_PYTHON; loading the config loads
  ;; no libpython and no runtime.
  (with-temporary-directory (dir)
    (let ((mine (link-interpreter dir "mypython"))
          (other (link-interpreter dir "otherpython"))
          (site (concatenate 'string dir "site/")))
      (ensure-directories-exist site)
      (with-open-file (s (concatenate 'string site "cfgmod.py") :direction :output)
        (write-line "answer = 42" s))
      (multiple-value-bind (out code)
          (run-child-lisp
           (list "(asdf:load-system \"py4cl2-cffi/config\")"
                 "(format t \"~&RUNTIME ~:[no~;yes~]~%\" (find-package \"PYMODGEN\"))"
                 "(format t \"~&LIBPYTHON ~:[no~;yes~]~%\" (search \"libpython\" (uiop:read-file-string \"/proc/self/maps\")))"
                 "(format t \"~&VERSION ~A~%\" py4cl2-cffi/config:+python-version-string+)"
                 (format nil "(setf py4cl2-cffi/config:*python-executable-path* ~S)" mine)
                 (format nil "(push ~S py4cl2-cffi/config:*python-site-packages-path*)" site)
                 "(setf py4cl2-cffi/config:*pystart-verbosity* t)"
                 "(handler-bind ((warning #'muffle-warning)) (asdf:load-system \"py4cl2-cffi\"))"
                 "(py4cl2-cffi:pystart)"
                 "(format t \"~&EXE ~A~%\" (py4cl2-cffi:pyeval \"__import__('sys').executable\"))"
                 "(format t \"~&ANSWER ~A~%\" (py4cl2-cffi:pyeval \"__import__('cfgmod').answer\"))"
                 "(format t \"~&MODE ~S~%\" py4cl2-cffi:+python-call-mode+)"
                 "(py4cl2-cffi/config:print-configuration)")
           :system nil :timeout 300
           :environment (list (format nil "PYMODGEN_PYTHON=~A" other)))
        (is (eql 0 code) "~A" out)
        (is (equal "no" (output-line "RUNTIME " out)) "~A" out)
        (is (equal "no" (output-line "LIBPYTHON " out)) "~A" out)
        (is (equal py4cl2-cffi/config:+python-version-string+ (output-line "VERSION " out)))
        (is (contains (format nil "started Python: ~A" mine) out) "~A" out)
        (is (equal mine (output-line "EXE " out)) "~A" out)
        (is (equal "42" (output-line "ANSWER " out)) "~A" out)
        (is (equal ":MULTI-THREADED" (output-line "MODE " out)) "~A" out)
        (is (contains site (output-line "sys.path additions:" out)) "~A" out)
        (is (contains mine (output-line "Python executable:" out)) "~A" out)))))

(test executable-path-environment-variable
  ;; PY4CL2_CONFIG_PYTHON_EXECUTABLE_PATH sets *PYTHON-EXECUTABLE-PATH*, and so the
  ;; interpreter, over PYMODGEN_PYTHON
  (with-temporary-directory (dir)
    (let ((mine (link-interpreter dir "envpython"))
          (other (link-interpreter dir "otherpython")))
      (multiple-value-bind (out code)
          (run-child-lisp
           (list "(format t \"~&VAR ~A~%\" py4cl2-cffi/config:*python-executable-path*)"
                 "(format t \"~&EXE ~A~%\" (pymodgen:pyeval \"__import__('sys').executable\"))")
           :timeout 300
           :environment (list (format nil "PY4CL2_CONFIG_PYTHON_EXECUTABLE_PATH=~A" mine)
                              (format nil "PYMODGEN_PYTHON=~A" other)))
        (is (eql 0 code) "~A" out)
        (is (equal mine (output-line "VAR " out)) "~A" out)
        (is (equal mine (output-line "EXE " out)) "~A" out)))))

;;; The single-threaded call mode, in a child Lisp that selects it

(defparameter +single-threaded-checks+
  '("(defvar cl-user::*caller* 0)"
    "(py4cl2-cffi:pyexec \"import threading, signal, time\")"
    ;; from four Lisp threads, every call runs on Python's main thread, signal.signal works
    "(format t \"~&MAIN ~S~%\"
       (mapcar #'bt:join-thread
         (loop for k below 4 collect
           (bt:make-thread
             (lambda ()
               (and (loop repeat 200 always (eq t (py4cl2-cffi:pyeval \"threading.current_thread() is threading.main_thread()\")))
                    (eql 0 (py4cl2-cffi:pyeval \"signal.signal(signal.SIGUSR1, signal.SIG_IGN) and 0\"))
                    (eq t (py4cl2-cffi:pyeval \"signal.getsignal(signal.SIGUSR1) is signal.SIG_IGN\"))))))))"
    ;; a callback runs in the Lisp thread that made the call, with its special bindings;
    ;; Python calls made inside it run on the main thread again
    "(format t \"~&CALLBACK ~S~%\"
       (bt:join-thread
         (bt:make-thread
           (lambda ()
             (let ((cl-user::*caller* 7) (me (bt:current-thread)))
               (py4cl2-cffi:pycall \"list\"
                 (py4cl2-cffi:pycall \"map\"
                   (lambda (x)
                     (list x (eq me (bt:current-thread)) cl-user::*caller*
                           (py4cl2-cffi:pyeval \"threading.current_thread().name\")))
                   #(1 2))))))))"
    ;; errors with tracebacks, non-local exits out of callbacks, output capture
    "(format t \"~&ERROR ~A~%\" (handler-case (py4cl2-cffi:pyexec (format nil \"def f(): return 1/0~%f()\"))
                                    (py4cl2-cffi:pyerror (e) (list (py4cl2-cffi:pyerror-type e) (and (search \"in f\" (py4cl2-cffi:pyerror-traceback e)) t)))))"
    "(format t \"~&THROW ~S~%\" (catch 'out (py4cl2-cffi:pycall \"list\" (py4cl2-cffi:pycall \"map\" (lambda (x) (throw 'out (* 10 x))) #(4 5)))))"
    "(format t \"~&LISP-ERROR ~S~%\" (handler-case (py4cl2-cffi:pycall \"list\" (py4cl2-cffi:pycall \"map\" (lambda (x) (error \"bad ~A\" x)) #(7))) (simple-error (e) (princ-to-string e))))"
    "(format t \"~&OUTPUT ~S~%\" (string-trim '(#\\Newline) (py4cl2-cffi:with-python-output (py4cl2-cffi:pyexec \"print('out', threading.current_thread() is threading.main_thread())\"))))"
    "(format t \"~&GIL ~S~%\" (py4cl2-cffi:with-python-gil (list (py4cl2-cffi:pyeval \"1+1\") (py4cl2-cffi:pyeval \"threading.current_thread().name\"))))"
    ;; a thread Python started calls a Lisp callback that calls Python: no deadlock
    "(format t \"~&PYTHREAD ~S~%\" (py4cl2-cffi:pycall (py4cl2-cffi:pyeval \"lambda f: (lambda r, t: (t.start(), t.join(), r[0])[2])(r := [None], threading.Thread(target=lambda: r.__setitem__(0, f(3))))\") (lambda (x) (format nil \"~A ~A\" x (py4cl2-cffi:pyeval \"threading.current_thread() is threading.main_thread()\")))))"
    ;; an interrupt (a timeout) ends a long Python call made by another Lisp thread
    "(format t \"~&TIMEOUT ~S~%\" (bt:join-thread (bt:make-thread (lambda () (let ((t0 (get-internal-real-time))) (handler-case (bt:with-timeout (1) (py4cl2-cffi:pyexec \"time.sleep(20)\") :slept) (bt:timeout () (list :timeout (< (- (get-internal-real-time) t0) (* 10 internal-time-units-per-second))))))))))"
    "(format t \"~&AFTER ~S~%\" (py4cl2-cffi:pyeval \"threading.current_thread() is threading.main_thread()\"))")
  "Forms run in a child Lisp in the single-threaded mode, each printing a line.")

(test single-threaded-mode
  ;; py4cl2-cffi/single-threaded selects the mode before the runtime loads; every call from
  ;; every Lisp thread runs on Python's main thread, and the rest keeps working
  (multiple-value-bind (out code)
      (run-child-lisp
       (append
        (list "(handler-bind ((warning #'muffle-warning)) (asdf:load-system \"py4cl2-cffi/single-threaded\"))"
              "(format t \"~&MODE ~S ~S~%\" py4cl2-cffi:+python-call-mode+ py4cl2-cffi/config:*python-call-mode*)"
              "(format t \"~&SAME ~A~%\" (eq 'py4cl2-cffi:pycall 'py4cl2-cffi/single-threaded:pycall))"
              "(py4cl2-cffi:pystart :verbose t)")
        +single-threaded-checks+)
       :system nil :timeout 300)
    (is (eql 0 code) "~A" out)
    (is (equal ":SINGLE-THREADED :SINGLE-THREADED" (output-line "MODE " out)) "~A" out)
    (is (equal "T" (output-line "SAME " out)) "~A" out)
    (is (contains "call mode :single-threaded" out) "~A" out)
    (is (equal "(T T T T)" (output-line "MAIN " out)) "~A" out)
    (is (equal "#((1 T 7 \"MainThread\") (2 T 7 \"MainThread\"))" (output-line "CALLBACK " out))
        "~A" out)
    (is (equal "(ZeroDivisionError T)" (output-line "ERROR " out)) "~A" out)
    (is (equal "40" (output-line "THROW " out)) "~A" out)
    (is (equal "\"bad 7\"" (output-line "LISP-ERROR " out)) "~A" out)
    (is (equal "\"out True\"" (output-line "OUTPUT " out)) "~A" out)
    (is (equal "(2 \"MainThread\")" (output-line "GIL " out)) "~A" out)
    (is (equal "\"3 NIL\"" (output-line "PYTHREAD " out)) "~A" out)
    (is (equal "(:TIMEOUT T)" (output-line "TIMEOUT " out)) "~A" out)
    (is (equal "T" (output-line "AFTER " out)) "~A" out)))

(test single-threaded-matplotlib
  ;; matplotlib drawn from two Lisp threads, written to a PNG
  (with-temporary-directory (dir)
    (let ((png (concatenate 'string dir "figure.png")))
      (multiple-value-bind (out code)
          (run-child-lisp
           (list "(handler-bind ((warning #'muffle-warning)) (asdf:load-system \"py4cl2-cffi/single-threaded\"))"
                 "(py4cl2-cffi:pyexec \"import matplotlib; matplotlib.use('Agg'); import matplotlib.pyplot as plt\")"
                 "(bt:join-thread (bt:make-thread (lambda () (py4cl2-cffi:pyexec \"fig, ax = plt.subplots()\") (py4cl2-cffi:pycall \"ax.plot\" #(1 2 3) #(1 4 9)))))"
                 (format nil "(bt:join-thread (bt:make-thread (lambda () (py4cl2-cffi:pycall \"ax.set_title\" \"two threads\") (py4cl2-cffi:pycall \"fig.savefig\" ~S))))" png)
                 "(format t \"~&SAVED~%\")")
           :system nil :timeout 300 :environment (list "MPLBACKEND=Agg"))
        (is (eql 0 code) "~A" out)
        (is (contains "SAVED" out) "~A" out)
        (is (probe-file png) "~A" out)
        (when (probe-file png)
          (with-open-file (s png :element-type '(unsigned-byte 8))
            (let ((magic (make-array 4 :element-type '(unsigned-byte 8))))
              (read-sequence magic s)
              (is (equalp #(137 80 78 71) magic))
              (is (> (file-length s) 1000)))))))))
