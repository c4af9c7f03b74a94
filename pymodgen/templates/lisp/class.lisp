(pymodgen:define-python-class {{ c.name }} ({{ c.superclasses }})
  "{{ c.python }}"
  :bases ({{ c.bases }})
  :documentation "{{ c.doc }}")
