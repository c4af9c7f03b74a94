;;;; portability.lisp -- everything implementation-specific that the runtime's robustness
;;;; needs, in one place (SBCL today; each piece has a portable fallback):
;;;;
;;;;   CALL-WITH-UNWIND-BARRIER / RESUME-PENDING-UNWIND  non-local exits out of callbacks
;;;;   INSTALL-INTERRUPT-FORWARDING                      Lisp interrupts into Python
;;;;   ADD-SAVE-HOOK                                     save-lisp-and-die
;;;;
;;;; Floating-point modes need nothing here: the C ABI switches to Python's environment
;;;; (all traps masked) at every entry and back to the caller's (capi/fpenv.rs).

(in-package #:pymodgen)

(defvar *alive*)                        ; (core.lisp)

;;; ------------------------------------------------------------------------------------
;;; Non-local exits through Python frames
;;;
;;; A Lisp unwind (throw, return-from, go, a handler-case or restart outside, ABORT in the
;;; debugger) out of a Python -> Lisp callback must not skip CPython's C frames: Python's
;;; frames, reference counts and thread state would be left inconsistent. So the unwind
;;; is STOPPED at the callback boundary (CALL-WITH-UNWIND-BARRIER), the callback returns
;;; NULL with a pymodgen.LispUnwind exception so that Python unwinds its own frames, and
;;; when control is back in the Lisp frame that made the Python call (its call fails with
;;; that type: SIGNAL-LAST-ERROR), the SAME unwind is resumed to its original target
;;; (RESUME-PENDING-UNWIND), with its values.
;;;
;;; SBCL (x86-64): an unwind runs each unwind-protect cleanup by a call from its UNWIND
;;; assembly routine, which first pushes the target block, the values' start and count
;;; (see src/assembly/x86-64/assem-rtns.lisp, UNWIND, and the UWP-ENTRY-BLOCK vop, which
;;; reads the block at [rsp+24]). The cleanup of the barrier finds that return address
;;; above its stack pointer, copies block/start/count and the values (they lie on the
;;; stack about to be reused), and later the calling frame re-enters the same routine
;;; with SB-C:%UNWIND. The target block lies in an older frame than the resuming one, so
;;; it is still valid. Where the words cannot be found or checked (another
;;; implementation, an unknown layout), the resume signals a clear error instead.

(defvar *pending-unwinds* (make-hash-table :test #'eq :synchronized t)
  "thread -> list of captured unwinds (innermost first) stopped at a callback boundary.")

(defun push-pending-unwind (record)
  (push record (gethash (bt:current-thread) *pending-unwinds*)))

(defun pop-pending-unwind ()
  (let* ((thread (bt:current-thread))
         (record (pop (gethash thread *pending-unwinds*))))
    (unless (gethash thread *pending-unwinds*) (remhash thread *pending-unwinds*))
    record))

#+(and sbcl x86-64)
(progn
  (defvar *unwind-routine* (sb-fasl::get-asm-routine 'sb-vm::unwind)
    "Address of SBCL's UNWIND assembly routine.")
  (defvar *unwind-return* nil
    "The return address UNWIND pushes when it calls a cleanup (found at load time).")

  (declaim (inline stack-word))
  (defun stack-word (address offset)
    (sb-sys:sap-ref-word (sb-sys:int-sap address) offset))

  (defvar *unwind-offset* nil
    "Where that return address lies above the stack pointer of the barrier's cleanup
(a constant of CALL-WITH-UNWIND-BARRIER's compiled frame, found at load time).")

  (defun find-unwind-frame (sp)
    "The stack address of the return address that UNWIND pushed when calling the
cleanup that is running now, or NIL. SP is the stack pointer the barrier's cleanup had.
Once calibrated, only the one word at the known offset is accepted: stale copies of that
address, left in dead stack memory by earlier unwinds, are never taken for it."
    (when sp
      (if *unwind-offset*
          (let ((a (+ sp *unwind-offset*)))
            (when (= (stack-word a 0) *unwind-return*) a))
          (loop for a from sp by sb-vm:n-word-bytes repeat 64
                for w = (stack-word a 0)
                when (< *unwind-routine* w (+ *unwind-routine* 512))
                  return a))))

  (defun control-stack-end ()
    (ash sb-vm:*control-stack-end* sb-vm:n-fixnum-tag-bits))

  (defun capture-unwind (sp)
    "Called from a cleanup run by an unwind, with that cleanup's stack pointer: a record
of the unwind's target and values, or :UNKNOWN."
    (let ((a (find-unwind-frame sp)))
      (if (null a)
          :unknown
          (let* ((ra (stack-word a 0))
                 (count (stack-word a 8))
                 (start (stack-word a 16))
                 (block (stack-word a 24))
                 (n (ash count (- sb-vm:n-fixnum-tag-bits)))
                 (end (control-stack-end))
                 ;; The senders' conventions: THROW and multiple-value exits pass START
                 ;; pointing just above COUNT values on the stack (value i at START -
                 ;; 8(i+1)); a one-value RETURN-FROM passes the value itself as START; GO
                 ;; passes 0. The values are copied now: that stack is about to be reused.
                 (values-p (and (zerop (logand start (1- sb-vm:n-word-bytes)))
                                (< a start end)
                                (zerop (logand count sb-vm:fixnum-tag-mask))
                                (<= 0 n 100000))))
            (if (and (< a block end) (zerop (logand block (1- sb-vm:n-word-bytes))))
                (list ra block
                      (if values-p :values (list (sb-kernel:%make-lisp-obj start)))
                      (if values-p
                          (loop for i below n
                                collect (sb-kernel:%make-lisp-obj
                                         (stack-word start (* -8 (1+ i)))))
                          count)
                      (- a sp))
                :unknown)))))

  (defun %resume-unwind (record)
    (destructuring-bind (ra block kind values offset) record
      (declare (ignore ra offset))
      (let ((sp (sb-sys:sap-int (sb-vm::current-sp))))
        (unless (< sp block (control-stack-end))
          (error "pymodgen: the target of a non-local exit out of a Python callback is no
longer on the stack; it cannot be resumed")))
      (if (eq kind :values)
          (let* ((n (length values))
                 (small (make-array 64))
                 (v (if (<= n 64) small (make-array n))))
            (declare (dynamic-extent small))
            ;; value i at START - 8(i+1): the same layout as values pushed by THROW
            (loop for x in values for i from 0 do (setf (svref v (- n 1 i)) x))
            (sb-sys:with-pinned-objects (v)
              (let ((start (+ (logandc2 (sb-kernel:get-lisp-obj-address v) sb-vm:lowtag-mask)
                              (* sb-vm:n-word-bytes sb-vm:vector-data-offset)
                              (* sb-vm:n-word-bytes n))))
                (sb-c:%unwind (ash block (- sb-vm:n-fixnum-tag-bits))
                              (ash start (- sb-vm:n-fixnum-tag-bits))
                              n))))
          (sb-c:%unwind (ash block (- sb-vm:n-fixnum-tag-bits))
                        (car kind)
                        (sb-kernel:%make-lisp-obj values))))))

#-(and sbcl x86-64)
(progn
  (defun capture-unwind (sp) (declare (ignore sp)) :unknown)
  (defun %resume-unwind (record) (declare (ignore record)) nil))

(defmacro cleanup-stack-pointer ()
  "The current stack pointer as an integer, read inline (in the cleanup that needs it)."
  #+(and sbcl x86-64) '(sb-sys:sap-int (sb-vm::current-sp))
  #-(and sbcl x86-64) nil)

(defun call-with-unwind-barrier (thunk on-unwind)
  "Calls THUNK. A non-local exit out of it is stopped here and recorded for
RESUME-PENDING-UNWIND; the value of ON-UNWIND (called then) is returned instead."
  (declare (function thunk on-unwind))
  (block barrier
    (let ((done nil))
      (unwind-protect (multiple-value-prog1 (funcall thunk) (setf done t))
        (unless done
          (push-pending-unwind (capture-unwind (cleanup-stack-pointer)))
          (return-from barrier (funcall on-unwind)))))))

(defun resume-pending-unwind ()
  "Resumes the non-local exit most recently stopped at a callback boundary on this
thread (the Python frames in between have been unwound). Does not return."
  (let ((record (pop-pending-unwind)))
    (when (consp record) (%resume-unwind record))
    (error "pymodgen: a non-local exit (throw, return-from, a handler or restart outside)
left a Lisp callback called from Python; Python's frames were unwound, but this Lisp
implementation cannot resume the exit to its target.")))

#+(and sbcl x86-64)
(let ((record (catch 'probe
                (call-with-unwind-barrier (lambda () (throw 'probe nil))
                                          (lambda () (pop-pending-unwind))))))
  ;; learn the exact return address UNWIND pushes, so that later scans match exactly
  (when (consp record)
    (setf *unwind-return* (first record)
          *unwind-offset* (fifth record))))

;;; ------------------------------------------------------------------------------------
;;; Interrupts

(defun forward-interrupt (thread)
  "If THREAD is executing Python, asks Python to raise KeyboardInterrupt in it (the Lisp
interrupt itself runs when the Python call has returned)."
  (when *alive*
    #+sbcl (pmg-interrupt-thread (sb-thread::thread-os-thread thread))
    #-sbcl (declare (ignore thread))))

(defvar *signal-relay* nil
  "A Lisp thread that only waits: C-c, timer signals (WITH-TIMEOUT) and SIGTERM that land
on a thread executing Python are passed to it by the runtime, so their Lisp handlers run at
once (see capi/interrupts.rs).")

(defun stop-signal-relay ()
  "Before saving an image (only one thread may run then)."
  #+sbcl
  (let ((relay *signal-relay*))
    (setf *signal-relay* nil)
    (when (and relay (sb-thread:thread-alive-p relay))
      (sb-thread:terminate-thread relay)
      (ignore-errors (sb-thread:join-thread relay :default nil :timeout 5)))))

(defun install-interrupt-forwarding ()
  "Makes INTERRUPT-THREAD (so WITH-TIMEOUT and SLIME's interrupts too), C-c and SIGTERM
end a long Python call in the target thread with KeyboardInterrupt instead of waiting for
it; the Lisp interrupt then runs as soon as the call has returned. Called by PYSTART."
  #+sbcl
  (progn
    (unless (sb-int:encapsulated-p 'sb-thread:interrupt-thread 'pymodgen)
      (sb-int:encapsulate 'sb-thread:interrupt-thread 'pymodgen
                          (lambda (f thread function)
                            (ignore-errors (forward-interrupt thread))
                            (funcall f thread function))))
    (unless (and *signal-relay* (sb-thread:thread-alive-p *signal-relay*))
      (setf *signal-relay*
            (sb-thread:make-thread (lambda () (loop (sleep 3600)))
                                   :name "pymodgen signal relay"))
      (pmg-set-signal-relay (sb-thread::thread-os-thread *signal-relay*)))))

;;; ------------------------------------------------------------------------------------
;;; Saved images

(defun add-save-hook (function)
  "Calls FUNCTION (a symbol) before the Lisp image is saved."
  #+sbcl (pushnew function sb-ext:*save-hooks*)
  #-sbcl (declare (ignore function)))

(add-save-hook 'stop-signal-relay)
