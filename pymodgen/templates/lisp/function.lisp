(cl:defun {{ f.name }} {{ f.lambda_list }}
  "{{ f.doc }}"
{%- if f.simple %}
  (pymodgen:%call-cell (cl:load-time-value (pymodgen:%callable-cell "{{ f.module }}" "{{ f.path }}"))
                       {{ f.args }} cl:nil))
{%- else if f.positional %}
  #+sbcl (cl:declare (sb-c::lambda-list {{ f.display }}))
  (pymodgen:%call-cell (cl:load-time-value (pymodgen:%callable-cell "{{ f.module }}" "{{ f.path }}"))
                       {{ f.args }} cl:nil))
{%- else %}
  (cl:declare (cl:dynamic-extent %args))
  #+sbcl (cl:declare (sb-c::lambda-list {{ f.display }}))
  (pymodgen::%call-python-style (cl:load-time-value (pymodgen:%callable-cell "{{ f.module }}" "{{ f.path }}"))
                                {{ f.args }} %args {{ f.spec }}))
{%- endif %}
