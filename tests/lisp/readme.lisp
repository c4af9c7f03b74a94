;;;; readme.lisp -- the reference's README examples, verbatim, through DEFPYMODULE; DEFPYFUN;
;;;; a fasl compiled with DEFPYMODULE :cache t loads without running the generator.

(in-package #:pymodgen-bindings-tests)

(def-suite readme :in bindings :description "py4cl2-cffi README examples on generated bindings.")
(in-suite readme)

(defun eval-string (string)
  "Reads and evaluates STRING in CL-USER (using PYMODGEN), the way a REPL user types it."
  (let ((*package* (or (find-package "PYMODGEN-BINDINGS-USER")
                       (make-package "PYMODGEN-BINDINGS-USER" :use '("CL" "PYMODGEN")))))
    (let ((values '()))
      (with-input-from-string (s string)
        (loop for form = (read s nil s)
              until (eq form s)
              do (setf values (multiple-value-list (eval form)))
                 (setf * (first values))))
      (values-list values))))

(def-test math-as-m ()
  (is (eq t (eval-string "(defpymodule \"math\" nil :lisp-package \"M\")")))
  (is (= 2 (eval-string "(m:sqrt 4)")))
  (is (= 3 (eval-string "(m:log 8 2)")))
  ;; typeshed's math.sqrt(x: _SupportsFloatOrIndex, /) -> float: the arglist shows the type
  (let ((arglist (%function-lambda-list (eval-string "'m:sqrt"))))
    (is (= 1 (length arglist)))
    (if pymodgen::+declared-arglists+
        (is (eql 0 (search "X: " (symbol-name (first arglist)))))
        (skip "~A shows a declared lambda list only for functions compiled in a file (these are EVAL's)"
              (lisp-implementation-type)))))

(def-test numpy-readme ()
  (is (eq t (eval-string "(defpymodule \"numpy\" t :silent t)")))
  (let ((a (eval-string "(numpy.random:random '(2 3 4))")))
    (is (equal '(2 3 4) (array-dimensions a)))
    (is (typep (aref a 0 0 0) 'double-float))
    (let ((s (eval-string "(numpy:sum * :axis '(0 2))")))
      (is (= 3 (length s)))
      (is (< (abs (- (aref s 0) (loop for i below 2 sum (loop for k below 4 sum (aref a i 0 k))))) 1d-9)))
    (let ((m (eval-string "(with-lispifiers ((array (lambda (o) (list :matrix (array-dimensions o)))))
                             (numpy.random:random '(3 4)))")))
      (is (equal '(:matrix (3 4)) m))))
  (is (= 6 (eval-string "(numpy:prod '(1 2 3))")))
  (is (search "Sum of array elements" (documentation (eval-string "'numpy:sum") 'function))))

(def-test matplotlib-png ()
  (raw-pyexec "import matplotlib; matplotlib.use('Agg')")
  (let* ((dir (first (generate '("matplotlib.pyplot"))))
         (png (merge-pathnames "plot.png" *out*)))
    (multiple-value-bind (warnings style error) (load-generated dir)
      (is (null error) "~A" error)
      (is (null warnings) "~{~A~^~%~}" warnings)
      (is (null style) "~{~A~^~%~}" style))
    (when (probe-file png) (delete-file png))
    (call "matplotlib.pyplot" "figure")
    (call "matplotlib.pyplot" "plot" '(1 2 3 4) '(1 4 9 16) :label "squares")
    (call "matplotlib.pyplot" "title" "pymodgen")
    (call "matplotlib.pyplot" "savefig" (namestring png))
    (call "matplotlib.pyplot" "close" "all")
    (is (probe-file png))
    (with-open-file (s png :element-type '(unsigned-byte 8))
      (let ((magic (make-array 4 :element-type '(unsigned-byte 8))))
        (read-sequence magic s)
        (is (equalp #(137 80 78 71) magic))))))

(def-test defpyfun-on-the-generator ()
  (eval-string "(defpyfun \"sqrt\" \"math\" :lisp-fun-name \"PY-SQRT\")")
  (let ((f (find-symbol "PY-SQRT" "PYMODGEN-BINDINGS-USER")))
    (is (= 4 (funcall f 16)))
    (is (search "square root" (documentation f 'function)))
    (is (= 1 (length (%function-lambda-list f))))))

(def-test cached-fasl-does-not-run-the-generator ()
  (let* ((dir (merge-pathnames "fasl-test/" *out*))
         (source (merge-pathnames "uses-defpymodule.lisp" dir)))
    (ensure-directories-exist source)
    (with-open-file (s source :direction :output :if-exists :supersede)
      (format s "(pymodgen:defpymodule \"json\" nil :lisp-package \"JSON-FASL-TEST\" :silent t)~%"))
    (let ((fasl (compile-file source)))
      (is (not (null fasl)))
      (delete-package "JSON-FASL-TEST")
      (let ((pymodgen::*pymodgen-executable* "/nonexistent/pymodgen"))
        (load fasl))
      (is (string= "[1, 2]" (call "json-fasl-test" "dumps" '(1 2)))))))

(def-test defpymodule-without-cache ()
  (is (equal '(pymodgen::%defpymodule-load-time "json" nil "JSON-NOCACHE" t)
             (let ((*package* (find-package "PYMODGEN")))
               (macroexpand-1 '(defpymodule "json" nil :cache nil :lisp-package "JSON-NOCACHE" :silent t))))
      "the generator runs when the form is evaluated, not when it is expanded")
  (is (eq t (eval-string "(defpymodule \"json\" nil :cache nil :lisp-package \"JSON-NOCACHE\" :silent t)")))
  (is (string= "[1, 2]" (call "json-nocache" "dumps" '(1 2))))
  (is (eq t (eval-string "(defpymodule \"json\" nil :reload nil :lisp-package \"JSON-NOCACHE\")"))
      ":reload nil leaves an existing package alone"))

(def-test reserved-package-names ()
  ;; Python's keyword module must not redefine the KEYWORD package.
  (is (eq t (eval-string "(defpymodule \"keyword\" nil :silent t)")))
  (is (find-package "PY.KEYWORD"))
  (is (eq t (call "py.keyword" "iskeyword" "def")))
  (is (eq (find-package "KEYWORD") (symbol-package :test)))
  (is (null (find-symbol "ISKEYWORD" "KEYWORD")))
  (delete-package "PY.KEYWORD")         ; the stdlib sweep binds keyword again
  (signals error (macroexpand-1 '(defpymodule "json" nil :lisp-package "CL"))))

;;; DEFPYMODULE anywhere: inside HANDLER-BIND, LET, a function, a compiled file's
;;; non-top-level form. It used to inline every definition of the module into one form,
;;; which SBCL compiles as one function when it is not at top level (matplotlib.pyplot and
;;; json in one HANDLER-BIND: 19 s and a 1 GB peak; pandas and pyplot: heap exhausted). It
;;; now loads the module's compiled bindings, and costs what it costs at top level.

(defun run-fresh-lisp-forms (forms &key (timeout 900))
  "Evaluates FORMS (strings) in a fresh Lisp of this implementation, with its default heap,
pymodgen loaded and DEFPYMODULE writing under *OUT*, killed after TIMEOUT seconds. Returns
the output and the exit code."
  (multiple-value-bind (out err code)
      (uiop:run-program
       (append (list "timeout" "-s" "KILL" (princ-to-string timeout))
               (pymodgen::%lisp-command
                (append (list "(require :asdf)"
                              (format nil "(push ~S asdf:*central-registry*)"
                                      (asdf:system-source-directory "pymodgen"))
                              "(handler-bind ((warning #'muffle-warning)) (asdf:load-system \"pymodgen\"))"
                              (format nil "(setf pymodgen:*defpymodule-directory* ~S)"
                                      (merge-pathnames "defpymodule-anywhere/" *out*)))
                        forms)))
       :output :string :error-output :output :ignore-error-status t)
    (declare (ignore err))
    (values out code)))

(defparameter +peak-rss-form+
  "(defun cl-user::peak-rss-mb ()
     (ignore-errors
      (with-open-file (s \"/proc/self/status\")
        (loop for line = (read-line s nil) while line
              when (and (> (length line) 6) (string= \"VmHWM:\" line :end2 6))
                return (round (parse-integer line :start 6 :junk-allowed t) 1024)))))"
  "Defines CL-USER::PEAK-RSS-MB in a child: the process's peak resident set (Linux), or NIL.")

(def-test defpymodule-costs-the-same-anywhere ()
  ;; PYMODGEN_TEST_PANDAS=1 binds pandas too (the slow long mode: pandas and matplotlib.pyplot
  ;; in one HANDLER-BIND exhausted SBCL's default heap)
  (let* ((pandas (equal (uiop:getenv "PYMODGEN_TEST_PANDAS") "1"))
         (file (merge-pathnames "defpymodule-anywhere/uses-when.lisp" *out*)))
    (ensure-directories-exist file)
    (with-open-file (s file :direction :output :if-exists :supersede)
      (write-string "(in-package :cl-user)
(when t (pymodgen:defpymodule \"colorsys\" nil :lisp-package \"ANY-CS\" :silent t))
(defun use-colorsys () (any-cs:rgb-to-hsv 1 0 0))
" s))
    (multiple-value-bind (out code)
        (run-fresh-lisp-forms
         (list +peak-rss-form+
               "(pymodgen:pystart)"
               "(defvar cl-user::*before* (cl-user::peak-rss-mb))"
               (format nil "(handler-bind ((warning #'muffle-warning))
                  ~:[~;(pymodgen:defpymodule \"pandas\" nil :lisp-package \"ANY-PD\" :silent t)~]
                  (pymodgen:defpymodule \"matplotlib.pyplot\" nil :lisp-package \"ANY-PLT\" :silent t)
                  (pymodgen:defpymodule \"json\" nil :lisp-package \"ANY-JSON\" :silent t))" pandas)
               "(format t \"~&GROWTH ~A~%\" (and cl-user::*before* (- (cl-user::peak-rss-mb) cl-user::*before*)))"
               "(format t \"~&LET ~A~%\" (let ((x 2)) (pymodgen:defpymodule \"textwrap\" nil :lisp-package \"ANY-TW\" :silent t) x))"
               "(defun cl-user::bind-math () (pymodgen:defpymodule \"math\" nil :lisp-package \"ANY-MATH\" :silent t))"
               "(format t \"~&FUNCTION ~A~%\" (cl-user::bind-math))"
               (format nil "(load (compile-file ~S :output-file ~S))" (namestring file)
                       (namestring (make-pathname :type nil :name "uses-when-compiled" :defaults file)))
               "(format t \"~&JSON ~A~%\" (funcall (find-symbol \"DUMPS\" \"ANY-JSON\") '(1 2)))"
               "(format t \"~&PLOT ~A~%\" (and (fboundp (find-symbol \"PLOT\" \"ANY-PLT\")) t))"
               "(format t \"~&DEDENT ~S~%\" (funcall (find-symbol \"DEDENT\" \"ANY-TW\") \"  x\"))"
               "(format t \"~&SQRT ~A~%\" (funcall (find-symbol \"SQRT\" \"ANY-MATH\") 16))"
               "(format t \"~&HSV ~A~%\" (funcall 'cl-user::use-colorsys))"
               (if pandas
                   "(format t \"~&PANDAS ~A~%\" (pymodgen:pycall \"len\" (funcall (find-symbol \"DATE-RANGE\" \"ANY-PD\") \"2020-01-01\" :periods 3)))"
                   "(format t \"~&PANDAS 3~%\")")))
      (is (eql 0 code) "~A" out)
      (dolist (expected '("LET 2" "FUNCTION T" "JSON [1, 2]" "PLOT T" "DEDENT \"x\"" "SQRT 4.0"
                          "HSV (0.0d0 1.0d0 1)" "PANDAS 3"))
        (is (search expected out) "~A not in ~A" expected out))
      ;; the peak resident set grows by tens of MB (it grew by 900 MB for pyplot and json)
      (let* ((start (search "GROWTH " out))
             (growth (and start (ignore-errors (parse-integer out :start (+ start 7) :junk-allowed t)))))
        (when growth
          (is (< growth 400) "the peak resident set grew by ~D MB" growth))))))
