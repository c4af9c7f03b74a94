;;;; adversarial.lisp -- a module of adversarial names, docstrings, defaults and Literal values
;;;; (tests/fixtures/python/pymodgen_adversarial): every form of its generated system reads,
;;;; the system compiles with no warning, docstrings hold no raw control characters, and exact
;;;; values (defaults, Literal strings) go to Python and back as themselves.

(in-package #:pymodgen-bindings-tests)

(def-suite adversarial :in bindings
  :description "Adversarial names, docstrings and Literal values: generated Lisp reads, compiles, calls.")
(in-suite adversarial)

(defun read-all-forms (file)
  "Every form of FILE, read as the compiler reads it (its IN-PACKAGE forms obeyed)."
  (with-open-file (s file :external-format :utf-8)
    (let ((*package* (find-package "CL-USER")) (forms '()))
      (loop for form = (read s nil s)
            until (eq form s)
            do (push form forms)
               (when (and (consp form) (member (first form) '(in-package cl:in-package)))
                 (setf *package* (find-package (second form)))))
      (nreverse forms))))

(def-test adversarial-module-reads-compiles-and-calls ()
  (ensure-arglist-bindings "pymodgen_adversarial" "ADVERSARIAL" :pythonpath *fixtures*)
  (let ((dir (merge-pathnames "arglists/pymodgen_adversarial/" *out*)))
    (dolist (file (directory (merge-pathnames "*.lisp" dir)))
      (is (plusp (length (read-all-forms file))) "~A" file)))
  (flet ((f (name) (sym "adversarial" name))
         (raw-control-p (text)
           (find-if (lambda (c) (and (< (char-code c) 32) (not (member c '(#\Newline #\Tab))))) text)))
    ;; names no `def` can spell: True, None, 1st, a-b, café, 日本 (and `none` the class)
    (dolist (name '("true" "none" "py-1st" "a-b" "café" "日本" "none-2" "self-new" "self-type"))
      (is (fboundp (f name)) "~A" name))
    (is (eq t (funcall (f "true"))))
    (is (= 1 (funcall (f "py-1st"))))
    (is (string= "日本" (funcall (f "日本"))))
    ;; docstrings: control characters written as escapes, the rest kept
    (let ((doc (documentation (f "nasty-doc") 'function)))
      (is (not (raw-control-p doc)) "~S" doc)
      (is (search "bare CR\\rand CRLF" doc) "~A" doc)
      (is (search "*/ /* */ <script>" doc))
      (is (search "\\x00 \\x01 \\x07 \\x1b[31m" doc) "~A" doc))
    (is (not (raw-control-p (documentation (f "true") 'function))))
    ;; exact values: a default and Literal strings with CR, NUL, quotes and backslashes
    (let ((values (funcall (f "defaults"))))
      (is (string= (coerce (list #\Return #\Newline (code-char 0) #\" #\\) 'string) (aref values 0)))
      (is (equalp #(0 255) (aref values 1))))
    (is (string= "none" (funcall (f "literal-names") "none")))
    (is (string= "None" (funcall (f "literal-names"))))
    (is (string= (string #\Return) (funcall (f "self-r") (string #\Return))))
    (is (string= "Type" (funcall (f "self-type") (funcall (f "self-new")) "Type")))
    ;; parameters named after CL constants and Rust keywords
    (is (= 12 (length (funcall (f "r") 1 2 3 4 5))))))
