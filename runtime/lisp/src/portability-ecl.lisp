;;;; portability-ecl.lisp -- the portability interface (see portability.lisp) for ECL.
;;;;
;;;; ECL compiles Lisp to C. Operations on object internals are C one-liners
;;;; (FFI:C-INLINE) in compiled code, with a plain function for the bytecode interpreter
;;;; (EVAL, the REPL): see %DUAL. Its GC (Boehm's) never moves objects and scans the C
;;;; stack and registers conservatively, so "pinning" only has to keep an object alive:
;;;; %WITH-PINNED keeps each object in a live variable until its body has returned.
;;;; The runtime's own files are compiled with CFFI's :C/C++ method (pymodgen.asd,
;;;; :AROUND-COMPILE): its foreign calls are direct C calls, not the dynamic FFI.

(in-package #:pymodgen)

(defvar *alive*)                        ; (core.lisp)

(defmacro %dual (interpreted compiled)
  "COMPILED (C code through FFI:C-INLINE) in compiled code, INTERPRETED in bytecodes."
  `(ext:with-backend :bytecodes ,interpreted :c/c++ ,compiled))

;;; ------------------------------------------------------------------------------------
;;; Foreign calls, pinning, raw memory

(defmacro %without-interrupts (&body body)
  "BODY with Lisp interrupts deferred until it returns (around every runtime call)."
  `(mp:without-interrupts ,@body))

(defconstant +inline-foreign-calls+ nil
  "NIL: an inline expansion in user code would be compiled with CFFI's default method
there (the dynamic FFI); the runtime's compiled functions are direct C calls.")

(defun %keep-alive (object)
  "Does nothing with OBJECT; called, it keeps OBJECT referenced up to that point."
  (declare (ignore object))
  nil)

(defmacro %with-pinned ((&rest objects) &body body)
  "BODY with OBJECTS kept alive (ECL never moves objects) until BODY has returned: each
object is read by an empty asm statement after BODY, so the C compiler keeps it in a
register or stack slot that the conservative GC sees."
  (if (null objects)
      `(progn ,@body)
      `(multiple-value-prog1 (progn ,@body)
         ,@(loop for o in objects
                 collect `(%dual (%keep-alive ,o)
                                 (ffi:c-inline (,o) (:object) :void
                                               "__asm__ __volatile__(\"\" : : \"g\"(#0))"
                                               :one-liner t :side-effects t))))))

(deftype %pointer () "A foreign pointer." 'si:foreign-data)
(eval-when (:compile-toplevel :load-toplevel :execute)
  (defparameter +pointer-class+ 'si:foreign-data "The class of %POINTER."))
(defmacro %pointer-address (pointer) "The address of POINTER." `(cffi:pointer-address ,pointer))

;;; ECL's arrays, vectors and strings keep their element data pointer at the same offset
;;; (struct ecl_array/ecl_vector/ecl_string/ecl_base_string: header, displaced, dim,
;;; dims or fillp, then self), so array.self reads it for any of them.
(defun ecl-data-address (array)
  (ffi:c-inline (array) (:object) :unsigned-long
                "(unsigned long)((#0)->array.self.b8)" :one-liner t))

(defun ecl-data-pointer (array)
  (ffi:c-inline (array) (:object) :pointer-void "(void*)((#0)->array.self.b8)" :one-liner t))

(defmacro %vector-pointer (vector)
  "A foreign pointer to the first element of the specialized simple VECTOR (a string
too). Valid while VECTOR is alive (%WITH-PINNED)."
  (let ((v (gensym "V")))
    `(let ((,v ,vector))
       (%dual (ecl-data-pointer ,v)
              (ffi:c-inline (,v) (:object) :pointer-void
                            "(void*)((#0)->array.self.b8)" :one-liner t)))))

(defmacro %vector-address (vector)
  "The address (an integer) of the first element of VECTOR (see %VECTOR-POINTER)."
  (let ((v (gensym "V")))
    `(let ((,v ,vector))
       (%dual (ecl-data-address ,v)
              (ffi:c-inline (,v) (:object) :unsigned-long
                            "(unsigned long)((#0)->array.self.b8)" :one-liner t)))))

(defun ecl-vector-length (vector)
  "LENGTH, out of line: ECL's compiler style-warns about (LENGTH X) in a TYPECASE branch it
proves dead for a constant X, which inline fast calls in user code contain."
  (length vector))

(defmacro %vector-length (vector) "LENGTH of VECTOR." `(ecl-vector-length ,vector))

(defmacro %array-storage (array)
  "The object holding the elements of the specialized simple ARRAY (any rank) in
row-major order, for %VECTOR-POINTER: on ECL the array itself."
  array)

(defun ecl-memcpy (destination source n)
  (cffi:foreign-funcall-pointer (cffi:foreign-symbol-pointer "memcpy")
                                () :pointer destination :pointer source :size n :pointer))

(defmacro %memcpy (destination source n)
  "memcpy(3) between foreign pointers (<string.h>'s own declaration in compiled code)."
  `(%dual (ecl-memcpy ,destination ,source ,n)
          (ffi:c-inline (,destination ,source ,n) (:pointer-void :pointer-void :unsigned-long)
                        :void "memcpy(#0, #1, #2)" :one-liner t :side-effects t)))

;;; CFFI open-codes MEM-REF on ECL only for a constant offset (else a generic function,
;;; ~0.2 us a call): %MEM-REF is the C one-liner for a computed offset too.
(eval-when (:compile-toplevel :load-toplevel :execute)
  (defparameter +ecl-mem-types+
    '((:int64 "int64_t" :int64-t) (:uint64 "uint64_t" :uint64-t) (:int "int" :int)
      (:uint8 "uint8_t" :uint8-t) (:uint16 "uint16_t" :uint16-t) (:uint32 "uint32_t" :uint32-t)
      (:double "double" :double) (:pointer "void*" :pointer-void))
    "CFFI type, C type, FFI:C-INLINE type.")

  (defun ecl-mem-type (type)
    (or (assoc type +ecl-mem-types+)
        (error "pymodgen: %MEM-REF of ~S is not open-coded" type))))

(defmacro %mem-ref (pointer type offset)
  "CFFI:MEM-REF (SETF-able) of a constant TYPE at a computed OFFSET, open-coded."
  (destructuring-bind (ctype itype) (rest (ecl-mem-type type))
    `(%dual (cffi:mem-ref ,pointer ,type ,offset)
            (ffi:c-inline (,pointer ,offset) (:pointer-void :fixnum) ,itype
                          ,(format nil "*(~A*)((char*)(#0)+(#1))" ctype) :one-liner t))))

(define-setf-expander %mem-ref (pointer type offset)
  (destructuring-bind (ctype itype) (rest (ecl-mem-type type))
    (let ((p (gensym "P")) (o (gensym "O")) (v (gensym "V")))
      (values (list p o) (list pointer offset) (list v)
              `(progn (%dual (setf (cffi:mem-ref ,p ,type ,o) ,v)
                             (ffi:c-inline (,p ,o ,v) (:pointer-void :fixnum ,itype) :void
                                           ,(format nil "*(~A*)((char*)(#0)+(#1)) = (#2)" ctype)
                                           :one-liner t :side-effects t))
                      ,v)
              `(%mem-ref ,p ,type ,o)))))

(defmacro %pointer-ref-8 (pointer offset) `(%mem-ref ,pointer :uint8 ,offset))
(defmacro %pointer-ref-16 (pointer offset) `(%mem-ref ,pointer :uint16 ,offset))
(defmacro %pointer-ref-32 (pointer offset) `(%mem-ref ,pointer :uint32 ,offset))

;;; ------------------------------------------------------------------------------------
;;; Open-coded calls (the interface: portability.lisp)
;;;
;;; ECL's compiled Lisp pays for every generic operation of the Lisp fast path (type tests
;;; of each argument, the foreign buffer CFFI allocates with malloc, boxed foreign pointers,
;;; the slot readers of PmgValue): about a microsecond a call. Here the whole call is one C
;;; block: the argument list is walked in C (fixnum, double and single float, T, NIL,
;;; simple strings read in place, pyobject-wrappers of this session), the arguments and the
;;; result live on the C stack, pmg_call / pmg_call_path_cached are called through their
;;; addresses (looked up once, at load), and the common results (int, float, str, bool,
;;; None) are made in C. Anything else is left to the Lisp path: an argument it does not
;;; take (nothing has been called then), a Python error (SIGNAL-LAST-ERROR), or another
;;; result, whose PmgValue is copied into a small byte vector for LISPIFY-VALUE. The list
;;; is read by an empty asm statement after the call, so the conservative GC sees it (and
;;; the strings it holds, whose characters the library reads) until the call has returned.

(defun ecl-symbol-address (name)
  "The address of the C function NAME (a foreign pointer), or an error."
  (or (cffi:foreign-symbol-pointer name)
      (error "pymodgen: ~A is not in the loaded runtime library" name)))

(defmacro %open-coded-invoke ((args &key (address 0) cache path (npath 0) kwnames (n-positional -1))
                              fallback)
  "Calls a Python callable with the Lisp list ARGS (see portability.lisp): the callable at
ADDRESS (an integer), or when CACHE is given the dotted name PATH (NPATH parts, its cache
CACHE: pmg_call_path_cached); keyword arguments named by the C array KWNAMES (or NIL) after
N-POSITIONAL positional ones (-1: all positional). Returns the result converted to Lisp, or
the value of FALLBACK when an argument is not one it passes (nothing called then). Only for
calls without translation hooks (*PYTHONIZERS*, *LISPIFIERS*, *BUILTIN-OVERRIDES*,
WITH-REMOTE-OBJECTS): the caller checks. Expanded after ffi.lisp (its constants)."
  (let* ((v (gensym "V")) (status (gensym "STATUS"))
         (slots (mapcar (lambda (s) (cons (clos:slot-definition-name s)
                                          (clos:slot-definition-location s)))
                        (clos:class-slots (find-class 'pyobject-wrapper))))
         (c (format nil "{
  __label__ fallback, done;   /* (GCC: local to the block, which a function may hold twice) */
  struct pmg_arg { int64_t tag; uint64_t bits; int64_t len; } buf[~D];
  struct pmg_value { int tag; int kind; int64_t len; int64_t i; double f; double f2; void *data; void *obj; } out;
  typedef int (*call_t)(void *, void *, int64_t, void *, int64_t, void *, int);
  typedef int (*cached_t)(void *, void *, int64_t, void *, int64_t, void *, int64_t, void *, int);
  typedef void *(*array_over_t)(void *, int64_t, const char *, int64_t, const int64_t *, int);
  typedef void (*decref_t)(void *);
  cl_object l = #0, res = ECL_NIL, *k = (#6)->vector.self.t;
  int64_t n = 0, npos, nk;
  int status = 0, tag, narrays = 0;
  cl_object shared = ECL_NIL;
  void *kw = ECL_FOREIGN_DATA_P(#5) ? (#5)->foreign.data : NULL;
  _Static_assert(sizeof(struct pmg_arg) == ~D && sizeof(struct pmg_value) == ~D
                 && offsetof(struct pmg_arg, bits) == ~D && offsetof(struct pmg_arg, len) == ~D
                 && offsetof(struct pmg_value, i) == ~D && offsetof(struct pmg_value, obj) == ~D,
                 \"pymodgen: PmgArg/PmgValue layout\");
  for (; l != ECL_NIL; l = ECL_CONS_CDR(l), n++) {
    cl_object x = ECL_CONS_CAR(l);
    struct pmg_arg *a = buf + n;
    if (n == ~D) goto fallback;
    a->bits = 0;
    if (ECL_FIXNUMP(x)) { a->tag = ~D; a->bits = (uint64_t)(int64_t)ecl_fixnum(x); }
    else if (x == ECL_T) a->tag = ~D;
    else if (x == ECL_NIL) a->tag = ~D;
    else if (ECL_IMMEDIATE(x)) goto fallback;
    else switch (x->d.t) {
      case t_doublefloat: { double d = ecl_double_float(x); a->tag = ~D; __builtin_memcpy(&a->bits, &d, 8); break; }
      case t_singlefloat: { double d = (double)ecl_single_float(x); a->tag = ~:*~D; __builtin_memcpy(&a->bits, &d, 8); break; }
      case t_base_string:
        if (cl_simple_string_p(x) == ECL_NIL) goto fallback;
        a->tag = ~D; a->bits = (uint64_t)x->base_string.self; a->len = x->base_string.fillp; break;
      case t_string:
        if (cl_simple_string_p(x) == ECL_NIL) goto fallback;
        a->tag = ~D; a->bits = (uint64_t)x->string.self; a->len = x->string.fillp; break;
      case t_instance: {
        cl_object e;
        if (x->instance.clas != k[0]) goto fallback;
        e = x->instance.slots[~D];
        if (e != #7 && e != ecl_make_fixnum(-1)) goto fallback;
        a->tag = ~D; a->bits = (uint64_t)ecl_fixnum(x->instance.slots[~D]); break; }
      case t_vector: case t_array:
        /* a specialized simple array: numpy gets a view of its memory (Boehm's GC never
           moves it; the list keeps it alive) after every argument has been read */
        if ((x->array.flags & (ECL_FLAG_ADJUSTABLE | ECL_FLAG_HAS_FILL_POINTER))
            || (x->array.displaced != ECL_NIL && ECL_CONS_CAR(x->array.displaced) != ECL_NIL)
            || (x->d.t == t_array && (x->array.rank == 0 || x->array.rank > 32)))
          goto fallback;
        switch ((cl_elttype)x->array.elttype) {
        case ecl_aet_df: case ecl_aet_sf: case ecl_aet_i64: case ecl_aet_i32: case ecl_aet_i16:
        case ecl_aet_i8: case ecl_aet_b64: case ecl_aet_b32: case ecl_aet_b16: case ecl_aet_b8:
#ifdef ECL_COMPLEX_FLOAT
        case ecl_aet_cdf: case ecl_aet_csf:
#endif
          break;
        default: goto fallback;
        }
        a->tag = -1; a->bits = (uint64_t)x; narrays++; break;
      default: goto fallback;
    }
  }
  if (narrays) {
    int64_t j;
    for (j = 0; j < n; j++) {
      cl_object x; const char *dt; int64_t size, shape[32], rank, r; void *p;
      if (buf[j].tag != -1) continue;
      x = (cl_object)buf[j].bits;
      switch ((cl_elttype)x->array.elttype) {
      case ecl_aet_df: dt = \"f8\"; size = 8; break;
      case ecl_aet_sf: dt = \"f4\"; size = 4; break;
      case ecl_aet_i64: dt = \"i8\"; size = 8; break;
      case ecl_aet_i32: dt = \"i4\"; size = 4; break;
      case ecl_aet_i16: dt = \"i2\"; size = 2; break;
      case ecl_aet_i8: dt = \"i1\"; size = 1; break;
      case ecl_aet_b64: dt = \"u8\"; size = 8; break;
      case ecl_aet_b32: dt = \"u4\"; size = 4; break;
      case ecl_aet_b16: dt = \"u2\"; size = 2; break;
#ifdef ECL_COMPLEX_FLOAT
      case ecl_aet_cdf: dt = \"c16\"; size = 16; break;
      case ecl_aet_csf: dt = \"c8\"; size = 8; break;
#endif
      default: dt = \"u1\"; size = 1; break;
      }
      if (x->d.t == t_vector) { rank = 1; shape[0] = x->vector.dim; }
      else for (rank = x->array.rank, r = 0; r < rank; r++) shape[r] = x->array.dims[r];
      p = ((array_over_t)k[4]->foreign.data)(x->array.self.b8, (int64_t)x->array.dim * size,
                                             dt, rank, shape, 1);
      if (p == NULL) {
        /* the error stays for SIGNAL-LAST-ERROR; drop the views made so far */
        int64_t m;
        for (m = 0; m < j; m++)
          if (buf[m].tag == ~D) ((decref_t)k[5]->foreign.data)((void *)buf[m].bits);
        status = 2;
        goto done;
      }
      buf[j].tag = ~:*~D; buf[j].bits = (uint64_t)p;
      shared = ecl_cons(ecl_cons(ecl_make_unsigned_integer((cl_index)p), x), shared);
    }
  }
  npos = (#4 < 0) ? n : #4;
  nk = n - npos;
  if (ECL_FOREIGN_DATA_P(#2))
    tag = ((cached_t)k[2]->foreign.data)((#2)->foreign.data, (#3)->foreign.data, #8, buf, npos, kw, nk, &out, 0);
  else
    tag = ((call_t)k[1]->foreign.data)((void *)(#1), buf, npos, kw, nk, &out, 0);
  __asm__ __volatile__(\"\" : : \"g\"(#0) : \"memory\");
  switch (tag) {
  case ~D: res = ecl_make_int64_t(out.i); break;
  case ~D: res = ecl_make_double_float(out.f); break;
  case ~D: res = ECL_T; break;
  case ~D: res = ECL_NIL; break;
  case ~D: res = k[3]; break;
  case ~D: {
    int64_t k, len = out.len;
    ecl_character *s;
    res = ecl_alloc_simple_extended_string(len);
    s = res->string.self;
    if (out.kind == 1) for (k = 0; k < len; k++) s[k] = ((const uint8_t *)out.data)[k];
    else if (out.kind == 2) for (k = 0; k < len; k++) s[k] = ((const uint16_t *)out.data)[k];
    else for (k = 0; k < len; k++) s[k] = ((const uint32_t *)out.data)[k];
    break; }
  case ~D: status = 2; break;
  default:
    status = 3;
    res = ecl_alloc_simple_vector(sizeof out, ecl_aet_b8);
    __builtin_memcpy(res->vector.self.b8, &out, sizeof out);
    /* a view of an argument array comes back as that array (*SHARED-ARRAYS*) */
    if (shared != ECL_NIL) { res = ecl_cons(res, shared); status = 4; }
  }
  goto done;
 fallback:
  status = 1;
 done:
  @(return 0) = res;
  @(return 1) = ecl_make_fixnum(status);
}"
                        +max-fast-args+ +arg-size+ +value-size+
                        +arg-bits-offset+ +arg-len-offset+
                        (slot-offset 'pmg-value 'i) (slot-offset 'pmg-value 'obj)
                        +max-fast-args+ +arg-i64+ +arg-true+ +arg-false+ +arg-f64+
                        +arg-str1+ +arg-str4+ (cdr (assoc 'epoch slots)) +arg-borrowed+
                        (cdr (assoc '%address slots)) +arg-owned+
                        +tag-int+ +tag-float+ +tag-true+ +tag-false+ +tag-none+ +tag-str+
                        +tag-error+)))
    (assert (and (= +arg-tag-offset+ 0) (= (slot-offset 'pmg-value 'tag) 0)))
    `(%dual ,fallback
            (multiple-value-bind (,v ,status)
                (%without-interrupts
                  (ffi:c-inline (,args ,address ,cache ,path ,n-positional ,kwnames
                                 ;; #6: constants (the wrapper class, the functions, None)
                                 (load-time-value (vector (find-class 'pyobject-wrapper)
                                                          (ecl-symbol-address "pmg_call")
                                                          (ecl-symbol-address "pmg_call_path_cached")
                                                          +py-none+
                                                          (ecl-symbol-address "pmg_array_over")
                                                          (ecl-symbol-address "pmg_decref")))
                                 *image-epoch* ,npath)
                                (:object :unsigned-long :object :object :fixnum :object
                                 :object :object :fixnum)
                                (values :object :object) ,c :side-effects t))
              (case ,status
                (0 ,v)
                (1 ,fallback)
                (2 (signal-last-error))
                (3 (%with-pinned (,v) (lispify-value (%vector-pointer ,v) t)))
                (t (let ((*shared-arrays* (cdr ,v)) (,v (car ,v)))
                     (%with-pinned (,v) (lispify-value (%vector-pointer ,v) t)))))))))

;;; ------------------------------------------------------------------------------------
;;; Numbers, tables, atomics, declarations

(declaim (inline %float-nan-p %float-infinity-p))
(defun %float-nan-p (x) (ext:float-nan-p x))
(defun %float-infinity-p (x) (ext:float-infinity-p x))

;; (DEFCONSTANT: the same object at each load, EQL to the implementation's own)
(defconstant +double-float-positive-infinity+ ext:double-float-positive-infinity)
(defconstant +double-float-negative-infinity+ ext:double-float-negative-infinity)
(defconstant +single-float-positive-infinity+ ext:single-float-positive-infinity)
(defconstant +single-float-negative-infinity+ ext:single-float-negative-infinity)

(defconstant +cheap-compile+ nil "NIL: COMPILE runs the C compiler (a fraction of a second each).")

(defparameter +bindings-fasl-type+ "fasc" "The file type of %COMPILE-BINDINGS-FILE's output.")

(defun %compile-bindings-file (source output)
  "Compiles the generated bindings file SOURCE into OUTPUT (DEFPYMODULE's cache) with ECL's
bytecodes compiler (what EVAL uses): gcc would take minutes for a large module (pandas,
numpy with its submodules); a generated function is a thin call of the runtime's compiled
code, and calls compiled in user code take the compile-time route either way. LOAD knows a
.fasc file for bytecodes. True on success."
  (ext::bc-compile-file source :output-file output :verbose nil :print nil))

(defconstant +compiler-warns-on-type-conflicts+ nil "NIL: the compiler does not warn when a declared result type meets another type.")

(defmacro %make-synchronized-hash-table (&rest args)
  "MAKE-HASH-TABLE with ARGS, safe for concurrent use by several threads."
  `(make-hash-table ,@args :synchronized t))

(deftype %counter-cell () "A cons whose car %ATOMIC-INCF-CAR increments." '(cons fixnum t))

(defmacro %atomic-incf-car (cell)
  "Atomically increments (CAR CELL) (a %COUNTER-CELL); returns the old value."
  `(mp:atomic-incf (car ,cell)))

(defmacro %locally-muffling-style-warnings (&body body)
  "BODY (top-level forms stay top level); ECL has no such declaration."
  `(progn ,@body))

(eval-when (:compile-toplevel :load-toplevel :execute)
  (defun %arglist-declarations (arglist)
    "Declarations for a DEFUN body that make the development environment show ARGLIST:
none on ECL (see %ARGLIST-FORMS)."
    (declare (ignore arglist))
    nil)

  (defun %arglist-forms (name arglist)
    "Top-level forms after the DEFUN of NAME: the :LAMBDA-LIST annotation, which ECL's
EXT:FUNCTION-LAMBDA-LIST (and so SLIME) shows for a function compiled in a file (generated
systems, DEFPYMODULE and DEFPYFUN forms in files); for one made by EVAL or COMPILE it shows
the DEFUN's own lambda list."
    `((ext:annotate ',name :lambda-list nil ',arglist))))

(defconstant +declared-arglists+ nil
  "NIL: a lambda list declared for display is shown only for functions compiled in a file.")

(defun %function-lambda-list (function)
  "The lambda list the development environment shows for FUNCTION (a symbol or function)."
  (values (ext:function-lambda-list function)))

;;; ------------------------------------------------------------------------------------
;;; Callbacks on threads Python started

;;; A callback compiled by ECL needs the calling thread to be known to ECL (its Lisp
;;; environment). Python's own threads (threading.Thread) are not: the dispatcher Python
;;; calls is this C function, which makes such a thread a Lisp thread for the call.
;;; It also puts ECL's own float traps (EXT:TRAP-FPE's, kept per thread) in force for the
;;; callback: the C ABI restores the MXCSR Lisp had when it called Python, and ECL 21.2's
;;; COMPILE, after a runtime call, leaves the MXCSR of its thread with every trap masked
;;; while ECL still counts them as enabled: it reloads MXCSR from the x87 control word,
;;; which the C ABI keeps masked (see the book: docs/src/design/implementations.md).
(ffi:clines "
#include <stdint.h>
#include <fenv.h>
extern int feenableexcept(int);
extern int fedisableexcept(int);
static void *(*pmg_ecl_dispatch_target)(int64_t, void *, void *);
static void *pmg_ecl_dispatch(int64_t handle, void *args, void *kwargs)
{
  void *result;
  const cl_env_ptr env = ecl_process_env_unsafe();
  if (env != NULL) {
    int bits = env->trap_fpe_bits;
    fedisableexcept(FE_ALL_EXCEPT & ~bits);
    feenableexcept(FE_ALL_EXCEPT & bits);
    return pmg_ecl_dispatch_target(handle, args, kwargs);
  }
  ecl_import_current_thread(ECL_NIL, ECL_NIL);
  result = pmg_ecl_dispatch_target(handle, args, kwargs);
  ecl_release_current_thread();
  return result;
}")

(defun %foreign-thread-callback (pointer)
  "The callback POINTER (int64, pointer, pointer -> pointer), callable from any thread."
  (ffi:c-inline (pointer) (:pointer-void) :pointer-void
                "(pmg_ecl_dispatch_target = (void *(*)(int64_t, void *, void *))(#0),
                  (void *)pmg_ecl_dispatch)" :one-liner t))

;;; ------------------------------------------------------------------------------------
;;; Non-local exits through Python frames (the protocol: portability.lisp)
;;;
;;; ECL unwinds with longjmp over its frame stack (env->frs_org .. env->frs_top): each
;;; UNWIND-PROTECT pushes a frame, and ecl_unwind(env, target) longjmps to the newest
;;; protect frame above TARGET with env->nlj_fr = TARGET; the cleanup runs there, then
;;; calls ecl_unwind(env, target) again. The values travel in env->values. So the cleanup
;;; of the barrier reads env->nlj_fr (as an index into the frame stack, which may be
;;; reallocated, with the frame's tag to check it later) and the values, and stops there
;;; (Python's C frames lie below: no longjmp crosses them). The resume, from the Lisp frame
;;; that made the Python call, checks that the frame at that index still has that tag, puts
;;; the values back and calls ecl_unwind: the exit goes on to its target, running the
;;; cleanups in between.

(defmacro %capture-unwind ()
  "In the cleanup of the callback barrier, run by an unwind: (index tag n values) of the
unwind's target frame and values, or :UNKNOWN."
  '(%dual :unknown
    (ffi:c-inline () () :object "{
  const cl_env_ptr env = ecl_process_env();
  ecl_frame_ptr fr = env->nlj_fr;
  if (fr == NULL || fr < env->frs_org || fr > env->frs_top) {
    @(return 0) = @':unknown;
  } else {
    cl_object vals = ECL_NIL;
    cl_index i, n = env->nvalues;
    for (i = n; i > 0; i--) vals = ecl_cons(env->values[i-1], vals);
    @(return 0) = cl_list(4, ecl_make_fixnum(fr - env->frs_org), fr->frs_val,
                          ecl_make_fixnum(n), vals);
  }}" :side-effects t)))

(defun %resume-unwind (record)
  "Continues the unwind of RECORD (from %CAPTURE-UNWIND) to its target; returns NIL
only when that target is no longer on the frame stack."
  (destructuring-bind (index tag n values) record
    (check-type index fixnum)
    (check-type n fixnum)
    (ffi:c-inline (index tag n values) (:object :object :object :object) :void "{
  const cl_env_ptr env = ecl_process_env();
  cl_index k, i = ecl_fixnum(#0), n = ecl_fixnum(#2);
  ecl_frame_ptr fr = env->frs_org + i;
  if (fr <= env->frs_top && fr->frs_val == #1 && n <= ECL_MULTIPLE_VALUES_LIMIT) {
    cl_object l = #3;
    for (k = 0; k < n; k++) { env->values[k] = ECL_CONS_CAR(l); l = ECL_CONS_CDR(l); }
    env->nvalues = n;
    ecl_unwind(env, fr);
  }}" :side-effects t)
    nil))

(defun %calibrate-unwind (probe)
  "Nothing to learn on ECL: the frame stack says where an unwind goes."
  (declare (ignore probe))
  nil)

;;; ------------------------------------------------------------------------------------
;;; Threads and interrupts

(defun %thread-os-id (thread)
  "The OS thread (pthread_t) of the Lisp THREAD (an MP:PROCESS), as an integer."
  (ffi:c-inline (thread) (:object) :unsigned-long
                "(unsigned long)((#0)->process.thread)" :one-liner t))

(defvar *original-interrupt-thread* nil
  "BT:INTERRUPT-THREAD as bordeaux-threads defines it (INSTALL-INTERRUPT-FORWARDING wraps it).")

(defconstant +all-interrupts-forwarded+ nil
  "NIL: only BT:INTERRUPT-THREAD (so BT:WITH-TIMEOUT) is forwarded into Python (below).")

(defun install-interrupt-forwarding ()
  "Makes BT:INTERRUPT-THREAD (so BT:WITH-TIMEOUT) end a long Python call in the target
thread with KeyboardInterrupt instead of waiting for it; the Lisp interrupt then runs as
soon as the call has returned. MP:INTERRUPT-PROCESS itself cannot be wrapped: compiled
code, ECL's own (C-c through its signal thread, SLIME's interrupts) calls its C function
directly; such an interrupt waits until the Python call returns. Called by PYSTART."
  (unless *original-interrupt-thread*
    (let ((original (fdefinition 'bt:interrupt-thread)))
      (setf *original-interrupt-thread* original)
      (setf (fdefinition 'bt:interrupt-thread)
            (lambda (thread function &rest args)
              (call-with-interrupt-forwarding
               thread (lambda () (apply original thread function args))))))))

;;; Callbacks nest Lisp -> Python -> Lisp ... as deep as Python's recursion limit (1000):
;;; ECL's default frame and binding stacks (a few thousand entries) overflow first, so
;;; they are made large enough (for this thread and, as ECL's defaults, new ones).
(dolist (stack '(ext:frame-stack ext:binding-stack))
  (when (< (ext:get-limit stack) 65536)
    (ext:set-limit stack 65536)))

;;; ------------------------------------------------------------------------------------
;;; Saved images: ECL cannot save one (no SAVE-LISP-AND-DIE; it builds executables from
;;; compiled files instead), so there is nothing to prepare.

(defconstant +saved-images+ nil "T where the Lisp can save an image (SAVE-LISP-AND-DIE).")

(defun %save-image-form (core)
  (declare (ignore core))
  (error "pymodgen: ECL cannot save a Lisp image"))

(defun add-save-hook (function)
  "Would call FUNCTION before the Lisp image is saved; ECL saves no images."
  (declare (ignore function))
  nil)

;;; ------------------------------------------------------------------------------------
;;; For the tests (and tools): the same operations on every implementation

(defparameter +ecl-float-trap-bits+
  '((:invalid . 1) (:divide-by-zero . 4) (:overflow . 8) (:underflow . 16) (:inexact . 32))
  "<fenv.h>'s FE_* bits on x86-64, as EXT:TRAP-FPE returns them.")

(defun %float-traps ()
  "The floating-point traps enabled in this thread: a list of :OVERFLOW :INVALID
:DIVIDE-BY-ZERO :UNDERFLOW :INEXACT."
  (let ((bits (ext:trap-fpe 'last nil)))  ; LAST: the current bits, left as they are
    (loop for (key . bit) in +ecl-float-trap-bits+ when (logtest bits bit) collect key)))

(defun %set-float-traps (traps)
  "Enables exactly TRAPS (as %FLOAT-TRAPS lists them) in this thread."
  (ext:trap-fpe t nil)
  (ext:trap-fpe (loop for (key . bit) in +ecl-float-trap-bits+
                      when (member key traps) sum bit)
                t))

(defun %getpid () (ext:getpid))
(defun %seed-random-state (seed)
  "A random state made from SEED (an integer or a vector of (unsigned-byte 32)); ECL seeds
with a fixnum only, so a vector is folded into one."
  (make-random-state
   (if (integerp seed)
       (mod seed most-positive-fixnum)
       (let ((h 17))
         (map nil (lambda (w) (setf h (mod (+ (* h 1000003) w) most-positive-fixnum))) seed)
         h))))

(deftype %interactive-interrupt () "The condition C-c signals." 'ext:interactive-interrupt)

(defun %redefinition-warning-p (condition)
  "True when CONDITION only says that a definition replaced an earlier one (ECL signals
none)."
  (declare (ignore condition))
  nil)

(defun %lisp-command (evals &key core)
  "The command line (a list of strings) that runs this Lisp non-interactively, evaluates
the strings EVALS in order and exits: 0 at the end, non-zero on an unhandled error. CORE
must be NIL (ECL saves no images)."
  (when core (error "pymodgen: ECL cannot start from a saved image"))
  (append (list "ecl" "--norc")
          (loop for e in evals append (list "--eval" e))
          (list "--eval" "(ext:quit 0)")))

(defun %control-stack-left ()
  "Bytes of this thread's control stack left and its size, or NIL: ECL checks its C stack in Lisp code only."
  nil)
