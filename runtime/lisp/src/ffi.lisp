;;;; ffi.lisp -- the C ABI (crate pymodgen-capi, runtime/capi/) as CFFI definitions.
;;;; Every function here is safe to call from any Lisp thread: it takes the GIL itself
;;;; unless the thread already holds it through WITH-PYTHON-GIL or a Python callback.

(in-package #:pymodgen)

(defmacro defpmg (name ret &rest args)
  "Defines the foreign function NAME as a Lisp function (inline where
+INLINE-FOREIGN-CALLS+). The call runs with interrupts deferred (%WITHOUT-INTERRUPTS): an
interrupt that unwound through the runtime's frames would leave the GIL taken and its
bookkeeping wrong."
  (let* ((lisp-name (intern (string-upcase (substitute #\- #\_ name))))
         (raw-name (intern (format nil "%~A" lisp-name)))
         (params (mapcar #'first args)))
    `(progn (declaim (inline ,raw-name ,@(and +inline-foreign-calls+ (list lisp-name))))
            (cffi:defcfun (,name ,raw-name) ,ret ,@args)
            (defun ,lisp-name ,params
              (%without-interrupts (,raw-name ,@params))))))

;; the ABI itself (abi.rs)
(defpmg "pmg_abi_version" :int64)
(defpmg "pmg_abi_layout" :pointer)
;; lifecycle and GIL
(defpmg "pmg_initialize" :int (executable :string) (home :pointer))
(defpmg "pmg_stop" :int)
(defpmg "pmg_alive" :int)
(defpmg "pmg_generation" :int64)
(defpmg "pmg_gil_enter" :int)
(defpmg "pmg_gil_exit" :void)
(defpmg "pmg_gil_held" :int)
(defpmg "pmg_thread_state_count" :int64)
(defpmg "pmg_gilstate_is_own" :int64)
(defpmg "pmg_in_python" :int)
(defpmg "pmg_interrupt_thread" :int (os-thread :uint64))
(defpmg "pmg_set_signal_relay" :int (os-thread :uint64))
(defpmg "pmg_fp_words" :uint64)
(defpmg "pmg_set_fp_switch" :void (on :int))
;; errors
(defpmg "pmg_error_part" :pointer (i :int))
(defpmg "pmg_error_clear" :void)
(defpmg "pmg_set_python_error" :void (kind :int) (msg :string))
;; reference counts
(defpmg "pmg_decref" :void (o :pointer))
(defpmg "pmg_incref" :void (o :pointer))
(defpmg "pmg_decref_deferred" :void (o :pointer))
(defpmg "pmg_deferred_count" :int64)
(defpmg "pmg_flush" :int)
(defpmg "pmg_refcount" :int64 (o :pointer))
;; values
(defpmg "pmg_classify" :int (o :pointer) (out :pointer))
(defpmg "pmg_item_classify" :int (seq :pointer) (i :int64) (out :pointer))
(defpmg "pmg_dict_next" :int (d :pointer) (pos :pointer) (k :pointer) (v :pointer))
(defpmg "pmg_result" :int (o :pointer) (out :pointer))
;; calls
(defpmg "pmg_call" :int (callable :pointer) (args :pointer) (nargs :int64)
  (kwnames :pointer) (nkw :int64) (out :pointer) (raw :int))
(defpmg "pmg_call_path_cached" :int (cache :pointer) (path :pointer) (npath :int64)
  (args :pointer) (nargs :int64) (kwnames :pointer) (nkw :int64) (out :pointer) (raw :int))
(defpmg "pmg_path_cache_new" :pointer)
(defpmg "pmg_resolve" :pointer (path :pointer) (npath :int64))
;; objects
(defpmg "pmg_import" :pointer (name :string))
(defpmg "pmg_getattr" :pointer (o :pointer) (name :string))
(defpmg "pmg_setattr" :int (o :pointer) (name :string) (value :pointer))
(defpmg "pmg_getitem" :pointer (o :pointer) (key :pointer))
(defpmg "pmg_setitem" :int (o :pointer) (key :pointer) (value :pointer))
(defpmg "pmg_str" :pointer (o :pointer) (which :int))
(defpmg "pmg_run" :pointer (code :string) (mode :int))
(defpmg "pmg_eval" :int (code :string) (mode :int) (out :pointer) (raw :int))
(defpmg "pmg_compile" :pointer (code :string) (mode :int))
(defpmg "pmg_eval_code" :int (code :pointer) (out :pointer) (raw :int))
(defpmg "pmg_main_dict" :pointer)
(defpmg "pmg_register_type" :int (slot :int) (type :pointer))
(defpmg "pmg_type_name" :pointer (o :pointer))
;; constructors
(defpmg "pmg_long" :pointer (v :int64))
(defpmg "pmg_long_from_hex" :pointer (s :string))
(defpmg "pmg_long_to_hex" :pointer (o :pointer))
(defpmg "pmg_float" :pointer (v :double))
(defpmg "pmg_complex" :pointer (re :double) (im :double))
(defpmg "pmg_bool" :pointer (v :int))
(defpmg "pmg_none" :pointer)
(defpmg "pmg_str_from_kind" :pointer (kind :int) (data :pointer) (len :int64))
(defpmg "pmg_str_from_utf8" :pointer (data :pointer) (len :int64))
(defpmg "pmg_intern" :pointer (s :string))
(defpmg "pmg_bytes" :pointer (data :pointer) (len :int64))
(defpmg "pmg_container" :pointer (kind :int) (n :int64))
(defpmg "pmg_fill" :int (c :pointer) (i :int64) (k :pointer) (v :pointer))
(defpmg "pmg_to_list" :pointer (o :pointer))
(defpmg "pmg_capture_begin" :int (which :int))
(defpmg "pmg_capture_end" :pointer (which :int))
(defpmg "pmg_len" :int64 (o :pointer))
(defpmg "pmg_iter" :pointer (o :pointer))
(defpmg "pmg_next" :pointer (it :pointer) (done :pointer))
(defpmg "pmg_compare" :int (a :pointer) (b :pointer) (op :int))
;; arrays
(defpmg "pmg_array_over" :pointer (data :pointer) (nbytes :int64) (dtype :string)
  (ndim :int64) (shape :pointer) (writable :int))
(defpmg "pmg_array_info" :int (o :pointer) (contiguous :int) (info :pointer))
;; callbacks
(defpmg "pmg_set_lisp_callback" :void (f :pointer))
(defpmg "pmg_make_callable" :pointer (handle :int64))
(defpmg "pmg_take_freed_handles" :int64 (buf :pointer) (cap :int64))

;;; The structs and constants shared with the library. Their sizes, offsets and values
;;; are compared with the library's own (pmg_abi_layout, computed from the Rust
;;; definitions) by the test ABI-LAYOUT-MATCHES-THE-LIBRARY (tests/robustness.lisp); the
;;; ABI version is checked at load (library.lisp). The readers below take offsets and
;;; types from these DEFCSTRUCTs at macroexpansion time: constant offsets, as written by hand.

(cffi:defcstruct pmg-value              ; struct PmgValue (runtime/capi/src/values.rs)
  (tag :int) (kind :int) (len :int64) (i :int64) (f :double) (f2 :double)
  (data :pointer) (obj :pointer))

(cffi:defcstruct pmg-arg                ; struct PmgArg (runtime/capi/src/call.rs)
  (tag :int64) (bits :uint64) (len :int64))

(cffi:defcstruct pmg-array-info         ; struct PmgArrayInfo (runtime/capi/src/arrays.rs)
  (holder :pointer) (data :pointer) (itemsize :int64) (ndim :int64)
  (format :char :count 16) (shape :int64 :count 32) (strides :int64 :count 32)
  (readonly :int64))

(eval-when (:compile-toplevel :load-toplevel :execute)
  (defun slot-offset (struct slot)
    "The byte offset of SLOT in the foreign struct STRUCT (a DEFCSTRUCT name)."
    (cffi:foreign-slot-offset `(:struct ,struct) slot))
  (defun slot-ref-form (pointer struct slot)
    "A MEM-REF form (SETF-able) of SLOT of the STRUCT at POINTER, with a constant offset."
    `(cffi:mem-ref ,pointer ,(cffi:foreign-slot-type `(:struct ,struct) slot)
                   ,(slot-offset struct slot)))
  (defconstant +value-size+ (cffi:foreign-type-size '(:struct pmg-value)))
  (defconstant +arg-size+ (cffi:foreign-type-size '(:struct pmg-arg)))
  (defconstant +arg-tag-offset+ (slot-offset 'pmg-arg 'tag))
  (defconstant +arg-bits-offset+ (slot-offset 'pmg-arg 'bits))
  (defconstant +arg-len-offset+ (slot-offset 'pmg-arg 'len))
  (defconstant +array-info-size+ (cffi:foreign-type-size '(:struct pmg-array-info))))

(defmacro value-tag (v) (slot-ref-form v 'pmg-value 'tag))
(defmacro value-kind (v) (slot-ref-form v 'pmg-value 'kind))
(defmacro value-len (v) (slot-ref-form v 'pmg-value 'len))
(defmacro value-i (v) (slot-ref-form v 'pmg-value 'i))
(defmacro value-f (v) (slot-ref-form v 'pmg-value 'f))
(defmacro value-f2 (v) (slot-ref-form v 'pmg-value 'f2))
(defmacro value-data (v) (slot-ref-form v 'pmg-value 'data))
(defmacro value-obj (v) (slot-ref-form v 'pmg-value 'obj))

(defmacro ainfo-holder (p) (slot-ref-form p 'pmg-array-info 'holder))
(defmacro ainfo-data (p) (slot-ref-form p 'pmg-array-info 'data))
(defmacro ainfo-itemsize (p) (slot-ref-form p 'pmg-array-info 'itemsize))
(defmacro ainfo-ndim (p) (slot-ref-form p 'pmg-array-info 'ndim))
(defmacro ainfo-shape (p i)
  `(cffi:mem-ref ,p :int64 (+ ,(slot-offset 'pmg-array-info 'shape) (* 8 ,i))))
(defun ainfo-format (p)
  (cffi:foreign-string-to-lisp
   p :offset #.(slot-offset 'pmg-array-info 'format)
     :max-chars #.(1- (cffi:foreign-slot-count '(:struct pmg-array-info) 'format))))

;;; PmgValue tags (runtime/capi/src/values.rs TAG_*)
(defconstant +tag-error+ 0)
(defconstant +tag-none+ 1)
(defconstant +tag-true+ 2)
(defconstant +tag-false+ 3)
(defconstant +tag-int+ 4)
(defconstant +tag-float+ 5)
(defconstant +tag-str+ 6)
(defconstant +tag-bigint+ 7)
(defconstant +tag-complex+ 8)
(defconstant +tag-tuple+ 9)
(defconstant +tag-list+ 10)
(defconstant +tag-dict+ 11)
(defconstant +tag-set+ 12)
(defconstant +tag-frozenset+ 13)
(defconstant +tag-bytes+ 14)
(defconstant +tag-ndarray+ 15)
(defconstant +tag-npscalar+ 16)
(defconstant +tag-fraction+ 17)
(defconstant +tag-lispobj+ 18)
(defconstant +tag-other+ 19)

;;; PmgArg tags (runtime/capi/src/call.rs ARG_*)
(defconstant +arg-borrowed+ 0)
(defconstant +arg-owned+ 1)
(defconstant +arg-i64+ 2)
(defconstant +arg-f64+ 3)
(defconstant +arg-true+ 4)
(defconstant +arg-false+ 5)
(defconstant +arg-none+ 6)
(defconstant +arg-str1+ 7)
(defconstant +arg-str4+ 8)
