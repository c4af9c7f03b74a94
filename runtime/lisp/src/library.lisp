;;;; library.lisp -- choose the Python interpreter, load ITS libpython by full path, then
;;;; the C ABI library, libpymodgen_capi.so (crate pymodgen-capi): in a checkout, the cargo
;;;; build's (built when missing); installed from the wheel, the one in the chosen interpreter's
;;;; pymodgen package (never cargo).
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
  executable prefix libpython version major-minor
  ;; the C ABI library of the interpreter's installed pymodgen package (wheel), or NIL
  installed-library)

(defvar *python-config* nil "The chosen interpreter (a PYTHON-CONFIG), once loaded.")
(defvar *runtime-library-path* nil "Pathname of the loaded libpymodgen_capi.so.")

(defconstant +abi-version+ 3
  "The version of the C ABI this Lisp code is written for: the library's pmg_abi_version
(ABI_VERSION in runtime/capi/src/abi.rs) must return it.")

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
print('%d.%d.%d' % sys.version_info[:3]); print('%d.%d' % sys.version_info[:2])
# the installed pymodgen package (found, not imported; the current directory left out)
try:
    import importlib.util
    if sys.path and sys.path[0] == '':
        del sys.path[0]
    spec = importlib.util.find_spec('pymodgen')
    init = (spec and spec.origin) or ''
    if os.path.basename(init) == '__init__.py':
        print(os.path.join(os.path.dirname(init), '_capi' + sysconfig.get_config_var('EXT_SUFFIX')))
except Exception:
    pass")

(defun probe-python (exe)
  (multiple-value-bind (out err code)
      (ignore-errors
       (uiop:run-program (list exe "-c" +probe-code+)
                         :output :string :error-output :string :ignore-error-status t))
    (declare (ignore err))
    (when (and out (eql code 0))
      (destructuring-bind (&optional executable prefix lib version mm installed &rest rest)
          (uiop:split-string (string-right-trim '(#\Newline) out) :separator '(#\Newline))
        (declare (ignore rest))
        (when (and mm (probe-file lib))
          (make-python-config :executable executable :prefix prefix :libpython lib
                              :version version :major-minor mm
                              :installed-library (and installed (plusp (length installed))
                                                      installed)))))))

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

;;; Where this system was loaded from decides where its library comes from: runtime/lisp/ of
;;; a checkout (the cargo route above), or lisp/ inside the Python package `pymodgen` that the
;;; wheel installed (the library of the chosen interpreter's own pymodgen package). Anything
;;; else, such as a copy `cargo package` once left under target/package/, is refused.

(defun in-checkout-p ()
  "True when this system is runtime/lisp/ of a pymodgen checkout (a cargo workspace)."
  (let* ((here (asdf:system-source-directory "pymodgen"))
         (cargo (probe-file (merge-pathnames "../../Cargo.toml" here)))
         (self (probe-file (merge-pathnames "../../runtime/lisp/pymodgen.asd" here))))
    (and cargo self
         (equal self (probe-file (merge-pathnames "pymodgen.asd" here)))
         (search "[workspace]" (uiop:read-file-string cargo))
         t)))

(defun installed-package-directory ()
  "The directory of the Python package `pymodgen` (site-packages/pymodgen/) whose lisp/
this system is, when the pymodgen wheel installed it; else NIL."
  (let ((package (merge-pathnames "../" (asdf:system-source-directory "pymodgen"))))
    (and (probe-file (merge-pathnames "__init__.py" package))
         (probe-file (merge-pathnames "lisp.py" package))
         (probe-file package))))

(defun installed-for-interpreter (package)
  "The interpreter of the environment holding PACKAGE (<prefix>/lib/pythonX.Y/site-packages/
pymodgen/): <prefix>/bin/pythonX.Y when it exists, else NIL."
  (let* ((dirs (rest (pathname-directory package)))
         (site (position "site-packages" dirs :test #'equal :from-end t)))
    (when (and site (>= site 2) (equal "lib" (nth (- site 2) dirs)))
      (let ((exe (make-pathname :directory (append '(:absolute) (subseq dirs 0 (- site 2))
                                                   '("bin"))
                                :name (nth (1- site) dirs) :type nil :defaults package)))
        ;; the venv's own name for it, not the true name of its symlink
        (and (probe-file exe) exe)))))

(defun installed-runtime-library (python)
  "The C ABI library of the chosen interpreter's installed pymodgen package (the wheel built
it for that interpreter's version; LOAD-LIBRARIES checks it)."
  (let ((lib (python-installed-library python))
        (package (installed-package-directory)))
    (cond ((not package)
           (error "pymodgen: ~A is neither runtime/lisp/ of a pymodgen checkout nor the lisp/ ~
directory of an installed pymodgen package (a stale copy, such as one `cargo package` left ~
under target/package/?). Load the system from one of those, or set PYMODGEN_RUNTIME_LIB."
                  (uiop:native-namestring (asdf:system-source-directory "pymodgen"))))
          ((and lib (probe-file lib)))
          (lib
           (error "pymodgen: the pymodgen package of the chosen interpreter ~A (Python ~A) has ~
no C ABI library ~A: reinstall the pymodgen wheel built for Python ~A."
                  (python-executable python) (python-version python) lib
                  (python-major-minor python)))
          (t
           (let ((other (installed-for-interpreter package)))
             (error "pymodgen: the chosen interpreter ~A (Python ~A) has no pymodgen package. ~
Install the pymodgen wheel into it (~A -m pip install pymodgen), or choose the interpreter ~
these Lisp systems were installed with~@[: PYMODGEN_PYTHON=~A~]."
                    (python-executable python) (python-version python)
                    (python-executable python) (and other (uiop:native-namestring other))))))))

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
    (cond (env
           (or (probe-file env)
               (error "pymodgen: PYMODGEN_RUNTIME_LIB=~A does not exist" env)))
          ((in-checkout-p)
           (let ((p (default-runtime-library)))
             (unless (probe-file p) (build-runtime-library python))
             (or (probe-file p)
                 (error "pymodgen: ~A is still missing after cargo build" p))))
          (t (installed-runtime-library python)))))

(defun check-abi-version (lib version)
  "Refuses the library LIB when the C ABI VERSION it reports (NIL: it has no
pmg_abi_version) is not the one this Lisp code is written for."
  (unless (eql version +abi-version+)
    (error "pymodgen: ~A implements C ABI version ~A, but this Lisp runtime expects version ~D.
Use the library of the same pymodgen version as the Lisp code: rebuild it from this source
tree (cargo build --release -p pymodgen-capi), or point PYMODGEN_RUNTIME_LIB at a matching one."
           lib (or version "none (it predates pmg_abi_version)") +abi-version+)))

(defun load-libraries ()
  "Loads the chosen interpreter's libpython and the runtime cdylib (once)."
  (unless *python-config*
    (let* ((python (find-python))
           (lib (runtime-library-path python)))
      (cffi:load-foreign-library (python-libpython python))
      (cffi:load-foreign-library lib)
      (check-abi-version lib (let ((f (cffi:foreign-symbol-pointer "pmg_abi_version")))
                               (and f (cffi:foreign-funcall-pointer f () :int64))))
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
