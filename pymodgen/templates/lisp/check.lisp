{{ header }}
;;;; Load-time check that the Python module is the one these bindings were generated from
;;;; (see pymodgen:*on-module-change*).

(cl:in-package "PYMODGEN")

(%check-module-hash :system "{{ system }}" :module "{{ module }}" :version "{{ version }}"
                    :python "{{ python }}"
                    :hash "{{ hash }}" :generator "{{ generator }}"
                    :submodules {% if submodules %}cl:t{% else %}cl:nil{% endif %} :lisp-package "{{ package }}"
                    :packages '({% for p in packages %}{% if !loop.first %} {% endif %}"{{ p }}"{% endfor %}))
