;;;; tests/defpyclass.lisp -- Python classes written in Lisp (src/defpyclass.lisp): the four
;;;; framework examples of runtime/lisp/README.md, members, super, errors, redefinition, and
;;;; garbage collection over 1e5 instances.

(in-package #:pymodgen-tests)

(def-suite defpyclass :in pymodgen)
(in-suite defpyclass)

(defun pyvalue* (name)
  "The value of the Python NAME as a wrapper."
  (with-remote-objects (pyvalue name)))

;;; ------------------------------------------------------------------------------------
;;; a. logging.Handler: emit collects records in Lisp

(defvar *log-records* '())

(defpyclass collecting-handler ("logging.Handler")
  "A logging handler keeping (level message) of each record in *LOG-RECORDS*."
  (:method "emit" (self record)
    (push (list (pyslot-value record "levelname") (pymethod self "format" record))
          *log-records*)))

(test logging-handler-collects-records
  (setf *log-records* '())
  (let ((handler (collecting-handler))
        (logger (with-remote-objects (pycall "logging.getLogger" "pymodgen.test.defpyclass"))))
    (is (typep handler 'collecting-handler))
    (is (eq t (pycall "isinstance" handler (pyvalue* "logging.Handler"))))
    (pymethod handler "setFormatter" (with-remote-objects (pycall "logging.Formatter" "%(name)s: %(message)s")))
    (pymethod logger "addHandler" handler)
    (setf (pyslot-value logger "propagate") nil)
    (unwind-protect
         (progn (pymethod logger "warning" "disk %s is %d%% full" "sda" 93)
                (pymethod logger "error" "second")
                (pymethod logger "debug" "filtered out by the logger's level"))
      (pymethod logger "removeHandler" handler))
    (is (equal '(("ERROR" "pymodgen.test.defpyclass: second")
                 ("WARNING" "pymodgen.test.defpyclass: disk sda is 93% full"))
               *log-records*))))

;;; ------------------------------------------------------------------------------------
;;; b. json.JSONEncoder: default serializes Lisp structures

(defstruct point x y)

(defpyclass struct-encoder ("json.JSONEncoder")
  (:method "default" (self object)
    (if (point-p object)
        (let ((h (make-hash-table :test #'equal)))
          (setf (gethash "x" h) (point-x object) (gethash "y" h) (point-y object))
          h)
        (call-super object))))

(test json-encoder-serializes-structs
  (is (equal "[{\"x\": 1, \"y\": 2}, 3, {\"x\": 0.5, \"y\": [{\"x\": 3, \"y\": 4}]}]"
             (pycall "json.dumps" (list (make-point :x 1 :y 2) 3
                                        (make-point :x 0.5d0 :y (vector (make-point :x 3 :y 4))))
                     :cls (find-pyclass 'struct-encoder) :sort-keys t)))
  ;; an object default() does not know: the base's default raises TypeError, which reaches
  ;; Lisp as the condition the method signalled
  (let ((c (handler-case (progn (pycall "json.dumps" (list (with-remote-objects (pyeval "object()")))
                                        :cls (find-pyclass 'struct-encoder))
                                nil)
             (pyerror (c) c))))
    (is (typep c 'python-type-error))
    (is (search "is not JSON serializable" (pyerror-message c)))))

;;; ------------------------------------------------------------------------------------
;;; c. http.server.BaseHTTPRequestHandler: do_GET answers urllib.request (child Lisp)

(defparameter +http-child-forms+
  '((defpackage #:http-child (:use #:cl #:pymodgen))
    (in-package #:http-child)
    (defvar *paths* '())
    (defpyclass hello-handler ("http.server.BaseHTTPRequestHandler")
      (:method "do_GET" (self)
        (let ((path (pyslot-value self "path")))
          (push path *paths*)
          (let ((body (with-remote-objects
                        (pycall "str.encode" (format nil "hello from Lisp: ~A" path)))))
            (pymethod self "send_response" 200)
            (pymethod self "send_header" "Content-Type" "text/plain; charset=utf-8")
            (pymethod self "send_header" "Content-Length" (pycall "len" body))
            (pymethod self "end_headers")
            (pymethod (pyslot-value* self "wfile") "write" body))))
      (:method "log_message" (self fmt &rest args)
        (declare (ignore fmt args))
        +py-none+))
    (defun pyslot-value* (o name) (with-remote-objects (pyslot-value o name)))
    (raw-pyexec "import http.server, threading, urllib.request
def fetch(url):
    with urllib.request.urlopen(url, timeout=20) as response:
        return response.status, response.read().decode()")
    (let* ((server (with-remote-objects
                     (pycall "http.server.HTTPServer" (list "127.0.0.1" 0) (find-pyclass 'hello-handler))))
           (port (second (pyslot-value server "server_address")))
           (thread (with-remote-objects
                     (pycall "threading.Thread" :target (pyslot-value* server "handle_request")
                                                :daemon t))))
      (setf (pyslot-value server "timeout") 20)
      (pymethod thread "start")
      (destructuring-bind (status body)
          (pycall "fetch" (format nil "http://127.0.0.1:~D/greeting?x=1" port))
        (pymethod thread "join" 20)
        (format t "~&STATUS ~A~%BODY ~A~%" status body)
        (format t "~&PATHS ~S~%" *paths*)
        (format t "~&JOINED ~A~%" (not (pymethod thread "is_alive"))))
      (pymethod server "server_close"))))

(test http-request-handler-answers-urllib
  (multiple-value-bind (out code)
      (run-child-lisp (let ((*package* (find-package '#:pymodgen-tests)))
                        (mapcar #'prin1-to-string +http-child-forms+))
                      :timeout 180)
    (is (eql 0 code) "~A" out)
    (is (search "STATUS 200" out) "~A" out)
    (is (search "BODY hello from Lisp: /greeting?x=1" out) "~A" out)
    (is (search "PATHS (\"/greeting?x=1\")" out) "~A" out)
    (is (search "JOINED T" out) "~A" out)))

;;; ------------------------------------------------------------------------------------
;;; d. threading.Thread: run is Lisp, on a thread Python starts

(defvar *runs* '())
(defvar *runs-lock* (bt:make-lock "defpyclass test runs"))

(defpyclass summing-thread ("threading.Thread")
  (:method "__init__" (self n)
    (call-super :name (format nil "summing-~D" n))
    (setf (pyslot-value self "n") n))
  (:method "run" (self)
    (let ((n (pyslot-value self "n")))
      (setf (pyslot-value self "total") (loop for i to n sum i))
      (bt:with-lock-held (*runs-lock*)
        (push (list n (pyeval "threading.current_thread().name")
                    (pyeval "threading.current_thread() is threading.main_thread()"))
              *runs*)))))

(test thread-subclass-runs-lisp
  (setf *runs* '())
  (raw-pyexec "import threading")
  (let ((threads (loop for n in '(10 100 1000) collect (summing-thread n))))
    (dolist (th threads) (pymethod th "start"))
    (dolist (th threads) (pymethod th "join" 30))
    (is (notany (lambda (th) (pymethod th "is_alive")) threads))
    (is (equal '(55 5050 500500) (mapcar (lambda (th) (pyslot-value th "total")) threads)))
    (is (equal '((10 "summing-10" nil) (100 "summing-100" nil) (1000 "summing-1000" nil))
               (sort (copy-list *runs*) #'< :key #'first)))))

;;; ------------------------------------------------------------------------------------
;;; Members: __init__, class attributes, properties, class and static methods, super

(defpyclass account ()
  "A bank account."
  (:attribute "currency" "EUR")
  (:attribute rate 1/4)
  (:method "__init__" (self owner &key (balance 0))
    (setf (pyslot-value self "owner") owner
          (pyslot-value self "_balance") balance))
  (:method deposit (self amount)
    "Adds AMOUNT."
    (incf (pyslot-value self "_balance") amount))
  (:property balance (self) (pyslot-value self "_balance"))
  (:setter balance (self value)
    (when (minusp value) (error "negative balance ~A" value))
    (setf (pyslot-value self "_balance") value))
  (:classmethod "opened_by" (cls owner) (pycall cls owner :balance 10))
  (:staticmethod "fee" (amount) (* amount 2/100))
  (:method "__repr__" (self) (format nil "<account of ~A>" (pyslot-value self "owner")))
  (:method "__eq__" (self other)
    (and (typep other 'account)
         (equal (pyslot-value self "owner") (pyslot-value other "owner")))))

(defpyclass savings-account (account)
  (:python-name "Savings")
  (:module "bank")
  (:method deposit (self amount)
    ;; the base's method through super(), a bonus on top
    (call-super (+ amount 1)))
  (:property balance (self) (* 100 (call-super))))

(test members-of-a-class
  (let ((a (account "ann" :balance 5)))
    (is (equal "<account of ann>" (pycall "repr" a)))
    (is (eql 5 (pyslot-value a "balance")))
    (is (eql 8 (pymethod a "deposit" 3)))
    (setf (pyslot-value a "balance") 20)
    (is (eql 20 (pyslot-value a "balance")))
    (is (equal "negative balance -1"
               (handler-case (progn (pycall "setattr" a "balance" -1) nil)
                 (simple-error (c) (princ-to-string c))))
        "the setter's error")
    (is (equal "EUR" (pyslot-value a "currency")))
    (is (eql 1/4 (pyslot-value (find-pyclass 'account) "rate")))
    (is (eql 1 (pymethod a "fee" 50)) "a static method, through an instance")
    (is (equal "Adds AMOUNT." (pyslot-value (pyslot-value (find-pyclass 'account) "deposit") "__doc__")))
    (is (equal "A bank account." (pyslot-value (find-pyclass 'account) "__doc__")))
    (is (equal "Account.deposit" (pyslot-value (pyslot-value (find-pyclass 'account) "deposit") "__qualname__")))
    (let ((b (with-remote-objects (pymethod (find-pyclass 'account) "opened_by" "bob"))))
      (is (eql 10 (pyslot-value b "balance")) "a class method")
      (is (typep b 'account))
      (is (eq t (pycall "operator.eq" b (account "bob"))))
      (is (null (pycall "operator.eq" b a))))))

(test subclass-of-a-lisp-class-and-super
  (let ((s (savings-account "sue" :balance 1)))
    (is (typep s 'savings-account))
    (is (typep s 'account) "a subclass's instance is of the base's type")
    (is (not (typep (account "x") 'savings-account)))
    (is (not (typep 42 'account)))
    (is (equal "<class 'bank.Savings'>" (pycall "str" (find-pyclass 'savings-account))))
    (pymethod s "deposit" 10)
    (is (eql 1200 (pyslot-value s "balance")) "1 + 10 + 1, times 100 by the property")
    (is (eq t (pycall "issubclass" (find-pyclass 'savings-account) (find-pyclass 'account))))
    ;; PYSUPER: the super() object
    (is (eql 12 (pyslot-value (pysuper 'savings-account s) "balance")))))

;;; ------------------------------------------------------------------------------------
;;; The Lisp class of a DEFPYCLASS class: DEFMETHOD, TYPEP, SUBTYPEP, PRINT-OBJECT

(defgeneric describe-account (object)
  (:method ((a account)) (list :account (pyslot-value a "owner")))
  (:method ((a savings-account)) (cons :savings (call-next-method)))
  (:method (object) (declare (ignore object)) :other))

(defpyclass premium-account (savings-account)
  "A Lisp subclass of a Lisp subclass."
  (:python-name "Premium")
  (:method "tier" (self) (describe-account self)))

(test defpyclass-names-a-lisp-class
  (is (typep (find-class 'account) 'standard-class))
  (is (subtypep 'account 'python-instance))
  (is (subtypep 'savings-account 'account))
  (is (subtypep 'premium-account 'savings-account))
  (is (not (subtypep 'account 'savings-account)))
  (is (subtypep 'premium-account 'account))
  ;; instances made from Lisp
  (is (equal '(:account "ann") (describe-account (account "ann"))))
  (is (equal '(:savings :account "sue") (describe-account (savings-account "sue"))))
  (let ((p (premium-account "pat")))
    (is (eq 'premium-account (type-of p)))
    (is (typep p 'account))
    (is (typep p 'python-object))
    (is (equal '(:savings :account "pat") (describe-account p)))
    (is (search "PREMIUM-ACCOUNT" (prin1-to-string p)) "~S" p)
    ;; self inside a method is the typed wrapper too
    (is (equal '("savings" "account" "pat") (pymethod p "tier"))))
  (is (eq :other (describe-account 42)))
  ;; instances Python makes and returns: a class method, Python code, a Python subclass
  (is (equal '(:account "cm") (describe-account (pymethod (find-pyclass 'account) "opened_by" "cm"))))
  (let ((made (pycall "lambda cls: cls('py')" (find-pyclass 'savings-account))))
    (is (eq 'savings-account (type-of made)))
    (is (equal '(:savings :account "py") (describe-account made))))
  (let ((sub (pycall "lambda base: type('PySub', (base,), {})('sub')" (find-pyclass 'premium-account))))
    (is (typep sub 'premium-account) "a Python subclass: typed as its nearest Lisp class")
    (is (equal '(:savings :account "sub") (describe-account sub)))
    (is (equal "PySub" (pyslot-value (pyslot-value sub "__class__") "__name__"))))
  ;; a typed wrapper is a wrapper wherever one is taken
  (let ((a (account "w")))
    (is (pyobject-wrapper-eq a (pycall "lambda x: x" a)))
    (is (eql 12 (pyslot-value (pysuper 'savings-account (savings-account "s" :balance 12)) "balance")))))

(test lisp-class-under-the-generated-class-of-its-base
  ;; COLLECTING-HANDLER was defined before the logging bindings: loading them puts
  ;; LOGGING's generated HANDLER (and its bases) above it
  (eval '(defpymodule "logging" nil :lisp-package "DEFPYCLASS-LOGGING" :silent t))
  (let ((handler (find-symbol "HANDLER" "DEFPYCLASS-LOGGING"))
        (h (collecting-handler)))
    (is (subtypep 'collecting-handler handler))
    (is (typep h 'collecting-handler))
    (is (typep h handler))
    (is (subtypep handler 'python-instance))
    (is (not (typep (with-remote-objects (pycall "logging.StreamHandler")) 'collecting-handler)))
    ;; a DEFPYCLASS subclass defined after the bindings
    (eval '(defpyclass counting-handler ("logging.Handler")
            (:method "emit" (self record) (declare (ignore record)) nil)))
    (is (subtypep 'counting-handler handler))
    (is (typep (funcall 'counting-handler) handler))))

(test redefinition-redefines-the-lisp-class
  (eval '(defpyclass rebased () (:method "who" (self) "plain")))
  (is (not (subtypep 'rebased 'account)))
  (is (equal "plain" (pymethod (funcall 'rebased) "who")))
  (eval '(defpyclass rebased (account) (:method "who" (self) "account")))
  (is (subtypep 'rebased 'account))
  (let ((r (funcall 'rebased "z")))
    (is (typep r 'account))
    (is (equal "account" (pymethod r "who")))
    (is (equal '(:account "z") (describe-account r))))
  (eval '(defpyclass rebased () (:method "who" (self) "plain again")))
  (is (not (subtypep 'rebased 'account)))
  (is (eq :other (describe-account (funcall 'rebased)))))

(defpyclass string-keyed-dict ("dict")
  (:method "__setitem__" (self key value)
    ;; self is the dict itself (a wrapper), not a hash table copy
    (pymethod (pysuper) "__setitem__" (princ-to-string key) value))
  (:method "keys_joined" (self) (format nil "~{~A~^,~}" (coerce (pycall "sorted" self) 'list))))

(test self-is-the-object-for-builtin-bases
  (let ((d (string-keyed-dict)))
    (setf (pyref d 1) :a (pyref d 'b) 2)
    (is (equal "1,b" (pymethod d "keys_joined")))
    ;; an instance of a dict subclass with a Lisp class is the object (a typed wrapper),
    ;; as a Counter is; its items as a hash table through dict()
    (is (typep (lispify d) 'string-keyed-dict))
    (is (typep d 'python-dict))
    (is (equal 2 (gethash "b" (pycall "dict" d))))))

(test not-in-the-py4cl2-cffi-package
  ;; py4cl2-cffi has no such facility: its drop-in package does not export these names
  (dolist (name '("DEFPYCLASS" "FIND-PYCLASS" "PYSUPER" "CALL-SUPER" "PYRAISE" "PYTHON-RAISE"))
    (is (eq :external (nth-value 1 (find-symbol name '#:pymodgen))))
    (is (not (eq :external (nth-value 1 (find-symbol name '#:py4cl2-cffi)))) "~A" name)))

(test call-super-outside-a-method
  (signals error (call-super 1)))

(test macro-errors
  (signals error (macroexpand-1 '(defpyclass bad () (:method "f" () 1))))
  (signals error (macroexpand-1 '(defpyclass bad () (:frobnicate "f"))))
  (signals error (macroexpand-1 '(defpyclass bad (42))))
  (signals error (macroexpand-1 '(defpyclass bad () (:attribute "x"))))
  (signals error (find-pyclass 'no-such-defpyclass)))

;;; ------------------------------------------------------------------------------------
;;; Errors

(define-condition teapot-error (error) ((size :initarg :size :reader teapot-size))
  (:report "I'm a teapot"))

(defpyclass failing ()
  (:method "boom" (self size) (error 'teapot-error :size size))
  (:method "nested" (self) (pymethod self "boom" 7)))

(test errors-in-methods
  ;; in Python: an exception
  (raw-pyexec "def _try_boom(o):
    try:
        o.boom(3)
    except RuntimeError as e:
        return 'caught: ' + str(e)
    return 'not raised'")
  (let ((text (pycall "_try_boom" (failing))))
    (is (eql 0 (search "caught: Lisp error" text)) text)
    (is (search "I'm a teapot" text) text))
  ;; back in Lisp: the condition itself
  (let ((c (handler-case (progn (pymethod (failing) "boom" 5) nil) (teapot-error (c) c))))
    (is (typep c 'teapot-error))
    (is (eql 5 (and c (teapot-size c)))))
  (let ((c (handler-case (progn (pymethod (failing) "nested") nil) (teapot-error (c) c))))
    (is (eql 7 (and c (teapot-size c))) "through a method calling a method"))
  ;; a wrong number of arguments is an error too
  (signals error (pymethod (failing) "boom"))
  (is (image-ok-p)))

(defpyclass countdown ()
  "An iterator: __next__ ends with StopIteration."
  (:method "__init__" (self n) (setf (pyslot-value self "n") n))
  (:method "__iter__" (self) self)
  (:method "__next__" (self)
    (let ((n (pyslot-value self "n")))
      (if (plusp n)
          (setf (pyslot-value self "n") (1- n))
          (pyraise "StopIteration")))))

(defpyclass lookup-table ()
  (:method "__getitem__" (self key)
    (if (equal key "known") 1 (pyraise "KeyError" key)))
  (:method "__getattr__" (self name)
    (if (equal name "dynamic") :yes (pyraise "AttributeError" name)))
  (:method "strict_int" (self text)
    ;; int() raises ValueError: it goes through the Lisp method back to Python as it is
    (pycall "int" text)))

(test python-exceptions-from-methods
  (is (equal '(2 1 0) (coerce (pycall "list" (countdown 3)) 'list)) "StopIteration ends the loop")
  (raw-pyexec "def _probe(t):
    out = []
    try:
        t['missing']
    except KeyError as e:
        out.append(('KeyError', e.args))
    out.append(t['known'])
    out.append(hasattr(t, 'absent'))
    out.append(t.dynamic)
    try:
        t.strict_int('x')
    except ValueError as e:
        out.append(('ValueError', str(e)))
    return out")
  (is (equalp '(("KeyError" ("missing")) 1 nil "yes"
                ("ValueError" "invalid literal for int() with base 10: 'x'"))
              (coerce (pycall "_probe" (lookup-table)) 'list)))
  ;; back in Lisp: the Python exception's condition class
  (is (eq :key (handler-case (pyref (lookup-table) "nope") (python-key-error () :key))))
  (is (eq :value (handler-case (pymethod (lookup-table) "strict_int" "y")
                   (python-value-error () :value))))
  ;; an exception instance, and a class wrapper
  (is (eq :lookup (handler-case (pyraise (with-remote-objects (pycall "LookupError" "x")))
                    (python-raise (c) (and (equal "LookupError('x')"
                                                  (pycall "repr" (python-raise-exception c)))
                                           :lookup)))))
  ;; outside a member: a Lisp error that says so
  (let ((c (handler-case (pyraise "KeyError" 1) (error (c) c))))
    (is (typep c 'python-raise))
    (is (search "outside the members of a DEFPYCLASS class" (princ-to-string c))))
  (signals error (pyraise "not_an_exception_name"))
  (signals error (pyraise 42)))

;;; ------------------------------------------------------------------------------------
;;; Redefinition

(test redefinition-updates-the-class-in-place
  (raw-pyexec "class RedefA:
    pass
class RedefB:
    def __len__(self):
        return 3")
  (eval '(defpyclass redefined ("RedefA")
          (:attribute "version" 1)
          (:method "greet" (self) "v1")
          (:method "old" (self) "old")))
  (let* ((before (find-pyclass 'redefined))
         (type 'redefined)
         (instance (funcall 'redefined)))
    (is (equal "v1" (pymethod instance "greet")))
    (eval '(defpyclass redefined ("RedefA")
            "Now documented."
            (:module "shop")
            (:attribute "version" 2)
            (:method "greet" (self) "v2")))
    (is (pyobject-wrapper-eq before (find-pyclass 'redefined)) "the same class object")
    (is (equal "v2" (pymethod instance "greet")) "an existing instance sees the new method")
    (is (null (pycall "hasattr" instance "old")) "a member no longer defined is removed")
    (is (eql 2 (pyslot-value instance "version")))
    (is (equal "Now documented." (pyslot-value before "__doc__")))
    (is (equal "<class 'shop.Redefined'>" (pycall "str" before)))
    ;; new bases that Python takes in place
    (eval '(defpyclass redefined ("RedefB")
            (:method "greet" (self) "v2")))
    (is (pyobject-wrapper-eq before (find-pyclass 'redefined)))
    (is (eql 3 (pycall "len" instance)))
    ;; bases whose layout differs: a new class; the old instance keeps the old one
    (eval '(defpyclass redefined ("dict")
            (:method "greet" (self) "v3")))
    (let ((new (find-pyclass 'redefined)))
      (is (not (pyobject-wrapper-eq before new)))
      (is (equal "v3" (pymethod (funcall 'redefined) "greet")))
      (is (eql 3 (pycall "len" instance)))
      (is (equal "v2" (pymethod instance "greet")))
      (is (typep (funcall 'redefined) type))
      ;; the old instance's Python class is an earlier version of the same Lisp class
      (is (typep instance type)))))

;;; ------------------------------------------------------------------------------------
;;; Garbage collection: 1e5 instances, no leak on either side

(defpyclass holder ()
  (:method "__init__" (self n)
    ;; a Lisp object held by the instance: a handle in the runtime's table
    (setf (pyslot-value self "payload") (make-point :x n :y (list n))))
  (:method "x" (self) (point-x (pyslot-value self "payload"))))

(defun live-counts-now ()
  (tg:gc :full t)
  (pymodgen::pmg-flush)
  (pyexec "import gc; gc.collect()")
  (list (pymodgen::handle-count)
        (pycall "sys.getrefcount" (find-pyclass 'holder))
        (pyeval "sum(1 for o in gc.get_objects() if type(o).__name__ == 'Holder')")))

(defun live-counts ()
  "(Lisp handles, references to the class, live instances) after a full GC on both sides,
once they no longer change: finalizers may run after the GC, on another thread (SBCL's
finalizer thread), and queue their Python references for release then."
  (loop with previous = (live-counts-now)
        repeat 50
        do (sleep 0.1)
           (let ((now (live-counts-now)))
             (when (equal now previous) (return now))
             (setf previous now))
        finally (return previous)))

(test no-leak-over-1e5-instances
  (raw-pyexec "import sys, gc")
  (find-pyclass 'holder)
  (holder 0)                            ; first uses made
  (let ((before (live-counts))
        (n 100000)
        (sum 0))
    ;; made from Lisp, a method called on each
    (dotimes (i n) (incf sum (pymethod (holder i) "x")))
    ;; made from Python
    (is (eql (1- n) (pycall "lambda cls, n: [cls(i).x() for i in range(n)][-1]"
                            (find-pyclass 'holder) n)))
    (let ((after (live-counts)))
      (format t "~&~@<defpyclass GC over 2 x ~D instances: (handles, class refcount, live instances) before ~{~D~^ ~}, after ~{~D~^ ~}~:>~%"
              n before after)
      (is (eql (/ (* n (1- n)) 2) sum))
      ;; (a few wrappers may survive the full GC: conservative stack scanning)
      (is (every (lambda (b a) (<= (- a b) 16)) before after) "before ~S, after ~S" before after))))

;;; ------------------------------------------------------------------------------------
;;; Saved images: the Lisp class outlives the Python class, made again in the new process

(test lisp-class-in-a-saved-image
  (unless-skipped ((not pymodgen::+saved-images+) "~A saves no Lisp images" (lisp-implementation-type))
    (let ((core (format nil "/tmp/pymodgen-defpyclass-~D.core" (%getpid))))
      (unwind-protect
           (progn
             (multiple-value-bind (out code)
                 (run-child-lisp
                  (list "(in-package :pymodgen)"
                        "(defpyclass cl-user::saved-greeter () (:method \"greet\" (self) (cl-user::greeting self)))"
                        "(defgeneric cl-user::greeting (x) (:method ((g cl-user::saved-greeter)) \"hello\"))"
                        ;; the Python class made in this process, before the image is saved
                        "(format t \"~&BEFORE ~A~%\" (pymethod (cl-user::saved-greeter) \"greet\"))"
                        (pymodgen::%save-image-form core))
                  :timeout 180)
               (is (eql 0 code) "saving: ~A" out)
               (is (search "BEFORE hello" out) "~A" out))
             (multiple-value-bind (out code)
                 (run-child-lisp
                  (list "(in-package :pymodgen)"
                        "(format t \"~&TYPE ~S~%\" (type-of (cl-user::saved-greeter)))"
                        "(format t \"~&METHOD ~A~%\" (cl-user::greeting (cl-user::saved-greeter)))"
                        "(format t \"~&SELF ~A~%\" (pymethod (cl-user::saved-greeter) \"greet\"))"
                        "(format t \"~&BY-PYTHON ~S~%\" (type-of (pycall \"lambda c: c()\" (find-pyclass 'cl-user::saved-greeter))))")
                  :core core :timeout 120)
               (is (eql 0 code) "~A" out)
               (is (search "TYPE COMMON-LISP-USER::SAVED-GREETER" out) "~A" out)
               (is (search "METHOD hello" out) "~A" out)
               (is (search "SELF hello" out) "~A" out)
               (is (search "BY-PYTHON COMMON-LISP-USER::SAVED-GREETER" out) "~A" out)))
        (when (probe-file core) (delete-file core))))))
