;;;; classes.lisp -- a module's classes are Lisp classes of its generated package: TYPEP,
;;;; SUBTYPEP, DEFMETHOD and PRINT-OBJECT see Python's classes, multiple inheritance included.

(in-package #:pymodgen-bindings-tests)

(def-suite classes :in bindings
  :description "Generated Lisp classes for Python classes; typed wrappers.")
(in-suite classes)

(defun ensure-class-bindings ()
  "Generates and loads collections, socketserver, io and fractions under packages of their
own (so that they do not meet the stdlib sweep's): CLS-COLLECTIONS ...; numbers is loaded
after fractions (whose Fraction has numbers.Rational as its base)."
  (ensure-arglist-bindings "collections" "CLS-COLLECTIONS")
  (ensure-arglist-bindings "socketserver" "CLS-SOCKETSERVER")
  (ensure-arglist-bindings "io" "CLS-IO")
  (ensure-arglist-bindings "fractions" "CLS-FRACTIONS")
  (ensure-arglist-bindings "numbers" "CLS-NUMBERS"))

(defun ev (text)
  "TEXT read in this package and evaluated (it names symbols of generated packages)."
  (let ((*package* (find-package "PYMODGEN-BINDINGS-TESTS")))
    (eval (read-from-string text))))

(def-test counter-is-a-lisp-class ()
  (ensure-class-bindings)
  (let ((c (ev "(cls-collections:counter \"abc\")"))
        (counter (sym "cls-collections" "counter")))
    (is (typep c counter))
    (is (typep c 'python-dict) "Counter(dict)")
    (is (typep c 'python-instance))
    (is (typep c 'python-object))
    (is (not (typep c 'pyobject-wrapper)) "a typed wrapper is not the untyped structure")
    (is (subtypep counter 'python-dict))
    (is (eq (find-class counter) (find-python-class "collections.Counter")))
    ;; DEFMETHOD on the class is selected
    (ev "(defgeneric cls-kind (x))")
    (ev "(defmethod cls-kind ((x t)) :other)")
    (ev "(defmethod cls-kind ((x python-dict)) :dict)")
    (ev "(defmethod cls-kind ((x cls-collections:counter)) (list :counter (call-next-method)))")
    (is (equal '(:counter :dict) (funcall 'cls-kind c)))
    (is (eq :other (funcall 'cls-kind (pyeval "{1: 2}"))))
    ;; it is passed back to Python as the object it holds, by the fast path and the general one
    (is (= 3 (pycall "len" c)))
    (is (equalp #(("a" 1)) (ev "(cls-collections:counter-most-common (cls-collections:counter \"abc\") 1)"))
        "most_common: ~S" (ev "(cls-collections:counter-most-common (cls-collections:counter \"abc\") 1)"))
    (is (= 1 (pymethod c "get" "a")))
    (is (pyobject-wrapper-eq c (pycall "lambda x: x" c)) "the same Python object")
    (is (not (pyobject-wrapper-eq c (ev "(cls-collections:counter \"abc\")"))))
    (is (string= "Counter" (pyslot-value (pyslot-value c "__class__") "__name__")))
    (is (search "collections.Counter" (python-object-type c)))
    ;; printing: as a wrapper, labelled with the Lisp class; PRINT-OBJECT methods apply
    (let ((text (prin1-to-string c)))
      (is (search "COUNTER" text) "~A" text)
      (is (search "Counter({'a': 1" text) "~A" text))
    (let ((*print-pyobject-wrapper-identity* nil))
      (is (string= "Counter({'a': 1, 'b': 1, 'c': 1})" (princ-to-string c))))
    (ev "(defmethod print-object ((x cls-collections:counter) s) (format s \"#<counter of ~D>\" (pycall \"len\" x)))")
    (unwind-protect (is (string= "#<counter of 3>" (prin1-to-string c)))
      (remove-method #'print-object
                     (find-method #'print-object '() (list (find-class counter) (find-class t)))))))

(def-test dict-subclasses-and-untyped-objects ()
  (ensure-class-bindings)
  (let ((od (ev "(cls-collections:ordered-dict)"))
        (dd (ev "(cls-collections:defaultdict)")))
    (is (typep od (sym "cls-collections" "ordered-dict")))
    (is (typep dd (sym "cls-collections" "defaultdict")))
    (is (typep od 'python-dict))
    (is (not (typep od (sym "cls-collections" "counter")))))
  ;; a plain dict is a hash table and an object of no known class a PYOBJECT-WRAPPER, as before
  (is (hash-table-p (pyeval "{1: 2}")))
  (is (pyobject-wrapper-p (pyeval "object()")))
  (is (pyobject-wrapper-p (with-remote-objects (pyeval "{1: 2}"))))
  (is (pyobject-wrapper-p (with-remote-objects (pyeval "[1]"))))
  (raw-pyexec "import collections
class ClsPlainDict(dict): pass
class ClsMyCounter(collections.Counter): pass")
  (is (hash-table-p (pyeval "ClsPlainDict(a=1)")) "a dict subclass no package knows")
  ;; a subclass no package knows: its nearest known ancestor's class
  (let ((c (pyeval "ClsMyCounter('ab')")))
    (is (typep c (sym "cls-collections" "counter")))
    (is (search "ClsMyCounter" (python-object-type c))))
  ;; inside WITH-REMOTE-OBJECTS too
  (is (typep (with-remote-objects (pyeval "collections.Counter('a')")) (sym "cls-collections" "counter")))
  ;; a typed wrapper nested in a container
  (let ((v (pyeval "[collections.OrderedDict(), 1]")))
    (is (typep (aref v 0) (sym "cls-collections" "ordered-dict")))))

(def-test multiple-inheritance ()
  (ensure-class-bindings)
  (flet ((s (name) (sym "cls-socketserver" name)))
    ;; ThreadingTCPServer(ThreadingMixIn, TCPServer), TCPServer(BaseServer)
    (is (subtypep (s "threading-tcp-server") (s "threading-mix-in")))
    (is (subtypep (s "threading-tcp-server") (s "tcp-server")))
    (is (subtypep (s "threading-tcp-server") (s "base-server")))
    (is (not (subtypep (s "tcp-server") (s "threading-mix-in"))))
    (let ((server (funcall (s "threading-tcp-server")
                           (with-remote-objects (pyeval "('127.0.0.1', 0)"))
                           (with-remote-objects (pyeval "__import__('socketserver').BaseRequestHandler")))))
      (unwind-protect
           (progn
             (is (typep server (s "threading-tcp-server")))
             (dolist (base '("threading-mix-in" "tcp-server" "base-server"))
               (is (typep server (s base)) "a ThreadingTCPServer is a ~A" base))
             (is (not (typep server (s "udp-server"))))
             (is (plusp (second (pyslot-value server "server_address")))))
        ;; inherited methods under the subclass's name: server_close is ThreadingMixIn's
        ;; (the MRO's first), fileno TCPServer's
        (is (eq (fdefinition (s "threading-tcp-server-server-close"))
                (fdefinition (s "threading-mix-in-server-close"))))
        (is (eq (fdefinition (s "threading-tcp-server-fileno")) (fdefinition (s "tcp-server-fileno"))))
        (finishes (funcall (s "threading-tcp-server-server-close") server)))))
  ;; io.BufferedIOBase(_io._BufferedIOBase, io.IOBase)
  (is (subtypep (sym "cls-io" "buffered-io-base") (sym "cls-io" "io-base")))
  (is (typep (ev "(cls-io:bytes-io)") (sym "cls-io" "bytes-io"))))

(def-test inherited-methods-of-the-fixture ()
  (ensure-fixture)
  (flet ((s (name) (sym "pymodgen_fixture.shapes" name)))
    (let ((square (funcall (s "square") 2)))
      (is (typep square (s "square")))
      (is (typep square (s "shape")))
      (is (not (typep square (s "circle"))))
      (is (string= "square with area 4.00" (funcall (s "square-describe") square)))
      (is (string= "square with area 4.0" (funcall (s "square-describe") square :precision 1)))
      (is (member (s "square-describe") (let (l) (do-external-symbols (x "PYMODGEN_FIXTURE.SHAPES" l) (push x l)))))
      (is (documentation (s "square-describe") 'function)))
    (is (typep (funcall (s "unit-circle")) (s "circle")))
    (is (string= "circle with area 3.14" (funcall (s "circle-describe") (funcall (s "unit-circle")))))))

(def-test bases-of-other-modules-are-added-when-defined ()
  (ensure-class-bindings)
  ;; fractions.Fraction(numbers.Rational): numbers was loaded after fractions
  (is (subtypep (sym "cls-fractions" "fraction") (sym "cls-numbers" "rational")))
  (is (subtypep (sym "cls-fractions" "fraction") (sym "cls-numbers" "number")))
  ;; Fraction results are still Lisp ratios (a converted type)
  (is (eql 1/3 (ev "(cls-fractions:fraction 1 3)")))
  ;; a class defined before its base, and redefined (as regenerated bindings are): existing
  ;; instances follow
  (raw-pyexec "class ClsBase: pass
class ClsDerived(ClsBase): pass
class ClsOther: pass")
  (ev "(define-python-class cls-derived () \"__main__.ClsDerived\" :bases (\"__main__.ClsBase\"))")
  (let ((d (pyeval "ClsDerived()")))
    (is (typep d 'cls-derived))
    (ev "(define-python-class cls-base () \"__main__.ClsBase\")")
    (is (subtypep 'cls-derived 'cls-base))
    (is (typep d 'cls-base) "an instance made before its base was known")
    (is (typep (pyeval "ClsDerived()") 'cls-derived))
    (ev "(define-python-class cls-other () \"__main__.ClsOther\")")
    (ev "(define-python-class cls-derived (cls-other) \"__main__.ClsDerived\" :bases (\"__main__.ClsOther\"))")
    (is (typep d 'cls-other) "redefined with other bases")
    (is (not (typep d 'cls-base)))))
