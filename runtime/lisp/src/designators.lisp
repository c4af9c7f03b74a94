;;;; designators.lisp -- Python function designators that are Python code, not names
;;;; (py4cl2-cffi: a string that is not a dotted name is evaluated: "lambda x: x*x"),
;;;; and the compiled-code cells PYEVAL and such designators share.
;;;;
;;;; Whether a string is a name or code is decided once per string (DESIGNATOR-CELL caches
;;;; the answer, the compiler macro of PYCALL decides constant strings at compile time);
;;;; code is compiled once per Python session and evaluated at each call, so code that
;;;; refers to mutable state (handlers['a']) sees its current value, as a name does.

(in-package #:pymodgen)

(defstruct (code-cell (:constructor make-code-cell (text)))
  "Python source compiled once per start generation (for constant PYEVAL texts and for
function designators that are Python expressions)."
  (text "" :type string)
  (generation -1 :type fixnum)
  (address 0 :type (unsigned-byte 62)))

(defun code-cell-address* (cell)
  (if (= (code-cell-generation cell) *generation*)
      (code-cell-address cell)
      (let ((p (check-pointer (pmg-compile (code-cell-text cell) 0))))
        (setf (code-cell-address cell) (cffi:pointer-address p)
              (code-cell-generation cell) *generation*)
        (code-cell-address cell))))

(defun code-cell-value-pointer (cell)
  "The value of CELL's expression, evaluated now in __main__: a new reference."
  (unless *alive* (python-start-if-not-alive))
  (cffi:with-foreign-object (out :uint8 +value-size+)
    (let ((tag (pmg-eval-code (cffi:make-pointer (code-cell-address* cell)) out 1)))
      (if (= tag +tag-error+) (signal-last-error) (value-obj out)))))

(defun python-name-string-p (string)
  "T when STRING is a (dotted) Python name such as \"str\" or \"numpy.linalg.norm\", NIL
when it is other Python code (py4cl2-cffi evaluates such designators)."
  (declare (string string))
  (let ((start t))
    (and (plusp (length string))
         (loop for c across string
               always (cond ((char= c #\.) (and (not start) (setf start t)))
                            ((or (alpha-char-p c) (char= c #\_)) (setf start nil) t)
                            ((digit-char-p c) (and (not start) t))
                            (t nil)))
         (not start))))
