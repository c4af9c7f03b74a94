;;;; defpymodule.lisp -- DEFPYMODULE and DEFPYFUN on top of the pymodgen generator, the
;;;; argument parsing of generated functions, and the load-time module version check
;;;; (recompile-on-change).
;;;;
;;;; Generated code (see templates/lisp/ and docs/lisp-bindings.md) calls, besides the
;;;; runtime's %CALLABLE-CELL / %CALL-CELL / %MODULE-HASH:
;;;;   %CALL-PYTHON-STYLE  -- Python's calling convention over a &REST list;
;;;;   %MODULE-ATTRIBUTE   -- a module attribute's current value;
;;;;   %CHECK-MODULE-HASH  -- the recompile-on-change check, last file of every system.
;;;; Private names start with % (generated code never defines one: Python names cannot).

(in-package #:pymodgen)

;;; The user-facing names of this file (package.lisp exports DEFPYMODULE and DEFPYFUN).
(export '(*on-module-change* module-changed module-changed-warning module-changed-error
          module-changed-module module-changed-system module-changed-version
          module-changed-change module-changed-recorded-hash module-changed-live-hash
          regenerate regenerate-system
          *pymodgen-executable* *defpymodule-directory* pymodgen-executable
          pymodgen-generation-error python-argument-error)
        '#:pymodgen)

;;; ------------------------------------------------------------------------------------
;;; Calls with Python's argument conventions

(defun %python-keyword-name (key)
  "The Python name for a keyword given to a function taking **kwargs: :FOO-BAR -> \"foo_bar\".
A string is taken as the exact Python name (for names kebab-case cannot spell: \"camelCase\")."
  (etypecase key
    (string key)
    (symbol (substitute #\_ #\- (string-downcase (symbol-name key))))))

(define-condition python-argument-error (program-error simple-condition) ()
  (:report (lambda (c s) (apply #'format s (simple-condition-format-control c)
                                (simple-condition-format-arguments c))))
  (:documentation "A call of a generated function (or DEFPYFUN function) that Python would
reject: a required argument missing or given twice, too many positional arguments, an
unknown keyword, a keyword without a value. The message names the function and the
parameter. A PROGRAM-ERROR, signalled before Python is called."))

;; CELL, when it is a callable cell, names the function: "pymodgen_fixture.add: ...".
(defun %argument-error (cell control &rest args)
  (error 'python-argument-error
         :format-control "~:[~*~;~:*~A~{.~A~}: ~]~?"
         :format-arguments (list (cond ((callable-cell-p cell) (callable-cell-module cell))
                                       ((name-cell-p cell) (name-cell-name cell)))
                                 (and (callable-cell-p cell) (callable-cell-path cell))
                                 control args)))

(defun %call-name-cell (cell positional kw-plist)
  "%CALL-CELL for a name-cell (DEFPYFUN of a __main__ or builtins name, resolved at each
call). KW-PLIST: Python names and values."
  (declare (list positional kw-plist))
  (if (or kw-plist (some #'keywordp positional))
      (progn (unless *alive* (python-start-if-not-alive))
             (invoke-general cell positional
                             (loop for (k v) on kw-plist by #'cddr collect (cons k v))
                             (if *remote* :wrapper :lisp)))
      (%invoke cell positional)))

(declaim (inline %call-target))
(defun %call-target (cell positional kw-plist)
  "%CALL-CELL on a callable cell or a name-cell."
  (if (callable-cell-p cell)
      (%call-cell cell positional kw-plist)
      (%call-name-cell cell positional kw-plist)))

(defun %call-python-style (cell positional args spec)
  "Calls CELL as Python would: POSITIONAL (the Lisp-required arguments, a fresh list) then
ARGS, whose leading elements are further positional arguments and whose tail, from the
first keyword argument on, is a plist of keyword arguments (where a string key is an exact
Python name, for **kwargs).

SPEC is #(N-OPTIONAL REST-P KWARGS-P KEYS N-REQUIRED SLOTS). ARGS has N-REQUIRED required
positional slots, then at most N-OPTIONAL optional ones (any number with REST-P). KEYS is a
plist from keyword to Python parameter name; with KWARGS-P other keywords (and strings) are
passed as **kwargs. SLOTS lists the positional slots of ARGS in order: the keyword of a
positional-or-keyword parameter, the Python name (a string) of a positional-only one.
N-REQUIRED and SLOTS may be missing (bindings generated before they existed): 0 and ().

Reading ARGS (docs/lisp-bindings.md, \"Lambda lists\"): an element that is not a keyword is
a positional value. A keyword that is neither in KEYS nor accepted as **kwargs is a
positional value too (so :NONE-like values can be passed positionally). A keyword the
function takes starts the keyword arguments (Python's reading), except while a required
slot is still open: then it does so only if that slot takes a keyword and the whole rest of
ARGS is well-formed keyword arguments, and is a positional value otherwise (the reading of
bindings where required parameters were positional only). A required parameter given
neither way, or given both positionally and by keyword (or twice by keyword), is a
PYTHON-ARGUMENT-ERROR. Arguments not given are not passed: Python applies its defaults."
  (declare (list positional args) (simple-vector spec))
  (let ((n-required (if (> (length spec) 4) (svref spec 4) 0))
        (n 0))
    (declare (fixnum n-required n))
    ;; Fast path: no keyword at all, enough and not too many arguments: ARGS are all
    ;; positional (the caller's &rest list, passed as is: %CALL-CELL does not keep it).
    (when (and (dolist (x args t)
                 (when (keywordp x) (return nil))
                 (incf n))
               (>= n n-required)
               (or (svref spec 1) (<= n (+ n-required (the fixnum (svref spec 0))))))
      (return-from %call-python-style
        (%call-target cell (if positional (nconc positional args) args) nil)))
    (%call-python-style-parsed cell positional args spec)))

(defun %undot-keywords (args keys)
  "ARGS with py4cl2-cffi's keywords for parameters named like Lisp constants (:.NIL, :.T
for Python nil, t) read as the keywords the function takes (:NIL, :T)."
  (if (loop for x in args never (and (keywordp x) (> (length (symbol-name x)) 1)
                                    (char= #\. (char (symbol-name x) 0))))
      args
      (loop for x in args
            collect (let ((plain (and (keywordp x) (> (length (symbol-name x)) 1)
                                      (char= #\. (char (symbol-name x) 0))
                                      (find-symbol (subseq (symbol-name x) 1) :keyword))))
                      (if (and plain (getf keys plain) (not (getf keys x))) plain x)))))

(defun %call-python-style-parsed (cell positional args spec)
  "%CALL-PYTHON-STYLE when ARGS has keywords, or too few or too many positional arguments:
read by %PARSE-PYTHON-ARGUMENTS (generated.lisp), errors naming CELL's function."
  (declare (list positional args) (simple-vector spec))
  (multiple-value-bind (extra keywords)
      (%parse-python-arguments (%undot-keywords args (svref spec 3)) spec
                               :error (lambda (control &rest arguments)
                                        (apply #'%argument-error cell control arguments)))
    (%call-target cell
                  (if extra (nconc positional extra) positional)
                  (loop for (name . value) in keywords collect name collect value))))

(defun %module-attribute (module name)
  "The current value of attribute NAME of the Python module MODULE, lispified."
  (%call-cell (load-time-value (%callable-cell "builtins" "getattr"))
              (list (%call-cell (load-time-value (%callable-cell "importlib" "import_module"))
                                (list module) nil)
                    name)
              nil))

(defun %attribute (object name)
  "The attribute NAME of the Python OBJECT (a wrapper or a Lisp value), lispified."
  (%call-cell (load-time-value (%callable-cell "builtins" "getattr")) (list object name) nil))

(defun %set-attribute (object name value)
  "Sets the attribute NAME of the Python OBJECT to VALUE; returns VALUE."
  (%call-cell (load-time-value (%callable-cell "builtins" "setattr")) (list object name value) nil)
  value)

;;; ------------------------------------------------------------------------------------
;;; Finding and running the generator

(defvar *pymodgen-executable* nil
  "The pymodgen command DEFPYMODULE and DEFPYFUN run. When NIL: the environment variable
PYMODGEN_EXECUTABLE, else the pymodgen binary of the source tree this runtime comes from
(the newer of target/release/pymodgen and target/debug/pymodgen), else \"pymodgen\" on PATH.")

(defvar *defpymodule-directory* nil
  "Where DEFPYMODULE writes generated systems. When NIL: PYMODGEN_LISP_DIR, else
$XDG_CACHE_HOME/pymodgen/lisp/ (~/.cache/pymodgen/lisp/).")

(define-condition pymodgen-generation-error (error)
  ((module :initarg :module :reader pymodgen-generation-error-module)
   (command :initarg :command :reader pymodgen-generation-error-command)
   (message :initarg :message :reader pymodgen-generation-error-message))
  (:report (lambda (c s)
             (format s "pymodgen could not generate bindings for the Python module ~S:~%~A~%(command: ~{~A~^ ~})"
                     (pymodgen-generation-error-module c)
                     (pymodgen-generation-error-message c)
                     (pymodgen-generation-error-command c))))
  (:documentation "DEFPYMODULE or DEFPYFUN could not generate bindings for a module (the
generator failed or was not found): the module, the generator's message and its command."))

(defun pymodgen-executable ()
  "The generator command, found as *PYMODGEN-EXECUTABLE* describes."
  (or *pymodgen-executable*
      (getenv* "PYMODGEN_EXECUTABLE")
      (let* ((root (ignore-errors (workspace-root)))
             (built (and root
                         (remove nil (mapcar (lambda (rel) (probe-file (merge-pathnames rel root)))
                                             '("target/release/pymodgen" "target/debug/pymodgen"))))))
        ;; The newer of the two, so a stale release build does not shadow a fresh debug one.
        (and built
             (namestring (first (sort built #'> :key #'file-write-date)))))
      "pymodgen"))

(defun defpymodule-directory ()
  (uiop:ensure-directory-pathname
   (or *defpymodule-directory*
       (getenv* "PYMODGEN_LISP_DIR")
       (uiop:xdg-cache-home "pymodgen" "lisp/"))))

(defun %python-executable ()
  "The interpreter the runtime uses (or will use), so bindings and runtime agree."
  (ignore-errors (python-executable (or *python-config* (find-python)))))

(defun %module-search-root (module)
  "The sys.path entry the live interpreter finds MODULE's top-level package under (NIL for
built-in modules or when Python is not running), so the generator finds it too."
  (when (python-alive-p)
    (ignore-errors
     (let ((root (pyeval (format nil "(lambda s: (s.submodule_search_locations and __import__('os').path.dirname(list(s.submodule_search_locations)[0])) or (s.origin and __import__('os').path.isfile(s.origin) and __import__('os').path.dirname(s.origin)) or '')(__import__('importlib.util').util.find_spec(~S))"
                                 (subseq module 0 (position #\. module))))))
       (and (stringp root) (plusp (length root)) root)))))

(defun run-pymodgen (module out &key submodules silent)
  "Runs `pymodgen generate MODULE --lang lisp --out OUT` with the runtime's interpreter (and
the directory the live interpreter finds MODULE in) and returns the system directory."
  (let* ((python (%python-executable))
         (root (%module-search-root module))
         (command (append (list (pymodgen-executable) "generate" module "--lang" "lisp"
                                "--out" (namestring out))
                          (and submodules (list "--submodules"))
                          (and python (list "--python" python))
                          (and root (list "--pythonpath" root)))))
    (multiple-value-bind (output error-output code)
        (handler-case (uiop:run-program command :output :string :error-output :string
                                                :ignore-error-status t)
          (error (e)
            (error 'pymodgen-generation-error
                   :module module :command command
                   :message (format nil "~A~%Install pymodgen, or set pymodgen:*pymodgen-executable* ~
                                         or PYMODGEN_EXECUTABLE to its path." e))))
      (unless (eql code 0)
        (error 'pymodgen-generation-error :module module :command command
                                          :message (string-trim '(#\Newline #\Space) error-output)))
      (unless silent
        (format t "~&; ~A~%" (string-trim '(#\Newline #\Space) output)))
      (let ((asd (first (directory (merge-pathnames (make-pathname :directory '(:relative :wild-inferiors)
                                                                   :name :wild :type "asd")
                                                    out)))))
        (unless asd
          (error 'pymodgen-generation-error :module module :command command
                                            :message (format nil "no .asd file under ~A" out)))
        (uiop:pathname-directory-pathname asd)))))

(defun system-files (dir)
  "The .asd file of the system in DIR and its components' source files, in load order."
  (let* ((asd (first (directory (merge-pathnames "*.asd" dir))))
         (form (with-open-file (s asd) (with-standard-io-syntax (let ((*read-eval* nil)) (read s)))))
         (components (getf (cddr form) :components)))
    (values asd
            (loop for (nil name) in components
                  collect (merge-pathnames (make-pathname :name name :type "lisp") dir)))))

;;; ------------------------------------------------------------------------------------
;;; Reading generated files (with packages renamed) into forms

(defun %rename-package-form (form renames)
  "FORM with its DEFPACKAGE / IN-PACKAGE name mapped through RENAMES (an alist of strings)."
  (flet ((rename (name) (or (cdr (assoc (string name) renames :test #'string=)) (string name))))
    (cond ((and (consp form) (eq (first form) 'cl:defpackage))
           (list* 'cl:defpackage (rename (second form)) (cddr form)))
          ((and (consp form) (eq (first form) 'cl:in-package))
           (list 'cl:in-package (rename (second form))))
          (t form))))

(defun read-generated-forms (files renames)
  "Reads the forms of FILES (generated code), creating the packages they define (renamed
through RENAMES) as it goes, so later files read into them. Returns the forms without the
IN-PACKAGE forms, in order."
  (let ((forms '()))
    (with-standard-io-syntax
      (let ((*package* (find-package "CL-USER"))
            (*read-eval* nil))
        (dolist (file files)
          (with-open-file (s file :external-format :utf-8)
            (loop for form = (read s nil s)
                  until (eq form s)
                  do (let ((form (%rename-package-form form renames)))
                       (cond ((and (consp form) (eq (first form) 'cl:in-package))
                              (setf *package* (find-package (second form))))
                             (t
                              (when (and (consp form) (eq (first form) 'cl:defpackage))
                                (eval form))
                              (push form forms)))))))))
    (nreverse forms)))

(defun %package-renames (check-form lisp-package)
  "Maps the packages of a generated system to those under LISP-PACKAGE (NUMPY -> NP, NUMPY.X -> NP.X)."
  (let* ((plist (rest check-form))
         (root (getf plist :lisp-package))
         (new (string-upcase (string lisp-package))))
    (loop for p in (let ((ps (getf plist :packages))) (if (eq (car ps) 'quote) (second ps) ps))
          collect (cons p (if (string= p root)
                              new
                              (concatenate 'string new (subseq p (length root))))))))

;;; ------------------------------------------------------------------------------------
;;; recompile-on-change

(defvar *on-module-change* :warn
  "What generated bindings do at load time when the Python module changed since they were
generated (its module version hash differs):
  :WARN        signal a MODULE-CHANGED-WARNING and keep the loaded bindings (default);
  :ERROR       signal a MODULE-CHANGED-ERROR, with restarts REGENERATE and CONTINUE;
  :REGENERATE  regenerate the system's files and load them (ASDF recompiles the fasls on the
               next load);
  NIL          do not check (no Python work at load time).")

(define-condition module-changed (condition)
  ((system :initarg :system :initform nil :reader module-changed-system
           :documentation "The name of the generated ASDF system, or NIL (DEFPYMODULE).")
   (module :initarg :module :reader module-changed-module
           :documentation "The Python module whose bindings were checked (a string).")
   (version :initarg :version :initform nil :reader module-changed-version
            :documentation "The module's distribution version at generation time, or NIL.")
   (change :initarg :change :initform nil :reader module-changed-change
           :documentation "What changed, one phrase: the interpreter, the module's version, or
its source or extension files.")
   (recorded-hash :initarg :recorded-hash :reader module-changed-recorded-hash
                  :documentation "The module version hash the bindings were generated from.")
   (live-hash :initarg :live-hash :reader module-changed-live-hash
              :documentation "The module version hash now."))
  (:report (lambda (c s)
             (format s "The Python module ~A changed since ~:[its bindings~;~:*the bindings in system ~S~] ~
                        were generated (from ~A~@[ ~A~]): ~A (module version hash ~A then, ~A now). ~
                        Regenerate them (restart REGENERATE, or set pymodgen:*on-module-change* ~
                        to :regenerate)."
                     (module-changed-module c) (module-changed-system c)
                     (module-changed-module c) (module-changed-version c)
                     (or (module-changed-change c) "its files, its version, the interpreter or pymodgen changed")
                     (module-changed-recorded-hash c) (module-changed-live-hash c))))
  (:documentation "Generated bindings were loaded for a Python module that changed since
they were generated (its files, its version, the interpreter or pymodgen): the load-time
check of *ON-MODULE-CHANGE*. Signalled as MODULE-CHANGED-WARNING or MODULE-CHANGED-ERROR."))

(defun %what-changed (module generator version python)
  "One phrase saying what differs between generation time and now (computed on a mismatch)."
  (let* ((info (ignore-errors (pycall (module-hash-function) module generator)))
         (live-version (let ((v (and (hash-table-p info) (gethash "version" info))))
                         (if (stringp v) v "")))
         (live-python (let ((v (ignore-errors (pyeval "__import__('platform').python_version()"))))
                        (if (stringp v) v nil)))
         (version (or version "")))
    (cond ((and python live-python (string/= python live-python))
           (format nil "the interpreter changed (Python ~A then, ~A now)" python live-python))
          ((string/= version live-version)
           (format nil "its version changed (~:[none~;~:*~A~] then, ~:[none~;~:*~A~] now)"
                   (and (plusp (length version)) version)
                   (and (plusp (length live-version)) live-version)))
          (t "its source or extension files changed (same version)"))))

(define-condition module-changed-warning (module-changed warning) ()
  (:documentation "MODULE-CHANGED as a warning (*ON-MODULE-CHANGE* :WARN): the loaded bindings
are kept."))
(define-condition module-changed-error (module-changed error) ()
  (:documentation "MODULE-CHANGED as an error (*ON-MODULE-CHANGE* :ERROR), with the restarts
REGENERATE and CONTINUE."))

(defun regenerate-system (system module &key submodules silent)
  "Regenerates the files of the generated ASDF SYSTEM (for Python MODULE) in place and loads
them. Returns the system directory."
  (let* ((dir (asdf:system-source-directory system))
         (tmp (uiop:ensure-directory-pathname
               (format nil "~Apymodgen-regenerate-~D-~D/" (uiop:temporary-directory)
                       (getpid*) (random 1000000 (make-random-state t))))))
    (unwind-protect
         (let ((new (run-pymodgen module tmp :submodules submodules :silent silent)))
           (dolist (file (directory (merge-pathnames "*.*" new)))
             (uiop:copy-file file (merge-pathnames (file-namestring file) dir)))
           (multiple-value-bind (asd files) (system-files dir)
             (declare (ignore asd))
             (let ((*on-module-change* nil))
               (dolist (file files) (load file)))))
      (uiop:delete-directory-tree tmp :validate t :if-does-not-exist :ignore))
    dir))

(defun getpid* () (or (ignore-errors (%getpid)) (get-universal-time)))

(defun %check-module-hash (&key system module version python hash generator submodules
                             lisp-package packages)
  "The load-time check of a generated system (its last file): compares the recorded module
version HASH with the live module's and acts per *ON-MODULE-CHANGE*."
  (declare (ignore lisp-package packages))
  (when *on-module-change*
    (let ((live (%module-hash module generator)))
      (unless (equal live hash)
        (let ((args (list :system system :module module
                          :version (and version (plusp (length version)) version)
                          :change (%what-changed module generator version python)
                          :recorded-hash hash :live-hash live)))
          (ecase *on-module-change*
            (:warn (apply #'warn 'module-changed-warning args))
            (:error
             (restart-case (apply #'error 'module-changed-error args)
               (regenerate ()
                 :report "Regenerate the bindings and load them."
                 (regenerate-system system module :submodules submodules))
               (continue ()
                 :report "Keep the bindings as generated.")))
            (:regenerate (regenerate-system system module :submodules submodules))))))))

;;; ------------------------------------------------------------------------------------
;;; DEFPYMODULE

(defparameter +reserved-packages+
  '("5AM" "ALEXANDRIA" "ASDF" "BABEL" "BORDEAUX-THREADS" "BT" "CFFI" "CL" "CL-USER" "COMMON-LISP"
    "COMMON-LISP-USER" "FIVEAM" "KEYWORD" "PY4CL2-CFFI" "PYMODGEN" "TG" "TRIVIAL-GARBAGE" "UIOP")
  "Packages a binding must never redefine (the emitter renames modules named like these
to PY.<NAME>, e.g. Python's keyword module to PY.KEYWORD).")

(defun %check-lisp-package (name)
  (when (or (member name +reserved-packages+ :test #'string=)
            (and (> (length name) 3) (string= "SB-" name :end2 3)))
    (error "defpymodule: :lisp-package ~S would redefine the Lisp package of that name; ~
            choose another" name)))

(defun %generated-system (pymodule-name import-submodules lisp-package silent)
  "Generates (or reuses) the bindings of PYMODULE-NAME. Returns the generated files but the
check file, the package renames for LISP-PACKAGE, the recorded check plist and the system
directory."
  (let* ((out (merge-pathnames (make-pathname :directory (list :relative
                                                               (string-downcase (or lisp-package pymodule-name))
                                                               (if import-submodules "with-submodules" "module")))
                               (defpymodule-directory)))
         (dir (run-pymodgen pymodule-name out :submodules import-submodules :silent silent)))
    (multiple-value-bind (asd files) (system-files dir)
      (declare (ignore asd))
      ;; The check form names the packages; read it first to know the renames.
      (let* ((check-file (car (last files)))
             (check (with-open-file (s check-file)
                      (with-standard-io-syntax
                        (let ((*package* (find-package "PYMODGEN")) (*read-eval* nil))
                          (loop for form = (read s nil s)
                                until (eq form s)
                                when (and (consp form) (eq (first form) '%check-module-hash))
                                  return form)))))
             (renames (and lisp-package (%package-renames check lisp-package))))
        (values (butlast files) renames (rest check) dir)))))

(defun %generate-module-forms (pymodule-name import-submodules lisp-package silent)
  "Generates (or reuses) the bindings of PYMODULE-NAME and returns their forms, with
packages renamed under LISP-PACKAGE, and the recorded check plist."
  (multiple-value-bind (files renames check)
      (%generated-system pymodule-name import-submodules lisp-package silent)
    (values (read-generated-forms files renames) check)))

;;; ------------------------------------------------------------------------------------
;;; Compiled bindings: what DEFPYMODULE loads
;;;
;;; DEFPYMODULE never inlines a module's definitions into its expansion (a form SBCL would
;;; compile as one function when it is not at top level: hundreds of MB of heap for pandas).
;;; It compiles the generated files (their packages renamed) once into fasls kept beside the
;;; generated system, per implementation, recompiling a file only when the generator's
;;; output changed, and LOADs them; its expansion is one small call naming those fasls. So
;;; it costs the same at top level, inside LET, HANDLER-BIND or a function, at the REPL or
;;; in a compiled file.

(defvar *loaded-bindings* (%make-synchronized-hash-table :test #'equal)
  "fasl namestring -> its FILE-WRITE-DATE when this image loaded it.")

(defvar *bindings-lock* (bt:make-recursive-lock "pymodgen defpymodule bindings"))

(defun %bindings-directory (system-dir lisp-package)
  (merge-pathnames (make-pathname :directory (list :relative "compiled"
                                                   (string-downcase (or lisp-package "-"))
                                                   (uiop:implementation-identifier)))
                   system-dir))

(defun %write-renamed-source (file renames target)
  "Writes the forms of the generated FILE, with packages renamed through RENAMES, to TARGET
(read and printed with standard syntax). The packages FILE defines must exist (earlier files
are loaded first)."
  (let ((forms '()))
    (with-standard-io-syntax
      (let ((*package* (find-package "CL-USER")) (*read-eval* nil))
        (with-open-file (s file :external-format :utf-8)
          (loop for form = (read s nil s)
                until (eq form s)
                do (let ((form (%rename-package-form form renames)))
                     (push (cons *package* form) forms)
                     (cond ((and (consp form) (eq (first form) 'cl:in-package))
                            (setf *package* (find-package (second form))))
                           ((and (consp form) (eq (first form) 'cl:defpackage))
                            (eval form)))))))
      (let ((tmp (make-pathname :name (format nil "~A-tmp~D" (pathname-name target) (getpid*))
                                :defaults target)))
        (with-open-file (s tmp :direction :output :if-exists :supersede :external-format :utf-8)
          (format s ";;;; ~A with packages renamed, for DEFPYMODULE (written by pymodgen)~%"
                  (file-namestring file))
          (loop for (package . form) in (nreverse forms)
                do (let ((*package* package) (*print-readably* t) (*print-circle* nil)
                         (*print-pretty* nil))
                     (terpri s) (prin1 form s) (terpri s))))
        (uiop:rename-file-overwriting-target tmp target)))))

(defun %same-file-contents-p (a b)
  (and (probe-file a) (probe-file b)
       (with-open-file (sa a :element-type '(unsigned-byte 8))
         (with-open-file (sb b :element-type '(unsigned-byte 8))
           (and (= (file-length sa) (file-length sb))
                (let ((ba (make-array (file-length sa) :element-type '(unsigned-byte 8)))
                      (bb (make-array (file-length sb) :element-type '(unsigned-byte 8))))
                  (read-sequence ba sa) (read-sequence bb sb)
                  (equalp ba bb)))))))

(defun %runtime-date ()
  "The newest write date of the runtime files whose macros compiled bindings expand (a
binding fasl older than this is compiled again, as ASDF recompiles a system after its
dependency changed)."
  (reduce #'max (mapcar (lambda (name)
                          (or (ignore-errors
                               (file-write-date (asdf:system-relative-pathname "pymodgen" name)))
                              0))
                        '("src/generated.lisp" "src/defpymodule.lisp" "src/call.lisp"))))

(defun %load-bindings-fasl (fasl force)
  "LOADs FASL when FORCE, or unless this image loaded it already as it is now."
  (let ((key (namestring fasl)) (date (file-write-date fasl)))
    (unless (and (not force) (eql (gethash key *loaded-bindings*) date))
      (let ((*load-verbose* nil) (*load-print* nil))
        (handler-bind ((style-warning #'muffle-warning))
          (load fasl)))
      (setf (gethash key *loaded-bindings*) date))))

(defun %build-bindings (pymodule-name import-submodules lisp-package silent)
  "Generates (or reuses) the bindings of PYMODULE-NAME, compiles what changed and loads the
fasls (those this image has loaded as they are are not loaded again). Returns the plist
%LOAD-DEFPYMODULE takes."
  (multiple-value-bind (files renames check system-dir)
      (%generated-system pymodule-name import-submodules lisp-package silent)
    (bt:with-recursive-lock-held (*bindings-lock*)
      (let* ((bdir (%bindings-directory system-dir lisp-package))
             (packages (loop for p in (let ((ps (getf check :packages)))
                                        (if (eq (car ps) 'quote) (second ps) ps))
                             collect (or (cdr (assoc p renames :test #'string=)) p)))
             (stale nil)
             (runtime-date (%runtime-date))
             ;; (the packages were deleted since they were loaded: load every file again)
             (force (notevery #'find-package packages))
             (fasls
               (loop for file in files
                     collect
                     (let* ((name (pathname-name file))
                            (copy (make-pathname :name name :type "generated" :defaults bdir))
                            (source (make-pathname :name name :type "lisp" :defaults bdir))
                            (fasl (make-pathname :name name :type +bindings-fasl-type+ :defaults bdir)))
                       (ensure-directories-exist bdir)
                       ;; the generator's text changed (or first time): new renamed source
                       (unless (and (probe-file source) (%same-file-contents-p file copy))
                         (%write-renamed-source file renames source)
                         (uiop:copy-file file copy)
                         (setf stale t))
                       ;; a changed file may change the packages later files read into: from
                       ;; the first changed file on, every file is compiled again
                       (when (or stale (not (probe-file fasl))
                                 (< (file-write-date fasl)
                                    (max (file-write-date source) runtime-date)))
                         (setf stale t)
                         (let ((tmp (make-pathname :name (format nil "~A-tmp~D" name (getpid*))
                                                   :defaults fasl)))
                           (handler-bind ((style-warning #'muffle-warning))
                             (with-compilation-unit (:override t)
                               (unless (%compile-bindings-file source tmp)
                                 (error "defpymodule: compiling the bindings of ~A failed (~A)"
                                        pymodule-name source))))
                           (uiop:rename-file-overwriting-target tmp fasl)))
                       (%load-bindings-fasl fasl force)
                       (namestring fasl)))))
        (list :module pymodule-name :submodules import-submodules :lisp-package lisp-package
              :fasls fasls :packages packages :check check)))))

(defun %load-defpymodule (bindings recompile-on-change)
  "What a DEFPYMODULE form does when evaluated or loaded: loads the compiled BINDINGS (the
plist of %BUILD-BINDINGS; generated and compiled again if they are gone from the cache),
then checks the module version hash. T."
  (destructuring-bind (&key module submodules lisp-package fasls packages check) bindings
    (if (let ((runtime-date (%runtime-date)))
          (every (lambda (f) (and (probe-file f) (>= (file-write-date f) runtime-date))) fasls))
        (bt:with-recursive-lock-held (*bindings-lock*)
          (let ((force (notevery #'find-package packages)))
            (dolist (fasl fasls) (%load-bindings-fasl fasl force))))
        (%build-bindings module submodules lisp-package t))
    (%check-defpymodule-hash module (getf check :hash) (getf check :generator)
                             (getf check :version) recompile-on-change submodules
                             lisp-package (getf check :python))
    t))

(defun %check-defpymodule-hash (module hash generator version recompile-on-change import-submodules
                                lisp-package &optional python)
  "The load-time check of a DEFPYMODULE expansion with :cache t."
  (when *on-module-change*
    (let ((live (%module-hash module generator)))
      (unless (equal live hash)
        (let ((args (list :module module :version (and version (plusp (length version)) version)
                          :change (%what-changed module generator version python)
                          :recorded-hash hash :live-hash live :system recompile-on-change)))
          (cond (recompile-on-change
                 (apply #'warn 'module-changed-warning args)
                 (%defpymodule-load-time module import-submodules lisp-package t)
                 (%recompile-system recompile-on-change))
                (t (ecase *on-module-change*
                     (:warn (apply #'warn 'module-changed-warning args))
                     (:error (restart-case (apply #'error 'module-changed-error args)
                               (regenerate () :report "Regenerate the bindings and load them."
                                 (%defpymodule-load-time module import-submodules lisp-package t))
                               (continue () :report "Keep the bindings as generated.")))
                     (:regenerate (%defpymodule-load-time module import-submodules lisp-package t))))))))))

(defun %recompile-system (system)
  "Recompiles the ASDF SYSTEM: now, or, when called while ASDF is loading (a nested
COMPILE-SYSTEM :FORCE is refused), on its next load, by deleting its fasls."
  ;; (ASDF 3.3's session; older ASDFs, e.g. ECL's 3.1.8, allow the nested compilation)
  (let ((session (and (find-package "ASDF/SESSION") (find-symbol "*ASDF-SESSION*" "ASDF/SESSION"))))
    (if (and session (boundp session) (symbol-value session))
        (labels ((walk (c)
                   (if (typep c 'asdf:parent-component)
                       (mapc #'walk (asdf:component-children c))
                       (when (typep c 'asdf:cl-source-file)
                         (dolist (f (asdf:output-files 'asdf:compile-op c))
                           (when (probe-file f) (delete-file f)))))))
          (walk (asdf:find-system system)))
        (asdf:compile-system system :force t))))

(defun %defpymodule-load-time (pymodule-name import-submodules lisp-package silent)
  "DEFPYMODULE without cache: generate (or reuse) and load the compiled bindings now."
  (%build-bindings pymodule-name import-submodules lisp-package silent)
  t)

;;; api.lisp reserves DEFPYMODULE (a placeholder) and has a pycall-style DEFPYFUN; the
;;; generator-based macros below replace them, and DEFPYFUN falls back to the pycall-style
;;; expansion for what the generator cannot bind (global names such as "len", a module the
;;; generator fails on).
(eval-when (:compile-toplevel :load-toplevel :execute)
  (let ((old (macro-function 'defpyfun)))
    (when (and old (not (get 'defpyfun 'generator-based)))
      (setf (get 'defpyfun 'pycall-expander) old)))
  (fmakunbound 'defpyfun)
  (fmakunbound 'defpymodule))

;;; The reference's lambda lists mix &optional and &key (py4cl2-cffi compatibility): SBCL
;;; would note it with a style-warning, muffled here.
(%locally-muffling-style-warnings
(defmacro defpymodule (pymodule-name &optional (import-submodules nil)
                       &key (cache t) (continue-ignoring-errors t)
                         (lisp-package nil) (reload t)
                         (recompile-on-change nil) (safety t) (silent *defpymodule-silent-p*))
  "Import a python module (and its submodules) as a lisp-package(s), through the pymodgen
generator. Example: (defpymodule \"math\" nil :lisp-package \"M\") (m:sqrt 4) ; => 2.0d0

PYMODULE-NAME: the Python module. IMPORT-SUBMODULES: also bind its public submodules
(packages NAME.SUB). CACHE: if non-NIL, generate at macroexpansion time: the DEFPACKAGE and
DEFUN forms go into the fasl, and loading it does not run the generator again.
CONTINUE-IGNORING-ERRORS: if generation fails, warn and expand to NIL instead of signalling.
LISP-PACKAGE: the package of the module (submodules go under it); by default the upcased
module name (PY.<NAME> for a name the image already uses, such as keyword). RECOMPILE-ON-CHANGE: the
ASDF system to recompile when the Python module changed (needs CACHE); without it, a change
is handled per *ON-MODULE-CHANGE*. RELOAD: if NIL and the package exists, do nothing.
SAFETY: accepted for compatibility; generated calls are always safe (the cached callable is
looked up again after PYSTOP/PYSTART). SILENT: prints status lines when NIL.

The generator is found as *PYMODGEN-EXECUTABLE* describes; it is given the runtime's
interpreter. Generated systems live under *DEFPYMODULE-DIRECTORY*."
  (declare (ignore safety))
  (%check-argument defpymodule pymodule-name string
                   "a Python module name (a string such as \"numpy\" or \"matplotlib.pyplot\")")
  (%check-argument defpymodule lisp-package (or null string symbol)
                   "NIL or a package name (a string or a symbol) for :LISP-PACKAGE")
  (let ((lisp-package (and lisp-package (string-upcase (string lisp-package)))))
    (when lisp-package (%check-lisp-package lisp-package))
    (cond
      ((and (not reload) (find-package (or lisp-package (string-upcase pymodule-name)))) t)
      ((not cache)
       `(%defpymodule-load-time ,pymodule-name ,import-submodules ,lisp-package ,silent))
      (t
       (handler-bind ((pymodgen-generation-error
                        (lambda (e)
                          (when continue-ignoring-errors
                            (warn "~A" e)
                            (return-from defpymodule nil)))))
         ;; generated, compiled and loaded now (so the rest of a file being compiled sees
         ;; the packages, functions and compiler macros); the expansion loads the fasls
         `(%load-defpymodule
           ',(%build-bindings pymodule-name import-submodules lisp-package silent)
           ',recompile-on-change)))))))

;;; ------------------------------------------------------------------------------------
;;; DEFPYFUN

(defun %substitute-package-symbols (form from to)
  "FORM with every symbol of package FROM replaced by the symbol of the same name in TO."
  (labels ((walk (x)
             (cond ((and (symbolp x) (eq (symbol-package x) from)) (intern (symbol-name x) to))
                   ((consp x) (cons (walk (car x)) (walk (cdr x))))
                   ((and (simple-vector-p x)) (map 'simple-vector #'walk x))
                   (t x))))
    (walk form)))

(defun %defun-for (forms module attribute)
  "The generated DEFUN in FORMS that calls MODULE.ATTRIBUTE."
  (labels ((calls-p (x)
             (cond ((and (consp x) (eq (first x) '%callable-cell))
                    (and (equal (second x) module) (equal (third x) attribute)))
                   ((consp x) (or (calls-p (car x)) (calls-p (cdr x))))
                   (t nil))))
    ;; generated functions are DEFUNs inside %DEFINE-PYTHON-FUNCTION (generated.lisp)
    (find-if (lambda (f) (and (consp f) (member (first f) '(cl:defun %define-python-function)) (calls-p f)))
             forms)))

(defun %defpyfun-form (fun-name pymodule-name lisp-fun-name lisp-package)
  (let* ((module (or pymodule-name
                     (let ((dot (position #\. fun-name :from-end t)))
                       (unless dot
                         (error "defpyfun: ~S has no module; give PYMODULE-NAME" fun-name))
                       (subseq fun-name 0 dot))))
         (attribute (if pymodule-name fun-name (subseq fun-name (1+ (position #\. fun-name :from-end t)))))
         (private (format nil "PYMODGEN.DEFPYFUN.~A" (string-upcase module)))
         (forms (%generate-module-forms module nil private t))
         (defun (or (%defun-for forms module attribute)
                    (error "defpyfun: the Python module ~A has no public callable ~A" module attribute)))
         (package (if (packagep lisp-package) lisp-package (find-package lisp-package)))
         (name (intern (string lisp-fun-name) package)))
    (list* (first defun) name
           (%substitute-package-symbols (cddr defun) (find-package private) package))))

(%locally-muffling-style-warnings
(defmacro defpyfun (&whole whole fun-name &optional pymodule-name
                    &key (as fun-name) (cache t) (lisp-fun-name (lispify-name as))
                      (lisp-package *package*) (safety t)
                    &environment env)
  "Defines a function which calls the Python callable FUN-NAME of PYMODULE-NAME (or a
dotted FUN-NAME), with the lambda list and docstring pymodgen generates for it.
Example: (defpyfun \"sqrt\" \"math\") (sqrt 42) ; => 6.48...d0 in your package.
AS: the Lisp-side name to derive LISP-FUN-NAME from. CACHE: if non-NIL the function is
generated at macroexpansion time, else when the form is evaluated. LISP-PACKAGE: where
LISP-FUN-NAME is interned. SAFETY: accepted for compatibility (calls are always safe)."
  (declare (ignore safety))
  (%check-argument defpyfun fun-name string
                   "a Python function name (a string such as \"sqrt\" or \"math.sqrt\")")
  (%check-argument defpyfun pymodule-name (or null string)
                   "NIL or a Python module name (a string such as \"math\")")
  (%check-argument defpyfun as string "a Python name (a string) for :AS")
  (%check-argument defpyfun lisp-fun-name (or string symbol)
                   "a function name (a string or a symbol) for :LISP-FUN-NAME")
  (unless (or (packagep lisp-package)
              (and (typep lisp-package '(or string symbol character)) (find-package lisp-package)))
    (%bad-argument 'defpyfun lisp-package '(or package string symbol)
                   "a package, or the name of an existing one, for :LISP-PACKAGE"))
  (flet ((fallback ()
           (let ((expander (get 'defpyfun 'pycall-expander)))
             (if expander
                 (funcall expander whole env)
                 (error "defpyfun: cannot bind ~S" fun-name)))))
    (cond ((or (equal pymodule-name "") (not (or pymodule-name (find #\. fun-name)))) (fallback))
          ((not cache)
           `(eval (%defpyfun-form ,fun-name ,pymodule-name ,lisp-fun-name ,lisp-package)))
          (t (handler-case (%defpyfun-form fun-name pymodule-name lisp-fun-name lisp-package)
               (pymodgen-generation-error () (fallback))))))))

(eval-when (:compile-toplevel :load-toplevel :execute)
  (setf (get 'defpyfun 'generator-based) t))
