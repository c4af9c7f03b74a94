{{ header }}
;;;; The Python module {{ module }}.

(cl:in-package "{{ package }}")
{% for c in conditions %}
{% include "lisp/condition.lisp" %}
{% endfor -%}
{% for c in classes %}
{% include "lisp/class.lisp" %}
{% endfor -%}
{% for f in functions %}
{% include "lisp/function.lisp" %}
{% endfor -%}
{% for a in attributes %}
{% include "lisp/attribute.lisp" %}
{% endfor -%}
{% for c in constants %}
{% include "lisp/constant.lisp" %}
{% endfor -%}
{% for o in objects %}
{% include "lisp/object.lisp" %}
{% endfor -%}
{% for i in inherited %}
{% include "lisp/inherited.lisp" %}
{% endfor -%}
