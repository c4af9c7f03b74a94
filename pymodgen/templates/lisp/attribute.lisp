(cl:defun {{ a.name }} (object)
  "{{ a.doc }}"
  (pymodgen::%attribute object "{{ a.attribute }}"))
{%- if a.writable %}

(cl:defun (cl:setf {{ a.name }}) (value object)
  (pymodgen::%set-attribute object "{{ a.attribute }}" value))
{%- endif %}
