(cl:define-symbol-macro {{ c.name }} {{ c.value }}) ; {{ c.python }}
