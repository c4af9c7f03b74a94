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

# Classes written in Lisp (src/defpyclass.lisp). A method is a Python function calling its
# Lisp callback, so that it binds self as any function does (a Lisp callback is a builtin,
# which is no descriptor).

class LispRaise:
    '''Returned by a member's Lisp function: the exception the member raises (pyraise, or a
    Python exception that went through the Lisp code).'''
    __slots__ = ('exception',)
    def __init__(self, exception):
        self.exception = exception

def exception_type(name):
    '''The exception class a PYERROR-TYPE names ("KeyError", "json.decoder.JSONDecodeError",
    "__main__.E"), or None.'''
    import builtins, importlib
    if '.' not in name:
        t = getattr(builtins, name, None)
    else:
        t = None
        parts = name.split('.')
        for i in range(len(parts) - 1, 0, -1):
            try:
                obj = importlib.import_module('.'.join(parts[:i]))
            except Exception:
                continue
            try:
                for p in parts[i:]:
                    obj = getattr(obj, p)
            except AttributeError:
                break
            t = obj
            break
    return t if isinstance(t, type) and issubclass(t, BaseException) else None

def reraised(type_name, message):
    '''A Python exception that a Lisp member let through (a PYERROR of TYPE_NAME), raised
    again: an instance of its class made from its message, else a RuntimeError.'''
    t = exception_type(type_name)
    if t is not None:
        try:
            return LispRaise(t(message))
        except Exception:
            pass
    return LispRaise(RuntimeError('%s: %s' % (type_name, message)))

def make_exception(e, args):
    '''The exception PYRAISE raises: e an exception, or a class (or its name) called with
    args.'''
    if isinstance(e, str):
        t = exception_type(e)
        if t is None:
            t = eval(e, sys.modules['__main__'].__dict__)
        e = t
    if isinstance(e, type) and issubclass(e, BaseException):
        return e(*args)
    if isinstance(e, BaseException):
        return e
    raise TypeError('pyraise: %r is not an exception class or instance' % (e,))

def lisp_method(f, name, qualname, doc, kind):
    '''The class member of kind 'method', 'init' (returns None), 'classmethod',
    'staticmethod' or 'function' (a plain function: a property's getter or setter), calling
    the Lisp callable f; a LispRaise it returns is raised.'''
    if kind == 'init':
        def method(self, *args, **kwargs):
            r = f(self, *args, **kwargs)
            if type(r) is LispRaise:
                raise r.exception
    else:
        def method(*args, **kwargs):
            r = f(*args, **kwargs)
            if type(r) is LispRaise:
                raise r.exception
            return r
    method.__name__ = name
    method.__qualname__ = qualname
    method.__doc__ = doc
    if kind == 'classmethod':
        return classmethod(method)
    if kind == 'staticmethod':
        return staticmethod(method)
    return method

def lisp_property(fget, fset, doc):
    return property(fget, fset, None, doc)

def make_class(name, bases, members, module, doc):
    '''A class made as a class statement would (types.new_class: the bases' metaclass,
    __init_subclass__, __set_name__), members a list of [name, value].'''
    import types
    def fill(ns):
        ns['__module__'] = module
        ns['__qualname__'] = name
        ns['__doc__'] = doc
        for n, v in members:
            ns[n] = v
    return types.new_class(name, tuple(bases), None, fill)

def update_class(cls, members, old_names, module, doc):
    '''Redefinition in place: sets members (a list of [name, value]) on cls, deletes the
    names of old_names that members no longer has.'''
    new = set(n for n, _ in members)
    for n in old_names:
        if n not in new and n in cls.__dict__:
            delattr(cls, n)
    for n, v in members:
        setattr(cls, n, v)
    cls.__module__ = module
    cls.__doc__ = doc
    return cls

def set_bases(cls, bases, name):
    '''Redefinition: gives cls the bases and name; False when Python refuses the bases (an
    incompatible instance layout: a new class must be made).'''
    bases = tuple(bases) or (object,)
    if cls.__bases__ != bases:
        try:
            cls.__bases__ = bases
        except TypeError:
            return False
    cls.__name__ = name
    cls.__qualname__ = name
    return True

def guard_faulthandler():
    '''faulthandler.enable() and faulthandler.register() would put Python's handlers of
    SIGSEGV, SIGFPE, SIGBUS, SIGILL and SIGABRT (or the registered signal) and an alternate
    signal stack of its own in place of the Lisp's, which handles those signals itself (SBCL
    then runs its next signal handler on a stack it does not know: a memory fault, the
    process lost). In the Lisp runtime both warn (RuntimeWarning) and do nothing;
    faulthandler.dump_traceback and dump_traceback_later, which install no handler, work.'''
    import faulthandler, warnings
    if faulthandler.is_enabled():
        faulthandler.disable()
    def refuse(name):
        def refused(*args, **kwargs):
            warnings.warn('faulthandler.%s() does nothing in a Lisp process (pymodgen): its '
                          'signal handlers and signal stack would replace the Lisp\'s own'
                          % name, RuntimeWarning, stacklevel=2)
        refused.__name__ = refused.__qualname__ = name
        refused.__doc__ = ('Does nothing in a Lisp process but warn: see '
                           '_pymodgen.guard_faulthandler.')
        return refused
    for name in ('enable', 'register'):
        setattr(faulthandler, name, refuse(name))

guard_faulthandler()
