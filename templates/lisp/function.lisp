(cl:defun {{ f.name }} {{ f.lambda_list }}
  "{{ f.doc }}"
{%- if f.simple %}
  (pymodgen:%call-cell (cl:load-time-value (pymodgen:%callable-cell "{{ f.module }}" "{{ f.path }}"))
                       (cl:list{% for r in f.required %} {{ r }}{% endfor %}) cl:nil))
{%- else %}
  #+sbcl (cl:declare (sb-c::lambda-list {{ f.display }}))
  (pymodgen::%call-python-style (cl:load-time-value (pymodgen:%callable-cell "{{ f.module }}" "{{ f.path }}"))
                                (cl:list{% for r in f.required %} {{ r }}{% endfor %}) %args {{ f.spec }}))
{%- endif %}
