;;;; lisp-examples.lisp -- runs the Lisp code blocks of the book, as doctests run.
;;;;
;;;;   sbcl --script docs/tools/lisp-examples.lisp DIR
;;;;
;;;; DIR holds one file per block (docs/tools/blocks.py writes them: NNNN.lisp, first line
;;;; `;;;; page:line`). The blocks of a page run in order, in one package of their own that uses
;;;; COMMON-LISP and PYMODGEN, in one image with the runtime loaded, as at a REPL: each form is
;;;; read and evaluated in turn (`*`, `**`, `***` hold the last values), and a form followed on
;;;; its last line by a comment `; => TEXT` (or `; WHAT => TEXT`) must print (PRIN1) as TEXT,
;;;; where `...` stands for any text. A block fails at its first form that signals an error or prints otherwise.
;;;; Prints a line per failure and, last, `N passed, N failed` (blocks).

(require :asdf)
(let ((here (make-pathname :name nil :type nil :defaults *load-truename*)))
  (push (merge-pathnames "../../runtime/lisp/" here) asdf:*central-registry*))
(setf *compile-verbose* nil *compile-print* nil)
(handler-bind ((warning #'muffle-warning))
  (let ((*standard-output* (make-broadcast-stream)))
    (asdf:load-system "pymodgen")
    (asdf:load-system "pymodgen/py4cl2-cffi")))

(defpackage #:pymodgen-book-examples (:use #:cl))
(in-package #:pymodgen-book-examples)

(defun matches (expected actual)
  "ACTUAL is EXPECTED, where each `...` of EXPECTED stands for any text."
  (let ((parts (loop with start = 0
                     for pos = (search "..." expected :start2 start)
                     collect (subseq expected start pos)
                     while pos do (setf start (+ pos 3)))))
    (if (null (rest parts))
        (string= expected actual)
        (let ((pos 0))
          (and (eql 0 (search (first parts) actual))
               (progn (setf pos (length (first parts))) t)
               (loop for (part . more) on (rest parts)
                     do (if more
                            (let ((at (search part actual :start2 pos)))
                              (if at (setf pos (+ at (length part))) (return nil)))
                            (return (and (>= (- (length actual) (length part)) pos)
                                         (string= part actual :start2 (- (length actual) (length part))))))
                     finally (return t)))))))

(defun expected-after (text end)
  "The TEXT of a `; => TEXT` (or `; WHAT => TEXT`) comment on the rest of the line that starts
at END, or NIL."
  (let* ((eol (or (position #\Newline text :start end) (length text)))
         (rest (string-trim " " (subseq text end eol))))
    (when (and (plusp (length rest)) (char= (char rest 0) #\;))
      (let* ((body (string-left-trim "; " rest))
             (arrow (cond ((and (>= (length body) 2) (string= "=>" body :end2 2)) 0)
                          ((search " => " body) (1+ (search " => " body))))))
        (when arrow (string-trim " " (subseq body (+ arrow 2))))))))

(defun page-package (page)
  (let ((name (format nil "BOOK.~:@(~A~)" page)))
    (or (find-package name)
        (make-package name :use '(#:cl #:pymodgen)))))

(defun run-block (file)
  "Returns NIL when the block passes, else the reason."
  (let* ((text (uiop:read-file-string file :external-format :utf-8))
         (header (subseq text 0 (position #\Newline text)))
         (where (string-trim " ;" header))
         (page (subseq where 0 (position #\: where)))
         (*package* (page-package page))
         (forms 0))
    (values
     (block run
       (let ((pos (1+ (length header))))
         (loop
           (multiple-value-bind (form end)
               (handler-case (read-from-string text nil text :start pos)
                 (error (c) (return-from run (format nil "~A: cannot read the form at ~D: ~A" where pos c))))
             (when (eq form text) (return-from run nil))
             (incf forms)
             (let* ((values (handler-case
                                ;; Warnings are not muffled (a handler would hide them from
                                ;; COMPILE's WARNINGS-P, which examples show), only not printed.
                                (let ((*standard-output* (make-broadcast-stream))
                                      (*error-output* (make-broadcast-stream)))
                                  (multiple-value-list (eval form)))
                              (error (c)
                                (return-from run
                                  (format nil "~A: ~S~%  signalled ~A: ~A" where form (type-of c) c)))))
                    (value (first values))
                    (expected (expected-after text end)))
               (setf *** ** ** * * value)
               (when expected
                 (let ((actual (let ((*print-pretty* nil) (*print-readably* nil))
                                 (prin1-to-string value))))
                   (unless (matches expected actual)
                     (return-from run
                       (format nil "~A: ~S~%  printed   ~A~%  expected  ~A" where form actual expected))))))
             (setf pos end)))))
     forms)))

(defun main (dir)
  (let ((files (sort (directory (merge-pathnames "*.lisp" (uiop:ensure-directory-pathname dir)))
                     #'string< :key #'namestring))
        (passed 0) (failed 0))
    (dolist (file files)
      (let ((failure (run-block file)))
        (cond (failure (incf failed) (format t "FAIL ~A~%" failure))
              (t (incf passed)))
        (finish-output)))
    (format t "~D passed, ~D failed~%" passed failed)
    (finish-output)
    (uiop:quit (if (zerop failed) 0 1))))

(main (or (second sb-ext:*posix-argv*) (error "usage: lisp-examples.lisp DIR")))
