;;;; library.lisp -- choose the Python interpreter, load ITS libpython by full path, then
;;;; the C ABI library, libpymodgen_capi.so (crate pymodgen-capi; in a checkout, built
;;;; with cargo when missing).
;;;;
;;;; Interpreter order (src/config.lisp, runtime/lisp/README.md): PYMODGEN/CONFIG's
;;;; *PYTHON-EXECUTABLE-PATH*, PYMODGEN_PYTHON, PYO3_PYTHON, VIRTUAL_ENV, CONDA_PREFIX, python3. The chosen interpreter is asked once (a subprocess) for sysconfig
;;;; LIBDIR + INSTSONAME, sys.executable, sys.prefix and its version. Its libpython is
;;;; dlopen'ed by full path with RTLD_GLOBAL (CFFI's default) before the cdylib, so the
;;;; cdylib's NEEDED libpython3.X.so resolves to it (never to a distribution copy found
;;;; first by the loader) and numpy's extension modules find the C API.

(in-package #:pymodgen)

(eval-when (:compile-toplevel :load-toplevel :execute)
(defstruct (python-config (:conc-name python-))
  executable prefix libpython version major-minor)

(defvar *python-config* nil "The chosen interpreter (a PYTHON-CONFIG), once loaded.")
(defvar *runtime-library-path* nil "Pathname of the loaded libpymodgen_capi.so.")

(defun getenv* (name)
  (let ((v (uiop:getenv name)))
    (and v (plusp (length v)) v)))

(defun candidate-pythons ()
  ;; the order, PYMODGEN/CONFIG:*PYTHON-EXECUTABLE-PATH* first: src/config.lisp
  (pymodgen/config::interpreter-candidates))

(defparameter +probe-code+
  "import sys, sysconfig, os
libdir = sysconfig.get_config_var('LIBDIR') or ''
so = sysconfig.get_config_var('INSTSONAME') or sysconfig.get_config_var('LDLIBRARY') or ''
print(sys.executable); print(sys.prefix); print(os.path.join(libdir, so))
print('%d.%d.%d' % sys.version_info[:3]); print('%d.%d' % sys.version_info[:2])")

(defun probe-python (exe)
  (multiple-value-bind (out err code)
      (ignore-errors
       (uiop:run-program (list exe "-c" +probe-code+)
                         :output :string :error-output :string :ignore-error-status t))
    (declare (ignore err))
    (when (and out (eql code 0))
      (destructuring-bind (&optional executable prefix lib version mm &rest rest)
          (uiop:split-string (string-right-trim '(#\Newline) out) :separator '(#\Newline))
        (declare (ignore rest))
        (when (and mm (probe-file lib))
          (make-python-config :executable executable :prefix prefix :libpython lib
                              :version version :major-minor mm))))))

(defun find-python ()
  (let ((tried '()))
    (dolist (exe (candidate-pythons))
      (let ((c (probe-python exe)))
        (when c (return-from find-python c))
        (push exe tried)))
    (error "pymodgen: no usable Python interpreter (with a shared libpython) found; tried ~{~A~^, ~}.
Set PYMODGEN_PYTHON to the interpreter to use." (reverse tried))))

(defun workspace-root ()
  ;; runtime/lisp/pymodgen.asd -> the cargo workspace two levels up
  (merge-pathnames "../../" (asdf:system-source-directory "pymodgen")))

(defun default-runtime-library ()
  (let ((target (getenv* "CARGO_TARGET_DIR")))
    (merge-pathnames "release/libpymodgen_capi.so"
                     (if target
                         (uiop:ensure-directory-pathname target)
                         (merge-pathnames "target/" (workspace-root))))))

(defun build-runtime-library (python)
  (let ((root (namestring (workspace-root))))
    (format *error-output* "~&; pymodgen: building libpymodgen_capi.so with cargo in ~A~%" root)
    (multiple-value-bind (out err code)
        (uiop:run-program
         (list "env" (format nil "PYO3_PYTHON=~A" (python-executable python))
               "cargo" "build" "--release" "-p" "pymodgen-capi")
         :directory root :output :string :error-output :string :ignore-error-status t)
      (declare (ignore out))
      (unless (eql code 0)
        (error "pymodgen: `cargo build --release -p pymodgen-capi` failed in ~A:~%~A" root err)))))

(defun runtime-library-path (python)
  (let ((env (getenv* "PYMODGEN_RUNTIME_LIB")))
    (if env
        (or (probe-file env)
            (error "pymodgen: PYMODGEN_RUNTIME_LIB=~A does not exist" env))
        (let ((p (default-runtime-library)))
          (unless (probe-file p) (build-runtime-library python))
          (or (probe-file p)
              (error "pymodgen: ~A is still missing after cargo build" p))))))

(defun load-libraries ()
  "Loads the chosen interpreter's libpython and the runtime cdylib (once)."
  (unless *python-config*
    (let* ((python (find-python))
           (lib (runtime-library-path python)))
      (cffi:load-foreign-library (python-libpython python))
      (cffi:load-foreign-library lib)
      (let ((built (cffi:foreign-string-to-lisp
                    (cffi:foreign-funcall-pointer
                     (cffi:foreign-symbol-pointer "pmg_built_python_version") () :pointer)))
            (loaded (cffi:foreign-string-to-lisp
                     (cffi:foreign-funcall-pointer (cffi:foreign-symbol-pointer "Py_GetVersion")
                                                   () :pointer))))
        (unless (string= built (python-major-minor python))
          (error "pymodgen: ~A was built for Python ~A but the chosen interpreter ~A is Python ~A.
Rebuild it (cargo build --release -p pymodgen-capi with PYO3_PYTHON=~A) or choose another
interpreter with PYMODGEN_PYTHON."
                 lib built (python-executable python) (python-version python)
                 (python-executable python)))
        (unless (eql 0 (search (python-version python) loaded))
          (error "pymodgen: the loaded libpython reports version ~A, expected ~A (~A)"
                 loaded (python-version python) (python-libpython python))))
      (setf *runtime-library-path* lib
            *python-config* python)))
  *python-config*))

;; Load at system load time, so the foreign functions below are defined when compiled.
(eval-when (:compile-toplevel :load-toplevel :execute)
  (load-libraries))
