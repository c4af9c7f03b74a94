;;;; bench-generated.lisp -- generated calls against the same loop in native Python (the
;;;; design targets: >= 0.45x taking the GIL per call, >= 0.7x inside with-python-gil), by the
;;;; compile-time route and by the run-time &rest route, and against the runtime's imported
;;;; function (the pycall-style DEFPYFUN of api.lisp), same process, native Python and each Lisp
;;;; loop in interleaved rounds (best kept, the spread of the rounds' ratios printed), beside the
;;;; floor (the bare CFFI call into libpython). Not a test: no timed assertions.
;;;;   sbcl --script tests/lisp/bench-generated.lisp      (PYMODGEN_BENCH_N: loop length)
;;;;   ecl --norc --load tests/lisp/bench-generated.lisp --eval '(ext:quit)'   (or scripts/lisp-bench)

(require :asdf)
(let ((here (directory-namestring *load-truename*)))
  (asdf:load-asd (merge-pathnames "../../runtime/lisp/pymodgen.asd" here))
  (asdf:load-asd (merge-pathnames "pymodgen-bindings-tests.asd" here)))
(handler-bind ((warning #'muffle-warning))
  (asdf:load-system "pymodgen-bindings-tests"))

(defpackage #:pymodgen-bench-generated (:use #:cl #:pymodgen))
(in-package #:pymodgen-bench-generated)

(defparameter *n* (let ((v (uiop:getenv "PYMODGEN_BENCH_N"))) (if v (parse-integer v) 20000)))
;; Short loops, many repetitions, the best kept (as runtime/lisp/bench.lisp): on a shared
;; machine some repetitions run undisturbed.
(defparameter *reps* (let ((v (uiop:getenv "PYMODGEN_BENCH_REPS"))) (if v (parse-integer v) 60)))
(defparameter *rounds* (let ((v (uiop:getenv "PYMODGEN_BENCH_ROUNDS"))) (if v (parse-integer v) 15))
  "Interleaved rounds over which the *REPS* timed runs of each loop are spread.")

(defparameter *clock*
  (if (equal (uiop:getenv "PYMODGEN_BENCH_CLOCK") "wall") 1 3)
  "CLOCK_THREAD_CPUTIME_ID (3) by default: the time this thread ran, which a loaded machine's
preemption does not inflate; PYMODGEN_BENCH_CLOCK=wall for CLOCK_MONOTONIC (1). Native Python
runs on the same thread and is timed by the same clock.")

(defun now ()
  (cffi:with-foreign-object (ts :int64 2)
    (cffi:foreign-funcall "clock_gettime" :int *clock* :pointer ts :int)
    (+ (cffi:mem-aref ts :int64 0) (* (cffi:mem-aref ts :int64 1) 1d-9))))

(defmacro best-seconds (&body body)
  `(loop repeat *reps* minimize (let ((t0 (now))) ,@body (- (now) t0))))

(pystart)
;; The generated package BUILTINS, compiled and loaded as users get it.
(pymodgen-bindings-tests:load-generated
 (first (pymodgen-bindings-tests:generate '("builtins"))))

;; The runtime's imported functions (api.lisp's pycall-style DEFPYFUN expansion), compiled
;; (COMPILE: ECL's EVAL would interpret them).
(dolist (f '(("str" "IMPORTED-STR") ("round" "IMPORTED-ROUND")))
  (funcall (compile nil `(lambda ()
                           ,(funcall (get 'defpyfun 'pymodgen::pycall-expander)
                                     `(defpyfun ,(first f) "builtins" :lisp-fun-name ,(second f)
                                                :lisp-package "PYMODGEN-BENCH-GENERATED")
                                     nil)))))

;;; The native side: the loop `for i in range(N): str(i)` in native Python, a function defined
;;; in __main__ (one call from Lisp per timed run), timed by the same clock.
(raw-pyexec "def _pymodgen_bench_str(n):
    for i in range(n): str(i)")

;;; The floor: what a call from this Lisp into libpython costs at the least, by bare CFFI, no
;;; float switch, no conversion layer: PyLong_FromLong, PyObject_Str, a hand-written ASCII
;;; copy of the result into a Lisp string, two decrefs (as runtime/lisp/bench.lisp).
;; A foreign call by name. On ECL, CFFI's dynamic FFI would look the symbol up and go through
;; libffi at every call (microseconds): there the address is looked up once, at the first call,
;; and called from inline C (what ECL's compiled code can do at best).
(defmacro symbol-address (name)
  `(let ((cell (load-time-value (vector nil))))
     (or (svref cell 0) (setf (svref cell 0) (cffi:foreign-symbol-pointer ,name)))))

(defmacro ff (name &rest args)
  #-ecl `(cffi:foreign-funcall ,name ,@args)
  #+ecl (let* ((pairs (loop for (type arg) on (butlast args) by #'cddr collect (list type arg)))
               (rtype (car (last args))))
          (flet ((ecl-type (ty) (ecase ty (:long :long) (:int :int) (:pointer :pointer-void) (:void :void)))
                 (c-type (ty) (ecase ty (:long "long") (:int "int") (:pointer "void*") (:void "void"))))
            `(ffi:c-inline
              ((symbol-address ,name) ,@(mapcar #'second pairs))
              (:pointer-void ,@(mapcar (lambda (p) (ecl-type (first p))) pairs))
              ,(ecl-type rtype)
              ,(format nil "((~A(*)(~{~A~^,~}))#0)(~{#~D~^,~})" (c-type rtype)
                       (or (mapcar (lambda (p) (c-type (first p))) pairs) '("void"))
                       (loop for k from 1 to (length pairs) collect k))
              :one-liner t :side-effects t))))

(defvar *size-cell* (cffi:foreign-alloc :long))

(defmacro ascii-copy (s)
  "A Lisp string of the characters of the ASCII Python str S, copied by hand."
  #-ecl `(let* ((p (ff "PyUnicode_AsUTF8AndSize" :pointer ,s :pointer *size-cell* :pointer))
                (len (cffi:mem-ref *size-cell* :long))
                (r (make-string len)))
           (dotimes (k len r) (setf (schar r k) (code-char (cffi:mem-aref p :uint8 k)))))
  #+ecl `(ffi:c-inline ((symbol-address "PyUnicode_AsUTF8AndSize") ,s) (:pointer-void :pointer-void) :object
                       "{ long n; const unsigned char *p = ((const unsigned char *(*)(void *, long *))#0)(#1, &n);
  cl_object r = ecl_alloc_simple_base_string(n);
  for (long k = 0; k < n; k++) r->base_string.self[k] = p[k];
  @(return) = r; }" :one-liner nil :side-effects t))

(compile 'floor-str
         '(lambda (i)
           (declare (type fixnum i) (optimize speed (safety 0)))
           (let* ((o (ff "PyLong_FromLong" :long i :pointer))
                  (s (ff "PyObject_Str" :pointer o :pointer))
                  (r (ascii-copy s)))
             (ff "Py_DecRef" :pointer s :void)
             (ff "Py_DecRef" :pointer o :void)
             r)))
(compile 'floor-tstate
         '(lambda (n)
           "N calls of FLOOR-STR, the GIL taken per call by PyEval_RestoreThread/SaveThread
with this thread's state cached."
           (let* ((g (ff "PyGILState_Ensure" :int))
                  (ts (ff "PyEval_SaveThread" :pointer)))
             (unwind-protect
                  (dotimes (i n)
                    (ff "PyEval_RestoreThread" :pointer ts :void)
                    (floor-str i)
                    (ff "PyEval_SaveThread" :pointer))
               (ff "PyEval_RestoreThread" :pointer ts :void)
               (ff "PyGILState_Release" :int g :void)))))
(compile 'floor-held '(lambda (n) (with-python-gil (dotimes (i n) (floor-str i)))))

(defun median (xs)
  (nth (floor (length xs) 2) (sort (copy-list xs) #'<)))

(defun run-native-rows (rows n)
  "ROWS: lists (LABEL THUNK FLOOR), FLOOR :PER-CALL, :HELD or NIL. Each row's loop and the
native loop beside it run alternately, *ROUNDS* rounds round-robin over the rows, *REPS* /
*ROUNDS* timed runs each time (the best kept); prints the best ratio, the min/median/max of
the rounds' ratios, and the floor's ratio (the first two rows: the floors)."
  (let* ((reps (max 1 (ceiling *reps* *rounds*)))
         (k (length rows))
         (native (make-array k :initial-element 1d9))
         (lisp (make-array k :initial-element 1d9))
         (ratios (make-array k :initial-element '())))
    (flet ((best (thunk) (loop repeat reps minimize (let ((t0 (now))) (funcall thunk) (- (now) t0)))))
      (dotimes (r *rounds*)
        (loop for row in rows for j from 0
              do (let ((nat (best (lambda () (pycall "_pymodgen_bench_str" n))))
                       (l (best (second row))))
                   (setf (aref native j) (min nat (aref native j))
                         (aref lisp j) (min l (aref lisp j)))
                   (push (/ nat l) (aref ratios j))))))
    (loop for row in rows for j from 0
          do (let ((floor (case (third row) (:per-call 0) (:held 1)))
                   (rs (aref ratios j)))
               (format t "~&~52A ~7,1F ns/call   native Python ~7,1F ns/call   ratio ~5,2Fx  rounds ~,2F/~,2F/~,2F~@[  floor ~5,2Fx~]~%"
                       (first row) (* 1d9 (/ (aref lisp j) n)) (* 1d9 (/ (aref native j) n))
                       (/ (aref native j) (aref lisp j))
                       (reduce #'min rs) (median rs) (reduce #'max rs)
                       (and floor (/ (aref native floor) (aref lisp floor))))))))

(defun report3 (what compiled parsed imported n)
  (format t "~&~52A compile-time ~7,1F ns   run-time parsing ~7,1F ns   imported ~7,1F ns/call~%"
          what (* 1d9 (/ compiled n)) (* 1d9 (/ parsed n)) (* 1d9 (/ imported n))))

(let ((n *n*)
      (str (find-symbol "STR" "BUILTINS"))
      (round (find-symbol "ROUND" "BUILTINS")))
  (compile 'run-bench
           `(lambda ()
              ;; Calls compiled after the bindings are loaded take the compile-time route
              ;; (the compiler macro: one direct foreign call); declared NOTINLINE, the call goes to
              ;; the DEFUN, which parses its &REST list at run time (the route of wave 1).
              (format t "~&Generated call vs the same loop in native Python (n = ~:D, ~D interleaved rounds, best of ~D runs in all, ~A clock; ratio: native time / Lisp time; rounds: min/median/max of the rounds' ratios; floor: the bare CFFI call's ratio, same run)~%"
                      ,n *rounds* (* *rounds* (max 1 (ceiling *reps* *rounds*)))
                      (if (= *clock* 3) "thread CPU" "wall"))
              (run-native-rows
               (list (list "floor: bare CFFI, GIL per call (cached tstate)"
                           (lambda () (floor-tstate ,n)))
                     (list "floor: bare CFFI, inside with-python-gil"
                           (lambda () (floor-held ,n)))
                     (list "(builtins:str i), compile-time route, GIL per call"
                           (lambda () (dotimes (i ,n) (,str i))) :per-call)
                     (list "(builtins:str i), compile-time route, in with-python-gil"
                           (lambda () (with-python-gil (dotimes (i ,n) (,str i)))) :held)
                     (list "(builtins:str i) notinline: run-time &rest parsing, GIL per call"
                           (lambda () (dotimes (i ,n) (locally (declare (notinline ,str)) (,str i)))) :per-call)
                     (list "(builtins:str i) notinline: run-time parsing, in with-python-gil"
                           (lambda () (with-python-gil (dotimes (i ,n) (locally (declare (notinline ,str)) (,str i))))) :held)
                     (list "imported function (defpyfun), GIL per call"
                           (lambda () (dotimes (i ,n) (imported-str i))) :per-call)
                     (list "imported function, in with-python-gil"
                           (lambda () (with-python-gil (dotimes (i ,n) (imported-str i)))) :held))
               ,n)
              (format t "~&~%Compile-time route vs run-time &rest parsing vs the runtime's imported function (n = ~:D, best of ~D)~%"
                      ,n *reps*)
              (report3 "(builtins:round x 2), GIL per call"
                       (best-seconds (dotimes (i ,n) (,round 1.2345d0 2)))
                       (best-seconds (dotimes (i ,n) (locally (declare (notinline ,round)) (,round 1.2345d0 2))))
                       (best-seconds (dotimes (i ,n) (imported-round 1.2345d0 2))) ,n)
              (report3 "(builtins:round x :ndigits 2) [keyword], GIL per call"
                       (best-seconds (dotimes (i ,n) (,round 1.2345d0 :ndigits 2)))
                       (best-seconds (dotimes (i ,n) (locally (declare (notinline ,round)) (,round 1.2345d0 :ndigits 2))))
                       (best-seconds (dotimes (i ,n) (imported-round 1.2345d0 :ndigits 2))) ,n)
              (report3 "(builtins:round x :ndigits 2) [keyword], in with-python-gil"
                       (best-seconds (with-python-gil (dotimes (i ,n) (,round 1.2345d0 :ndigits 2))))
                       (best-seconds (with-python-gil (dotimes (i ,n) (locally (declare (notinline ,round)) (,round 1.2345d0 :ndigits 2)))))
                       (best-seconds (with-python-gil (dotimes (i ,n) (imported-round 1.2345d0 :ndigits 2)))) ,n))))
(run-bench)
