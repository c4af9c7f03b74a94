(pymodgen::%define-inherited-method {{ i.name }} {{ i.from }})
