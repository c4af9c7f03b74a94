;;;; tests/stress.lisp -- threads, many calls, many finalized wrappers, restart.

(in-package #:pymodgen-tests)

(def-suite stress :in pymodgen)
(in-suite stress)

(defun rss-kb ()
  (with-open-file (s "/proc/self/statm")
    (let ((*read-eval* nil))
      (read s)
      (* 4 (read s)))))

(defun full-gc ()
  (tg:gc :full t)
  (sleep 0.1)                           ; let the finalizer thread run
  (tg:gc :full t)
  (sleep 0.1)
  (pymodgen::pmg-flush))

(test four-threads-ten-thousand-calls-each
  (let* ((n 10000)
         (threads (loop for k below 4
                        collect (let ((k k))
                                  (bt:make-thread
                                   (lambda ()
                                     (let ((bad 0))
                                       (dotimes (i n bad)
                                         (let ((j (+ i (* k 1000000))))
                                           (unless (string= (pycall "str" j) (princ-to-string j))
                                             (incf bad))
                                           (when (zerop (mod i 1000))
                                             (unless (equalp (vector j "x") (pycall "list" (list j "x")))
                                               (incf bad)))))))
                                   :name (format nil "pymodgen test ~D" k)))))
         (results (mapcar #'bt:join-thread threads)))
    (is (equal '(0 0 0 0) results))
    (is (eql 3 (pycall "len" "abc")) "the main thread can still call")))

(test threads-inside-with-python-gil
  (let* ((threads (loop for k below 2
                        collect (bt:make-thread
                                 (lambda ()
                                   (with-python-gil
                                     (loop for i below 5000 count (eql i (pycall "int" i)))))))))
    (is (equal '(5000 5000) (mapcar #'bt:join-thread threads)))))

(test million-calls-flat-memory
  ;; A first million calls lets the heaps reach their working size (ECL's Boehm heap grows
  ;; in steps, by ~20 MB once after a long suite); a leak grows again over the second.
  (dotimes (i 1000000) (pycall "str" i))
  (full-gc)
  (let ((before (rss-kb)))
    (dotimes (i 1000000) (pycall "str" i))
    (full-gc)
    (let ((growth (- (rss-kb) before)))
      (is (< growth 20000) "RSS grew by ~D kB over 1e6 calls" growth))))

(test hundred-thousand-finalized-wrappers
  (raw-pyexec "import sys
class Tracked: pass
tracked = Tracked()")
  (full-gc)
  (let ((base (pyeval "sys.getrefcount(tracked)"))
        (before (rss-kb)))
    (dotimes (i 100000) (with-remote-objects (pyvalue "tracked")))
    (let ((held (pyeval "sys.getrefcount(tracked)")))
      (is (> held base) "wrappers hold references until collected"))
    (full-gc)
    (let ((after (pyeval "sys.getrefcount(tracked)")))
      (is (<= (- after base) 100) "references released: base ~D, after ~D" base after))
    (let ((growth (- (rss-kb) before)))
      (is (< growth 30000) "RSS grew by ~D kB for 1e5 wrappers" growth))))

(test deferred-decref-needs-no-gil
  (let ((p (pymodgen::pythonize "some string")))
    (is (= 1 (pymodgen::pmg-refcount p)))
    (pymodgen::pmg-incref p)
    (is (= 2 (pymodgen::pmg-refcount p)))
    (bt:join-thread (bt:make-thread (lambda () (pymodgen::pmg-decref-deferred p))))
    (is (plusp (pymodgen::pmg-deferred-count)))
    (pycall "len" "x")                   ; any call takes the GIL and flushes the queue
    (is (= 1 (pymodgen::pmg-refcount p)))
    (pymodgen::pmg-decref p)))

(test pystop-then-pystart
  (setf (pyvalue "before_stop") 1)
  (let ((cell (%callable-cell "math" "factorial"))
        (gen (pymodgen::pmg-generation)))
    (is (eql 120 (%call-cell cell '(5) nil)))
    (is (eq t (pystop)))
    (is (not (python-alive-p)))
    (is (eq t (pystart)))
    (is (python-alive-p))
    (is (> (pymodgen::pmg-generation) gen))
    (is (equal "NameError" (handler-case (pyvalue "before_stop") (pyerror (c) (pyerror-type c))))
        "the session's variables are gone")
    (is (eql 720 (%call-cell cell '(6) nil)) "cells re-resolve after a restart")
    (is (equal "42" (pycall "str" 42)))
    (pystop)
    (is (equal "43" (pycall "str" 43)) "pycall starts Python when needed")
    (is (python-alive-p))))

(test string-arguments-while-the-gc-moves-objects
  ;; Strings reach Python as their pinned character data: a concurrent GC must not move
  ;; them under the call.
  (let* ((stop nil)
         (gc-thread (bt:make-thread (lambda () (loop until stop do (tg:gc) (sleep 0.001)))))
         (bad (unwind-protect
                   (loop for i below 20000
                         for s = (format nil "~D-λ-~D" i (* i i))
                         for b = (coerce (format nil "~D" i) 'simple-base-string)
                         count (not (and (string= s (pycall "str" s))
                                         (= (length s) (pycall "len" s))
                                         (string= b (pycall "str" b)))))
                (setf stop t)
                (bt:join-thread gc-thread))))
    (is (eql 0 bad))))

(test saved-lisp-image-restarts-python
  ;; A Lisp image saved after using Python starts with Python stopped, and its cached
  ;; callables, wrappers and finalizers never touch the old process's pointers.
  (unless-skipped ((not pymodgen::+saved-images+) "~A saves no Lisp images" (lisp-implementation-type))
  (let* ((core (format nil "/tmp/pymodgen-test-~D.core" (%getpid)))
         (asd-dir (namestring (asdf:system-source-directory "pymodgen")))
         (setup (format nil "(progn (push #p~S asdf:*central-registry*) (handler-bind ((warning #'muffle-warning)) (asdf:load-system \"pymodgen\")))" asd-dir)))
    (unwind-protect
         (progn
           (uiop:run-program
            (%lisp-command
             (list "(require :asdf)" setup
                   "(pymodgen:pystart)"
                   "(pymodgen:defpyfun \"sqrt\" \"math\" :lisp-fun-name \"MSQRT\" :lisp-package :cl-user)"
                   "(defvar cl-user::*w* (list (cl-user::msqrt 4) (pymodgen:pycall \"object\") (pymodgen:pycall \"str\" 1)))"
                   (pymodgen::%save-image-form core)))
            :output nil :error-output nil)
           (let ((out (uiop:run-program
                       (%lisp-command
                        (list "(setf cl-user::*w* nil)"
                              "(progn (tg:gc :full t) (sleep 0.2) (tg:gc :full t))"
                              "(print (list (pymodgen:python-alive-p) (cl-user::msqrt 9) (pymodgen:pycall \"str\" 7)))"
                              "(progn (tg:gc :full t) (sleep 0.2) (print (pymodgen:pycall \"len\" \"abc\")))")
                        :core core)
                       :output :string :error-output :output :ignore-error-status t)))
             (is (search "(NIL 3.0d0 \"7\")" out) "restarted image output: ~A" out)
             (is (search "3" (subseq out (or (search "\"7\")" out) 0))))))
      (ignore-errors (delete-file core))))))

(defun join-with-timeout (thread seconds)
  (loop repeat (* seconds 100)
        while (bt:thread-alive-p thread)
        do (sleep 0.01))
  (if (bt:thread-alive-p thread) :timeout (bt:join-thread thread)))

(test interrupting-a-thread-inside-python
  ;; interrupt-thread unwinding a thread that is inside Python: the interrupt is deferred
  ;; to the end of the foreign call, so the GIL is never left taken.
  (raw-pyexec "import time")
  (let ((th (bt:make-thread (lambda ()
                              (catch 'out
                                (loop (pycall "time.sleep" 0.005)
                                      (with-python-gil (pycall "time.sleep" 0.005))))))))
    (sleep 0.1)
    (bt:interrupt-thread th (lambda () (throw 'out :interrupted)))
    (is (eq :interrupted (join-with-timeout th 10))))
  (let ((other (bt:make-thread (lambda () (pycall "str" 12)))))
    (is (equal "12" (join-with-timeout other 10)) "other threads still get the GIL"))
  (is (equal "13" (pycall "str" 13))))

(test thread-states-of-exited-threads-are-freed
  (pycall "str" 0)
  (let ((base (pymodgen::pmg-thread-state-count)))
    (dotimes (round 5)
      (mapc #'bt:join-thread
            (loop repeat 20 collect (bt:make-thread (lambda () (pycall "str" 1))))))
    (pycall "str" 2)                      ; the next GIL holder deletes them
    (is (<= (pymodgen::pmg-thread-state-count) (+ base 2))
        "~D thread states after 100 short-lived threads (base ~D)"
        (pymodgen::pmg-thread-state-count) base)
    ;; deleting them left this thread's PyGILState binding alone (from Python 3.12 a
    ;; deletion unbinds the deleting thread: numpy's error handler then hung or aborted)
    (is (eql 1 (pymodgen::pmg-gilstate-is-own)))))
