;;;; tests/abi.lisp -- the Lisp side and the library agree on the C ABI: its version, and
;;;; every struct size, field offset and constant that src/ffi.lisp declares, compared with
;;;; what the library computes from its Rust definitions (pmg_abi_layout).

(in-package #:pymodgen-tests)

(def-suite abi :in pymodgen)
(in-suite abi)

(defparameter +abi-structs+
  '((pymodgen::pmg-value . "PmgValue")
    (pymodgen::pmg-arg . "PmgArg")
    (pymodgen::pmg-array-info . "PmgArrayInfo"))
  "The DEFCSTRUCTs of src/ffi.lisp and the Rust structs they declare.")

(defun library-layout ()
  "The library's layout as a hash table: \"struct NAME\" -> (size), \"field NAME.FIELD\"
-> (offset size), \"const NAME\" -> (value)."
  (let ((table (make-hash-table :test 'equal)))
    (dolist (line (uiop:split-string (cffi:foreign-string-to-lisp (pymodgen::pmg-abi-layout))
                                     :separator '(#\Newline))
                  table)
      (let ((words (uiop:split-string line :separator '(#\Space))))
        (when (cddr words)
          (setf (gethash (format nil "~A ~A" (first words) (second words)) table)
                (mapcar #'parse-integer (cddr words))))))))

(defun lisp-constant-name (rust-name)
  "TAG_ERROR -> PYMODGEN::+TAG-ERROR+"
  (find-symbol (format nil "+~A+" (substitute #\- #\_ rust-name)) '#:pymodgen))

(defun abi-mismatches ()
  "Every disagreement between src/ffi.lisp and the library, one string each."
  (let ((library (library-layout)) (out '()))
    (flet ((disagree (control &rest args) (push (apply #'format nil control args) out)))
      ;; structs: size, then each slot's offset and size; fields on one side only
      (loop for (lisp . rust) in +abi-structs+
            for type = `(:struct ,lisp)
            for slots = (cffi:foreign-slot-names type)
            do (let ((size (first (gethash (format nil "struct ~A" rust) library))))
                 (unless (eql size (cffi:foreign-type-size type))
                   (disagree "struct ~A: ~A bytes in the library, ~A in ffi.lisp (~(~A~))"
                             rust size (cffi:foreign-type-size type) lisp)))
               (dolist (slot slots)
                 (let ((field (gethash (format nil "field ~A.~(~A~)" rust slot) library))
                       (offset (cffi:foreign-slot-offset type slot))
                       (slot-size (* (cffi:foreign-type-size (cffi:foreign-slot-type type slot))
                                     (or (ignore-errors (cffi:foreign-slot-count type slot)) 1))))
                   (cond ((null field)
                          (disagree "~A.~(~A~): declared in ffi.lisp, not a field of the library's struct"
                                    rust slot))
                         ((not (equal field (list offset slot-size)))
                          (disagree "~A.~(~A~): offset ~D, ~D bytes in the library; offset ~D, ~D bytes in ffi.lisp"
                                    rust slot (first field) (second field) offset slot-size)))))
               (loop for key being the hash-keys of library
                     for prefix = (format nil "field ~A." rust)
                     when (and (eql 0 (search prefix key))
                               (not (find (subseq key (length prefix)) slots
                                          :key #'string-downcase :test #'string=)))
                       do (disagree "~A: the library's field ~A is not declared in ffi.lisp"
                                    rust (subseq key (length prefix)))))
      ;; the sizes the Lisp code allocates with
      (loop for (constant struct) in '((pymodgen::+value-size+ "PmgValue")
                                       (pymodgen::+arg-size+ "PmgArg")
                                       (pymodgen::+array-info-size+ "PmgArrayInfo"))
            for size = (first (gethash (format nil "struct ~A" struct) library))
            unless (eql size (symbol-value constant))
              do (disagree "~(~A~) is ~A, the library's ~A is ~A bytes"
                           constant (symbol-value constant) struct size))
      ;; constants: each of the library's, and each tag ffi.lisp declares
      (loop for key being the hash-keys of library using (hash-value (value))
            when (eql 0 (search "const " key))
              do (let* ((rust (subseq key 6)) (lisp (lisp-constant-name rust)))
                   (cond ((or (null lisp) (not (boundp lisp)))
                          (disagree "constant ~A = ~D of the library is not declared in ffi.lisp" rust value))
                         ((not (eql (symbol-value lisp) value))
                          (disagree "constant ~A: ~D in the library, ~(~A~) = ~A in ffi.lisp"
                                    rust value lisp (symbol-value lisp))))))
      (do-symbols (s '#:pymodgen)
        (let ((name (symbol-name s)))
          (when (and (eq (symbol-package s) (find-package '#:pymodgen))
                     (constantp s)
                     (or (eql 0 (search "+TAG-" name)) (eql 0 (search "+ARG-" name)))
                     (not (search "-SIZE+" name)) (not (search "-OFFSET+" name))
                     (null (gethash (format nil "const ~A" (substitute #\_ #\- (string-trim "+" name)))
                                    library)))
            (disagree "constant ~(~A~) of ffi.lisp is not one of the library's" s)))))
    (sort out #'string<)))

(test abi-layout-matches-the-library
  (let ((mismatches (abi-mismatches)))
    (is (null mismatches) "ffi.lisp and the library disagree on the C ABI:~%~{  ~A~%~}" mismatches)
    ;; the comparison saw the library's whole layout, not an empty text
    (is (<= 3 (count-if (lambda (k) (eql 0 (search "struct " k)))
                        (alexandria:hash-table-keys (library-layout)))))
    (is (<= 29 (count-if (lambda (k) (eql 0 (search "const " k)))
                         (alexandria:hash-table-keys (library-layout)))))))

(test abi-version-is-checked-at-load
  (is (eql pymodgen::+abi-version+ (pymodgen::pmg-abi-version)))
  (let ((message (handler-case (progn (pymodgen::check-abi-version "/some/libpymodgen_capi.so"
                                                                   (1+ pymodgen::+abi-version+))
                                      nil)
                   (error (c) (princ-to-string c)))))
    (is (search "/some/libpymodgen_capi.so" message))
    (is (search (format nil "version ~D," (1+ pymodgen::+abi-version+)) message))
    (is (search (format nil "expects version ~D." pymodgen::+abi-version+) message))
    (is (search "cargo build --release -p pymodgen-capi" message))
    (is (search "PYMODGEN_RUNTIME_LIB" message)))
  (let ((message (handler-case (progn (pymodgen::check-abi-version "/old/lib.so" nil) nil)
                   (error (c) (princ-to-string c)))))
    (is (search "predates pmg_abi_version" message))))
