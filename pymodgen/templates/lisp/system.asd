{{ header }}

(asdf:defsystem "{{ system }}"
  :description "{{ description }}"
{%- if let Some(v) = version %}
  :version "{{ v }}"
{%- endif %}
  :depends-on ("pymodgen")
  :serial t
  :components ({% for f in files %}{% if !loop.first %}
               {% endif %}(:file "{{ f }}"){% endfor %}))
