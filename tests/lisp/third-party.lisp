;;;; third-party.lisp -- the third-party sweep: popular libraries (installed, pinned, by
;;;; scripts/setup; several ship inline types or stubs) generated and loaded in SBCL with zero
;;;; warnings, and one call through each library's bindings. The Rust half is
;;;; `third_party_sweep` in tests/rust_e2e.rs.

(in-package #:pymodgen-bindings-tests)

(def-suite third-party :in bindings :description "Third-party libraries, generated, loaded and called.")
(in-suite third-party)

(defparameter *third-party*
  '(("attrs" . "TP-ATTRS") ("click" . "TP-CLICK") ("humanize" . "TP-HUMANIZE") ("jinja2" . "TP-JINJA2")
    ("markupsafe" . "TP-MARKUPSAFE") ("matplotlib.pyplot" . "TP-PYPLOT")
    ("packaging.version" . "TP-VERSION") ("requests" . "TP-REQUESTS"))
  "(module . package): each under a package of its own, so that they meet no other test's.")

(def-test third-party-sweep ()
  (let ((start (get-internal-real-time)))
    ;; ENSURE-ARGLIST-BINDINGS signals when generating or loading warns: zero warnings.
    (loop for (module . package) in *third-party*
          do (finishes (ensure-arglist-bindings module package)))
    (let ((lines (loop for (module) in *third-party*
                       sum (with-open-file (s (merge-pathnames (format nil "arglists/~A/~A.lisp" module module) *out*))
                             (loop while (read-line s nil) count t))))
          (functions (loop for (nil . package) in *third-party*
                           sum (let ((n 0)) (do-external-symbols (s package n) (when (fboundp s) (incf n)))))))
      (format t "~&; third-party sweep (Lisp): ~D libraries, ~D functions, ~D generated lines; generated, compiled ~
                 and loaded in ~,1F s, 0 warnings~%"
              (length *third-party*) functions lines
              (/ (- (get-internal-real-time) start) internal-time-units-per-second))))
  (flet ((tp (package name &rest args) (apply #'call package name args)))
    (is (null (tp "tp-attrs" "has" (pyvalue "int"))))
    (is (string= (format nil "~C[31mx~C[0m" #\Esc #\Esc) (tp "tp-click" "style" "x" :fg "red")))
    (is (string= "1,234,567" (tp "tp-humanize" "intcomma" 1234567)))
    (let* ((env (tp "tp-jinja2" "environment"))
           (template (tp "tp-jinja2" "environment-from-string" env "Hi {{ n }}!")))
      (is (string= "Hi there!" (tp "tp-jinja2" "template-render" template :n "there"))))
    (is (string= "&lt;a&gt;" (pycall "str" (tp "tp-markupsafe" "escape" "<a>"))))
    (is (null (tp "tp-pyplot" "isinteractive")))
    (let ((v (tp "tp-version" "parse" "1.2.3")))
      (is (= 1 (tp "tp-version" "version-major" v))))
    (let ((r (tp "tp-requests" "prepared-request")))
      (tp "tp-requests" "prepared-request-prepare" r :method "GET" :url "http://example.com/a b")
      (is (string= "http://example.com/a%20b" (pyslot-value r "url"))))))
