{{ header }}
{% for p in packages %}
;;; The Python module {{ p.module }}.
(cl:defpackage "{{ p.name }}"
  (:documentation "{{ p.doc }}")
  (:use #:common-lisp)
{%- if !p.shadow.is_empty() %}
  ;; Python names that are also external symbols of COMMON-LISP: without these
  ;; shadows the defuns below would redefine CL functions (SBCL's package locks refuse).
  (:shadow{% for s in p.shadow %} #:{{ s }}{% endfor %})
{%- endif %}
  (:export{% for e in p.exports %} #:{{ e }}{% endfor %}))
{% endfor -%}
