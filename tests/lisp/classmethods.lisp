;;;; classmethods.lisp -- classmethods and staticmethods, however they are implemented
;;;; (Python, C `classmethod_descriptor`s, C staticmethods in the class dict), are functions
;;;; without an instance parameter, with typeshed's signature where the runtime has none.

(in-package #:pymodgen-bindings-tests)

(def-suite classmethods :in bindings
  :description "Classmethods and staticmethods of C and Python classes, called without an instance.")
(in-suite classmethods)

(def-test c-classmethods-of-datetime ()
  (ensure-arglist-bindings "datetime" "CM-DATETIME")
  (flet ((arglist (name) (arglist-text "cm-datetime" name)))
    ;; `def today(cls) -> Self` in typeshed; the runtime has no signature
    (is (string= "NIL" (arglist "date-today")))
    (is (string= "(&OPTIONAL (TZ: _TzInfo | None +PY-NONE+))" (arglist "datetime-now")) "~A" (arglist "datetime-now"))
    (is (string= "(DATE: _Date TIME: _Time &OPTIONAL TZINFO: _TzInfo | None)" (arglist "datetime-combine"))
        "~A" (arglist "datetime-combine")))
  (is (search "Python: datetime.date.today() -> Self" (doc "cm-datetime" "date-today")))
  (let ((today (call "cm-datetime" "date-today")))
    ;; a datetime.date: an instance of the package's class (docs/lisp-bindings.md)
    (is (typep today (sym "cm-datetime" "date")))
    (is (typep today 'python-object))
    (is (>= (pyslot-value today "year") 2024)))
  (let ((utc (pyvalue "datetime.timezone.utc")))
    (dolist (now (list (call "cm-datetime" "datetime-now" utc) (call "cm-datetime" "datetime-now" :tz utc)))
      (let ((text (pymethod now "isoformat")))
        (is (string= "+00:00" (subseq text (- (length text) 6))) "~A" text))))
  (let ((d (call "cm-datetime" "date-fromisoformat" "2024-02-29"))
        (tm (pycall "datetime.time" 12)))
    (is (string= "2024-02-29T12:00:00" (pymethod (call "cm-datetime" "datetime-combine" d tm) "isoformat")))
    (is (= 1709208000 (pymethod (call "cm-datetime" "datetime-combine" d tm (pyvalue "datetime.timezone.utc"))
                                "timestamp")))))

(def-test c-classmethods-and-staticmethods-of-builtins ()
  (ensure-arglist-bindings "builtins" "CM-BUILTINS")
  ;; (byteorder has a default from Python 3.11: "big")
  (let ((arglist (arglist-text "cm-builtins" "int-from-bytes"))
        (defaulted (>= (second (pyversion-info)) 11)))
    (is (eql 0 (search "(BYTES: Iterable[SupportsIndex] | " arglist)) "~A" arglist)
    (is (search (if defaulted
                    "&OPTIONAL (BYTEORDER: Literal[\"little\", \"big\"] big) &KEY (SIGNED: bool NIL))"
                    " BYTEORDER: Literal[\"little\", \"big\"] &KEY (SIGNED: bool NIL))")
                arglist)
        "~A" arglist)
    (is (= 1 (call "cm-builtins" "int-from-bytes" #(1 0) "little")))
    (is (= -1 (if defaulted
                  (call "cm-builtins" "int-from-bytes" #(255) :signed t)
                  (call "cm-builtins" "int-from-bytes" #(255) "big" :signed t)))))
  (let ((d (call "cm-builtins" "dict-fromkeys" '("a" "b") 0)))
    (is (= 2 (hash-table-count d)))
    (is (eql 0 (gethash "b" d))))
  (is (equalp #(65 66) (call "cm-builtins" "bytes-fromhex" "4142")))
  ;; str.maketrans: a C staticmethod whose `__text_signature__` has `<unrepresentable>` defaults
  (let ((table (call "cm-builtins" "str-maketrans" "ab" "xy")))
    (is (eql 120 (gethash 97 table)))
    (is (eql 121 (gethash 98 table))))
  (let ((table (call "cm-builtins" "str-maketrans" "a" "b" "c")))
    (is (eql 98 (gethash 97 table)))
    (is (eq +py-none+ (gethash 99 table)))))

(def-test python-classmethods-and-staticmethods-of-the-typed-fixture ()
  (ensure-arglist-bindings "pymodgen_typed" "ARGLIST-TYPED" :pythonpath *fixtures*)
  (is (string= "NIL" (arglist-text "arglist-typed" "vec-zero")))
  (is (string= "(A: Vec B: Vec)" (arglist-text "arglist-typed" "vec-dot")))
  (let ((v (call "arglist-typed" "vec" 3d0 4d0))
        (zero (call "arglist-typed" "vec-zero")))
    (is (= 25 (call "arglist-typed" "vec-dot" v v)))
    (is (= 0 (call "arglist-typed" "vec-dot" v zero)))))
