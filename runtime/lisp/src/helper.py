"""_pymodgen: the private Python module of pymodgen's Common Lisp runtime.

The runtime (src/api.lisp, INIT-RUNTIME) runs this file's text as module `_pymodgen` when
Python starts, then sets the Lisp callbacks it names (lisp_getattr, lisp_setattr, lisp_repr,
lisp_free, lisp_write, lisp_flush). Not importable on its own.
"""
import sys, io

class LispObject:
    '''A Lisp object seen from Python: attribute access calls python-getattr/-setattr.'''
    __slots__ = ('_handle',)
    def __init__(self, handle):
        object.__setattr__(self, '_handle', handle)
    def __getattr__(self, name):
        return lisp_getattr(object.__getattribute__(self, '_handle'), name)
    def __setattr__(self, name, value):
        lisp_setattr(object.__getattribute__(self, '_handle'), name, value)
    def __repr__(self):
        return lisp_repr(object.__getattribute__(self, '_handle'))
    def __del__(self):
        try:
            lisp_free(object.__getattribute__(self, '_handle'))
        except Exception:
            pass

lisp_getattr = lisp_setattr = lisp_repr = lisp_free = lisp_write = lisp_flush = None

class LispStream(io.TextIOBase):
    '''sys.stdout / sys.stderr writing to Lisp's *standard-output* / *error-output*.'''
    def __init__(self, which, original):
        self._which = which
        self._original = original
    def write(self, s):
        lisp_write(self._which, s)
        return len(s)
    def flush(self):
        lisp_flush(self._which)
    def writable(self):
        return True
    def isatty(self):
        return False
    @property
    def encoding(self):
        return 'utf-8'
    def fileno(self):
        return self._original.fileno()

def route_output_to_lisp():
    for which, name in ((1, 'stdout'), (2, 'stderr')):
        current = getattr(sys, name)
        if not isinstance(current, LispStream):
            setattr(sys, name, LispStream(which, current))

def generator(f, stop):
    while True:
        v = f()
        if v is stop or (type(v) is type(stop) and v == stop):
            return
        yield v

def slot_list(o):
    return [n for n in dir(o) if not callable(getattr(o, n, None))]

def method_list(o):
    return [n for n in dir(o) if callable(getattr(o, n, None))]

def help_text(o):
    import pydoc
    return pydoc.render_doc(o, renderer=pydoc.plaintext)

def defpyfun_spec(module, name):
    '''(required positional parameter names, docstring) of module.name, for defpyfun.'''
    import importlib, inspect
    obj = importlib.import_module(module) if module else sys.modules['__main__']
    for part in name.split('.'):
        obj = getattr(obj, part)
    required = []
    try:
        for p in inspect.signature(obj).parameters.values():
            if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) and p.default is p.empty:
                required.append(p.name)
            else:
                break
    except (TypeError, ValueError):
        pass
    return [required, inspect.getdoc(obj) or '']

def defpyfun_params(module, name):
    '''[[name, kind, has_default], ...] (None without a signature) and the docstring of
    module.name (__main__, then builtins, when module is empty), for defpyfun.'''
    import importlib, inspect, builtins
    if module:
        obj = importlib.import_module(module)
    else:
        main = sys.modules['__main__']
        obj = main if hasattr(main, name.split('.')[0]) else builtins
    for part in name.split('.'):
        obj = getattr(obj, part)
    try:
        params = [[p.name, p.kind.name, p.default is not p.empty]
                  for p in inspect.signature(obj).parameters.values()]
    except (TypeError, ValueError):
        params = None
    return [params, inspect.getdoc(obj) or '']

def version_info():
    return list(sys.version_info)

def timeit(stmt, number, setup='pass'):
    import timeit as t
    return t.timeit(stmt, setup=setup, number=number, globals=sys.modules['__main__'].__dict__)
