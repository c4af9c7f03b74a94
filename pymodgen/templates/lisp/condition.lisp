(pymodgen:define-python-exception {{ c.name }} ({{ c.superclasses }})
  "{{ c.python }}"
  :documentation "{{ c.doc }}")
