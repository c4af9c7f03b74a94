(pymodgen::%define-python-function {{ f.name }} {{ f.lambda_list }}
    (:module "{{ f.module }}" :path "{{ f.path }}"
     :signature "{{ f.signature }}"
     :arglist {{ f.display }}
     :call {{ f.call }}{% if let Some(r) = f.returns %}
     :returns {{ r }}{% endif %})
  "{{ f.doc }}"
{%- if f.simple %}
  (pymodgen:%call-cell (cl:load-time-value (pymodgen:%callable-cell "{{ f.module }}" "{{ f.path }}"))
                       {{ f.args }} cl:nil))
{%- else if f.positional %}
  (pymodgen:%call-cell (cl:load-time-value (pymodgen:%callable-cell "{{ f.module }}" "{{ f.path }}"))
                       {{ f.args }} cl:nil))
{%- else %}
  (cl:declare (cl:dynamic-extent %args))
  (pymodgen::%call-python-style (cl:load-time-value (pymodgen:%callable-cell "{{ f.module }}" "{{ f.path }}"))
                                {{ f.args }} %args {{ f.spec }}))
{%- endif %}
