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
  (dotimes (i 100000) (pycall "str" i))
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
