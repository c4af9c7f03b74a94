(cl:defun {{ o.name }} ()
  "{{ o.doc }}"
  (pymodgen::%module-attribute "{{ o.module }}" "{{ o.attribute }}"))
