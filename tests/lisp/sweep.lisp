;;;; sweep.lisp -- generate and load, in SBCL, bindings for every standard-library module of
;;;; the introspection sweep (tests/fixtures/stdlib-skip.txt lists the ones skipped on
;;;; purpose): zero load errors, zero compiler warnings.

(in-package #:pymodgen-bindings-tests)

(def-suite sweep :in bindings :description "Every stdlib module, generated and loaded.")
(in-suite sweep)

(defun stdlib-modules ()
  (let* ((skip (with-open-file (s (merge-pathnames "tests/fixtures/stdlib-skip.txt" *root*))
                 (loop for line = (read-line s nil)
                       while line
                       unless (or (zerop (length (string-trim " " line))) (char= (char line 0) #\#))
                         collect (subseq line 0 (position #\Space line)))))
         (python (or (pymodgen::%python-executable) "python3"))
         (names (uiop:run-program
                 (list python "-c" "import sys, importlib.util
for n in sorted(sys.stdlib_module_names):
    if importlib.util.find_spec(n) is not None: print(n)")
                 :output :lines)))
    (remove-if (lambda (n) (member n skip :test #'string=)) names)))

(def-test stdlib-sweep ()
  (let* ((modules (stdlib-modules))
         (out (merge-pathnames "stdlib/" *out*))
         (dirs (generate modules :out out))
         (warnings '()) (style '()) (errors '()) (misnamed '()) (loaded 0))
    (is (> (length modules) 250))
    (loop for module in modules
          for dir in dirs
          ;; A manifest that names another module (`_io` introspects as `io`) would define
          ;; that module's package a second time: reported, not loaded.
          do (if (not (probe-file (merge-pathnames (make-pathname :name module :type "lisp") dir)))
                 (push module misnamed)
                 (multiple-value-bind (w s e) (load-generated dir)
                   (incf loaded)
                   (setf warnings (append warnings w) style (append style s))
                   (when e (push (cons dir e) errors)))))
    (format t "~&; stdlib sweep: ~D modules generated, ~D loaded: ~D load errors, ~D warnings, ~
               ~D style-warnings; misnamed (not loaded): ~{~A~^ ~}~%"
            (length dirs) loaded (length errors) (length warnings) (length style) (reverse misnamed))
    (is (null misnamed) "~D stdlib modules came out under another module's name: ~{~A~^ ~}"
        (length misnamed) (reverse misnamed))
    (is (null errors) "~{~A~^~%~}" (mapcar (lambda (e) (format nil "~A: ~A" (car e) (cdr e))) errors))
    (is (null warnings) "~{~A~^~%~}" warnings)
    (is (null style) "~{~A~^~%~}" (subseq style 0 (min 20 (length style))))
    ;; the stdlib's exception classes are condition classes of their packages
    (is (eq :decode (eval (read-from-string
                           "(handler-case (json:loads \"{\") (json:json-decode-error () :decode))"))))
    (is (eq :called (eval (read-from-string
                           "(handler-case (subprocess:run '(\"false\") :check t)
                              (subprocess:subprocess-error () :called))"))))))
