"""pymodgen's introspection script: imports a module and prints its manifest as JSON.

Run by the pymodgen library in a separate interpreter process (never inside pymodgen), as

    python3 -c SCRIPT introspect OUT_FILE GENERATOR SUBMODULES MODULE
    python3 -c SCRIPT hash OUT_FILE GENERATOR MODULE...

where SCRIPT is module_hash.py followed by this file. The result goes to OUT_FILE, so a
module that prints on import cannot corrupt it; the module's own output goes to stderr.
The manifest format is documented in manifest.rs (the Rust types are the reference).

Determinism: every list is sorted, sets are never iterated, reprs are scrubbed of memory
addresses, and the caller sets PYTHONHASHSEED=0.
"""

import ast
import builtins
import functools
import gc
import importlib
import inspect
import json
import os
import pkgutil
import platform
import re
import sys
import sysconfig
import traceback
import types
import warnings

SCHEMA = 3

# Submodules that are never bound: test suites and build helpers that packages ship.
SKIP_SUBMODULES = {"tests", "test", "conftest", "setup", "__main__"}

_ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+")
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def clean_repr(value):
    try:
        text = repr(value)
    except Exception as e:  # noqa: BLE001 - a repr that raises is still described
        text = "<unrepresentable %s: %s>" % (type(value).__name__, type(e).__name__)
    return _ADDRESS.sub("", text)


def doc_of(obj):
    doc = getattr(obj, "__doc__", None)
    if not isinstance(doc, str) or not doc.strip():
        return None
    return inspect.cleandoc(doc)


def literal(value):
    """The manifest Literal for `value`, or None when a binding cannot restate it."""
    t = type(value)
    if value is None:
        return {"type": "none"}
    if t is bool:
        return {"type": "bool", "value": value}
    if t is int:
        return {"type": "int", "value": str(value)}
    if t is float:
        return {"type": "float", "value": repr(value)}
    if t is str:
        return {"type": "str", "value": value}
    if t is bytes:
        return {"type": "bytes", "value": list(value)}
    if t is tuple:
        items = [literal(v) for v in value]
        if all(i is not None for i in items):
            return {"type": "tuple", "value": items}
    return None


def is_constant(value):
    return literal(value) is not None


def annotation_text(ann):
    if ann is inspect.Parameter.empty or ann is inspect.Signature.empty:
        return None
    if isinstance(ann, str):
        return ann
    try:
        return _ADDRESS.sub("", inspect.formatannotation(ann))
    except Exception:  # noqa: BLE001
        return clean_repr(ann)


KIND_NAMES = {
    inspect.Parameter.POSITIONAL_ONLY: "positional_only",
    inspect.Parameter.POSITIONAL_OR_KEYWORD: "positional_or_keyword",
    inspect.Parameter.VAR_POSITIONAL: "var_positional",
    inspect.Parameter.KEYWORD_ONLY: "keyword_only",
    inspect.Parameter.VAR_KEYWORD: "var_keyword",
}


def param(name, kind, default=inspect.Parameter.empty, annotation=None, optional=False):
    """A manifest Param. `optional` marks a parameter with an unknown default."""
    variadic = kind in ("var_positional", "var_keyword")
    has_default = default is not inspect.Parameter.empty
    return {
        "name": name,
        "kind": kind,
        "required": not (variadic or has_default or optional),
        "default": clean_repr(default) if has_default else None,
        "literal": literal(default) if has_default else None,
        "annotation": annotation,
        "type": None,
    }


# A C function's `__text_signature__` writes a default it cannot show as `<unrepresentable>`
# (`str.maketrans(x, y=<unrepresentable>, z=<unrepresentable>, /)`): such a parameter is
# optional with an unknown default.
_UNREPRESENTABLE = "\x00pymodgen-unrepresentable"


def params_from_signature(sig):
    out = []
    for p in sig.parameters.values():
        if isinstance(p.default, str) and p.default == _UNREPRESENTABLE:
            out.append(param(p.name, KIND_NAMES[p.kind], annotation=annotation_text(p.annotation), optional=True))
        else:
            out.append(param(p.name, KIND_NAMES[p.kind], p.default, annotation_text(p.annotation)))
    return out


class Unparsable(Exception):
    pass


class _Default:
    """A default known only as source text (from a docstring)."""

    def __init__(self, text):
        self.text = text

    def __repr__(self):
        return self.text


def _split_top(text, sep=","):
    """`text` split at each `sep` outside brackets and quotes."""
    parts, depth, cur, quote = [], 0, [], None
    for ch in text:
        if quote:
            cur.append(ch)
            if ch == quote:
                quote = None
            continue
        if ch in "'\"":
            quote = ch
        elif ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        if ch == sep and depth == 0:
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    if "".join(cur).strip():
        parts.append("".join(cur))
    return parts


def params_from_doc(obj, names):
    """Parses a signature like `print(value, ..., sep=' ', end='\\n')` or `range(start, stop[, step])`
    from the first line of the docstring."""
    doc = doc_of(obj)
    if not doc:
        raise Unparsable("no docstring")
    first = doc.splitlines()[0].strip()
    m = None
    for name in names:
        m = re.match(r"^(?:[\w.]+\.)?%s\((.*)" % re.escape(name), first)
        if m:
            break
    if not m:
        raise Unparsable("docstring does not start with a signature")
    rest, depth, inner = m.group(1), 1, []
    for ch in rest:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
            if depth == 0:
                break
        inner.append(ch)
    if depth != 0:
        raise Unparsable("unbalanced parentheses")
    text = "".join(inner)
    # `[, x]` and `[x]` mark optional parameters; remember where they start.
    optional_from = None
    pieces = []
    cleaned = []
    brackets = []  # for each open `[`: True if it marks optional parameters, False if a list value
    for ch in text:
        if ch == "[":
            before = "".join(cleaned).rstrip()
            optional = not before.endswith(("=", "(", "[")) or before.endswith("\0")
            brackets.append(optional)
            cleaned.append("\0" if optional else ch)
            continue
        if ch == "]" and brackets:
            if not brackets.pop():
                cleaned.append(ch)
            continue
        cleaned.append(ch)
    carry = False  # `stop[, step]`: the bracket before the comma opens the next piece
    for piece in _split_top("".join(cleaned)):
        piece = piece.strip()
        opt = carry or piece.startswith("\0")
        carry = piece.endswith("\0") and len(piece) > 1
        piece = piece.replace("\0", "").strip()
        if not piece:
            carry = carry or opt
            continue
        if opt and optional_from is None:
            optional_from = len(pieces)
        pieces.append(piece)
    out, seen_star, seen = [], False, set()
    # C functions documented this way take their leading parameters positionally only.
    builtin = inspect.isbuiltin(obj) or inspect.ismethoddescriptor(obj) or inspect.isclass(obj)
    kind = "positional_only" if builtin else "positional_or_keyword"
    for i, piece in enumerate(pieces):
        if piece == "/":
            for p in out:
                if p["kind"] == "positional_or_keyword":
                    p["kind"] = "positional_only"
            continue
        if piece == "*":
            kind, seen_star = "keyword_only", True
            continue
        if piece in ("...", "*..."):
            if not seen_star:
                out.append(param("args", "var_positional"))
                kind, seen_star = "keyword_only", True
            continue
        if piece.startswith("**"):
            name = piece[2:].strip()
            if not _IDENT.match(name):
                raise Unparsable(piece)
            out.append(param(name, "var_keyword"))
            continue
        if piece.startswith("*"):
            name = piece[1:].strip()
            if not _IDENT.match(name):
                raise Unparsable(piece)
            out.append(param(name, "var_positional"))
            kind, seen_star = "keyword_only", True
            continue
        name, _, default_text = piece.partition("=")
        name = name.split(":")[0].strip()
        if not _IDENT.match(name) or name in seen:
            raise Unparsable(piece)
        seen.add(name)
        optional = optional_from is not None and i >= optional_from
        if default_text.strip():
            try:
                default = ast.literal_eval(default_text.strip())
            except Exception:  # noqa: BLE001 - not a literal: keep the text
                default = _Default(default_text.strip())
            out.append(param(name, kind, default))
        else:
            out.append(param(name, kind, optional=optional))
    return out


def ufunc_params(uf):
    nin, nout = uf.nin, uf.nout
    names = ["x"] if nin == 1 else ["x%d" % (i + 1) for i in range(nin)]
    out = [param(n, "positional_only") for n in names]
    if nout == 1:
        out.append(param("out", "positional_or_keyword", None))
    else:
        out += [param("out%d" % (i + 1), "positional_only", None) for i in range(nout)]
        out.append(param("out", "keyword_only", (None,) * nout))
    for name, default in (("where", True), ("casting", "same_kind"), ("order", "K"), ("dtype", None), ("subok", True)):
        out.append(param(name, "keyword_only", default))
    return out


def is_ufunc(obj):
    return type(obj).__name__ == "ufunc" and hasattr(obj, "nin") and hasattr(obj, "nout")


def signature(obj, names, drop_first=False):
    """(params, returns, source) for a callable, trying each source in turn."""
    params = returns = None
    source = None
    try:
        sig = inspect.signature(obj)
        params, source = params_from_signature(sig), "inspect"
        returns = annotation_text(sig.return_annotation)
    except (ValueError, TypeError, RuntimeError, AttributeError, NameError, SyntaxError):
        pass
    if params is None:
        text_sig = getattr(obj, "__text_signature__", None)
        if isinstance(text_sig, str):
            text_sig = text_sig.replace("=<unrepresentable>", "=%r" % _UNREPRESENTABLE)
            try:
                fake = types.SimpleNamespace()
                sig = inspect._signature_fromstr(inspect.Signature, fake, text_sig, False)
                params, source = params_from_signature(sig), "text_signature"
            except Exception:  # noqa: BLE001 - fall through to the next source
                pass
    if params is None and is_ufunc(obj):
        params, source = ufunc_params(obj), "ufunc"
        drop_first = False
    if params is None:
        try:
            params, source = params_from_doc(obj, names), "docstring"
        except Unparsable:
            pass
    if params is None:
        params = [param("args", "var_positional"), param("kwargs", "var_keyword")]
        source, drop_first = "fallback", False
    if drop_first and params and params[0]["kind"] in ("positional_only", "positional_or_keyword"):
        params = params[1:]
    return params, returns, source


def function_kind(obj):
    if is_ufunc(obj):
        return "ufunc"
    if isinstance(obj, functools.partial):
        return "partial"
    if inspect.isfunction(obj):
        return "function"
    if inspect.isbuiltin(obj) or inspect.ismethoddescriptor(obj):
        return "builtin"
    return "callable"


def describe_function(name, obj, modname):
    names = [name]
    own = getattr(obj, "__name__", None)
    if isinstance(own, str) and own != name:
        names.append(own)
    params, returns, source = signature(obj, names)
    doc_obj = obj.func if isinstance(obj, functools.partial) else obj
    f = {
        "name": name,
        "doc": doc_of(doc_obj),
        "signature_source": source,
        "kind": function_kind(obj),
        "params": params,
        "returns": returns,
        "return_type": None,
        "overloads": [],
        "type_source": None,
    }
    type_function(f, obj, modname)  # noqa: F821 - stubtypes.py
    return f


def qualified(cls):
    return "%s.%s" % (getattr(cls, "__module__", "?"), getattr(cls, "__qualname__", cls.__name__))


# Protocol methods that generated Rust maps to traits and methods (PartialEq, len(), ...).
PROTOCOLS = ("__contains__", "__eq__", "__ge__", "__getitem__", "__gt__", "__hash__", "__iter__", "__le__",
             "__len__", "__lt__", "__repr__")


def protocols(cls):
    """The PROTOCOLS `cls` defines or inherits from a base other than `object` (a `__hash__`
    set to None, as a class defining `__eq__` gets, is none). A C type's rich comparison
    gives it all six comparison methods even when it orders nothing (`dict`, `OrderedDict`):
    an ordering method of a builtin type or of a C subclass of a builtin container counts only
    if it orders two empty instances (made by calling the type with no arguments)."""
    mro = [k for k in getattr(cls, "__mro__", ()) if k is not object]
    found = []
    for p in PROTOCOLS:
        method = getattr(cls, p, None)
        if method is None or not any(p in vars(k) for k in mro):
            continue
        owner = getattr(method, "__objclass__", None)
        if p in ("__lt__", "__le__", "__gt__", "__ge__") and isinstance(owner, type) and (
            owner.__module__ == "builtins" or issubclass(owner, (dict, list, tuple, set, frozenset, str, bytes))
        ):
            try:
                empty = owner()
                if method(empty, empty) is NotImplemented:
                    continue
            except Exception:  # noqa: BLE001 - no empty instance to ask: keep the method
                pass
        found.append(p)
    return found


def describe_class(name, cls, skipped, modname):
    methods, attributes = [], []
    types_of = ClassTypes(name, cls, modname)  # noqa: F821 - stubtypes.py
    for attr in sorted(vars(cls)):
        if attr.startswith("_"):
            continue
        try:
            raw = vars(cls)[attr]
            if isinstance(raw, staticmethod):
                fn = raw.__func__
                params, returns, source = signature(fn, [attr])
                kind = "staticmethod"
            elif isinstance(raw, classmethod) or type(raw).__name__ == "classmethod_descriptor":
                # A Python (or Cython) classmethod, or a C one (`date.today`, `int.from_bytes`:
                # a `classmethod_descriptor` in the class dict, which `inspect` calls a method
                # descriptor). Bound to the class, its signature has no `cls`.
                fn = getattr(cls, attr)
                params, returns, source = signature(fn, [attr])
                kind = "classmethod"
            elif isinstance(raw, property):
                attributes.append({"name": attr, "kind": "property", "readonly": raw.fset is None,
                                   "doc": doc_of(raw), "literal": None, "annotation": None, "type": None, "type_source": None})
                types_of.attribute(attributes[-1], raw, cls)
                continue
            elif isinstance(raw, functools.cached_property) or (
                inspect.ismethoddescriptor(raw) and not callable(raw)
            ):
                # Computed on access like a property (and settable: it caches in the instance).
                attributes.append({"name": attr, "kind": "property", "readonly": False,
                                   "doc": doc_of(raw), "literal": None, "annotation": None, "type": None, "type_source": None})
                types_of.attribute(attributes[-1], raw, cls)
                continue
            elif inspect.isgetsetdescriptor(raw) or inspect.ismemberdescriptor(raw):
                attributes.append({"name": attr, "kind": "descriptor", "readonly": False,
                                   "doc": doc_of(raw), "literal": None, "annotation": None, "type": None, "type_source": None})
                types_of.attribute(attributes[-1], raw, cls)
                continue
            elif inspect.isfunction(raw) or inspect.ismethoddescriptor(raw) or type(raw).__name__ in (
                "wrapper_descriptor", "method_descriptor", "cython_function_or_method", "builtin_function_or_method"
            ) or is_ufunc(raw):
                fn = raw
                if type(raw).__name__ == "builtin_function_or_method":
                    # A builtin stored on the class (e.g. a classmethod of a C type, already bound).
                    params, returns, source = signature(fn, [attr])
                    kind = "classmethod" if getattr(raw, "__self__", None) is cls else "staticmethod"
                else:
                    params, returns, source = signature(fn, [attr], drop_first=True)
                    kind = "method"
            elif inspect.isclass(raw):
                continue  # nested classes are reachable through their own module path
            elif callable(raw):
                continue  # other callable descriptors: not described
            else:
                attributes.append({"name": attr, "kind": "data", "readonly": False, "doc": None,
                                   "literal": literal(raw), "annotation": None, "type": None,
                                   "type_source": None})
                types_of.attribute(attributes[-1], raw, cls)
                continue
            methods.append({"name": attr, "doc": doc_of(fn), "signature_source": source, "kind": kind,
                            "params": params, "returns": returns,
                            "return_type": None, "overloads": [], "type_source": None})
            types_of.method(methods[-1], raw, fn)
        except Exception as e:  # noqa: BLE001 - one bad member must not lose the class
            skipped.append({"name": "%s.%s" % (name, attr), "reason": "%s: %s" % (type(e).__name__, e)})
    constructor = None
    try:
        params, returns, source = signature(cls, [name, cls.__name__])
        constructor = {"name": name, "doc": doc_of(cls), "signature_source": source, "kind": "callable",
                       "params": params, "returns": None,
                       "return_type": None, "overloads": [], "type_source": None}
        types_of.constructor(constructor, cls)
    except Exception as e:  # noqa: BLE001
        skipped.append({"name": name + ".__init__", "reason": "%s: %s" % (type(e).__name__, e)})
    bases = [qualified(b) for b in cls.__bases__ if b is not object]
    described = {
        "name": name,
        "qualname": qualified(cls),
        "bases": bases,
        "doc": doc_of(cls),
        "constructor": constructor,
        "methods": methods,
        "attributes": attributes,
        "protocols": protocols(cls),
    }
    if "__iter__" in described["protocols"]:
        it = iter_method(cls, types_of)
        if it is not None:
            described["iter"] = it
    return described


def iter_method(cls, types_of):
    """`cls.__iter__` as a method record, when an annotation or a stub gives it a return type
    (`Iterator[int]`: generated Rust then yields typed items); else None."""
    owner = next((k for k in getattr(cls, "__mro__", ()) if k is not object and "__iter__" in vars(k)), None)
    if owner is None:
        return None
    raw = vars(owner)["__iter__"]
    try:
        params, returns, source = signature(raw, ["__iter__"], drop_first=True)
    except Exception:  # noqa: BLE001 - no signature: no typed items
        return None
    f = {"name": "__iter__", "doc": None, "signature_source": source, "kind": "method", "params": params,
         "returns": returns, "return_type": None, "overloads": [], "type_source": None}
    types_of.method(f, raw, raw)
    return f if f.get("return_type") is not None else None


def public_names(module, modname):
    """(names, from_all): `__all__` when the module defines one, else public names whose
    objects are defined in this module's package (so `from typing import Any` is left out)."""
    all_ = getattr(module, "__all__", None)
    if isinstance(all_, (list, tuple)) and all(isinstance(n, str) for n in all_):
        return sorted(set(all_)), True
    top = modname.split(".")[0]
    names = []
    for name in sorted(vars(module)):
        if name.startswith("_"):
            continue
        value = vars(module)[name]
        if isinstance(value, types.ModuleType) or not (inspect.isclass(value) or callable(value)):
            names.append(name)  # modules, constants and other objects are classified later
            continue
        origin = getattr(value, "__module__", None)
        if (
            not isinstance(origin, str)
            or module is builtins
            or origin in (modname, module.__name__)
            or origin.split(".")[0] == top
            or origin.lstrip("_") in (modname, module.__name__)  # C accelerators: `_json`, `_functools`, ...
        ):
            names.append(name)
    return names, False


def submodule_name(modname, name, value):
    """The dotted name under which `value` is a submodule of `module`, or None."""
    full = modname + "." + name
    if getattr(value, "__name__", None) == full or sys.modules.get(full) is value:
        return full
    return None


def child_modules(module, modname):
    """Public children of a package found on disk (not imported)."""
    path = getattr(module, "__path__", None)
    if not path:
        return []
    out = []
    try:
        for info in pkgutil.iter_modules(path):
            if not info.name.startswith("_") and info.name not in SKIP_SUBMODULES:
                out.append(modname + "." + info.name)
    except Exception:  # noqa: BLE001 - an odd __path__: no children found on disk
        pass
    return out


def describe_module(module, name, generator, files=None):
    """The manifest of `module`, imported as `name` (which may differ from its `__name__`:
    `_io` is `io`, `os.path` is `posixpath`). The files the version hash covered are
    appended to `files` when a list is given."""
    functions, classes, constants, objects, skipped = [], [], [], [], []
    submodules = set(child_modules(module, name))
    names, from_all = public_names(module, name)
    for attr in names:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                value = getattr(module, attr)
        except BaseException as e:  # noqa: BLE001 - recorded, not fatal (may even be SystemExit)
            if isinstance(e, KeyboardInterrupt):
                raise
            reason = "in __all__ but not defined" if from_all and isinstance(e, AttributeError) else \
                "%s: %s" % (type(e).__name__, e)
            skipped.append({"name": attr, "reason": reason})
            continue
        try:
            if isinstance(value, types.ModuleType):
                sub = submodule_name(name, attr, value)
                if sub and not attr.startswith("_") and attr not in SKIP_SUBMODULES:
                    submodules.add(sub)
            elif inspect.isclass(value):
                classes.append(describe_class(attr, value, skipped, name))
            elif is_constant(value):
                constants.append({"name": attr, "type": type(value).__name__, "repr": clean_repr(value),
                                  "literal": literal(value)})
            elif callable(value):
                functions.append(describe_function(attr, value, name))
            else:
                objects.append({"name": attr, "type": qualified(type(value))})
        except Exception as e:  # noqa: BLE001 - one bad name must not lose the module
            skipped.append({"name": attr, "reason": "%s: %s" % (type(e).__name__, e)})
    hashed = module_hash(name, generator)  # noqa: F821 - defined by module_hash.py, prepended
    if files is not None:
        files.extend(hashed["files"])
    version = hashed["version"]
    if version is None:
        v = getattr(module, "__version__", None)
        version = v if isinstance(v, str) else None
    libdir, soname = sysconfig.get_config_var("LIBDIR"), sysconfig.get_config_var("INSTSONAME")
    libpython = os.path.join(libdir, soname) if libdir and soname and os.path.exists(os.path.join(libdir, soname)) else None
    return {
        "schema": SCHEMA,
        "module": name,
        "version": version,
        "hash": hashed["hash"],
        "python": {"version": platform.python_version(), "executable": sys.executable, "libpython": libpython},
        "doc": doc_of(module),
        "functions": sorted(functions, key=lambda f: f["name"]),
        "classes": sorted(classes, key=lambda c: c["name"]),
        "constants": sorted(constants, key=lambda c: c["name"]),
        "objects": sorted(objects, key=lambda o: o["name"]),
        "submodules": sorted(submodules),
        "skipped": sorted(skipped, key=lambda s: s["name"]),
    }


def exception_info(e):
    return {
        "type": type(e).__qualname__,
        "message": str(e).splitlines()[0] if str(e) else "",
        "traceback": "".join(traceback.format_exception(type(e), e, e.__traceback__)),
    }


def import_module(name, deprecation=None):
    """(module, None) or (None, error dict). A DeprecationWarning that names the module,
    raised while importing it, is appended to `deprecation` when a list is given."""
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            module = importlib.import_module(name)
        if deprecation is not None:
            last = name.rsplit(".", 1)[-1]
            for w in caught:
                if issubclass(w.category, (DeprecationWarning, PendingDeprecationWarning)) and last in str(w.message):
                    deprecation.append((str(w.message).strip().splitlines() or ["(no message)"])[0])
                    break
        return module, None
    except BaseException as e:  # noqa: BLE001 - SystemExit on import is an import failure too
        if isinstance(e, KeyboardInterrupt):
            raise
        info = exception_info(e)
        if isinstance(e, ModuleNotFoundError) and e.name and (name == e.name or name.startswith(e.name + ".")):
            info["not_found"] = True
        return None, info


def access_deprecation(module):
    """[message] when reading the module's public names warns that the module is deprecated
    (numpy.core and its children do this from a module `__getattr__`), else []."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            getattr(module, "__all__", None)
        except Exception:  # noqa: BLE001 - an odd module: not a deprecation
            return []
    for w in caught:
        text = str(w.message)
        if issubclass(w.category, DeprecationWarning) and module.__name__ in text and "deprecated" in text:
            return [text.strip().splitlines()[0]]
    return []


def introspect(name, generator, with_submodules):
    module, error = import_module(name)
    if error:
        return {"error": error}
    files = []
    manifests = [describe_module(module, name, generator, files)]
    if with_submodules:
        queue = list(manifests[0]["submodules"])
        done = {name}
        while queue:
            sub = queue.pop(0)
            if sub in done:
                continue
            done.add(sub)
            print("pymodgen: introspecting %s" % sub, file=sys.stderr, flush=True)
            deprecated = []
            mod, err = import_module(sub, deprecated)
            if mod is not None and not deprecated:
                deprecated = access_deprecation(mod)
            if err or deprecated:
                # Not bound: drop it from its parent's submodules, say why in the parent.
                parent = next(m for m in manifests if sub in m["submodules"])
                parent["submodules"].remove(sub)
                reason = "import failed: %s: %s" % (err["type"], err["message"]) if err else \
                    "deprecated: %s" % deprecated[0]
                parent["skipped"].append({"name": sub.rsplit(".", 1)[-1], "reason": reason})
                parent["skipped"].sort(key=lambda s: s["name"])
                continue
            if not mod.__name__.startswith(name + "."):
                continue  # an alias of a module outside the package (os.path -> posixpath)
            m = describe_module(mod, sub, generator)
            manifests.append(m)
            queue.extend(s for s in m["submodules"] if s not in done)
        manifests = manifests[:1] + sorted(manifests[1:], key=lambda m: m["module"])
    return {"manifests": manifests, "files": files, "notes": type_notes()}  # noqa: F821 - stubtypes.py


def interned(result):
    """`{"types": [tree, ...], "body": result}` with every `type` and `return_type` of the
    manifests replaced by its index in the table: numpy's reply repeats a few thousand
    trees 60,000 times (manifest.rs, `interned`, reads it)."""
    table, index = [], {}

    def ref(t):
        if t is None:
            return None
        k = _key(t)  # noqa: F821 - stubtypes.py
        i = index.get(k)
        if i is None:
            i = index[k] = len(table)
            table.append(t)
        return i

    def function(f):
        if f is None:
            return
        for p in f["params"]:
            p["type"] = ref(p["type"])
        f["return_type"] = ref(f["return_type"])
        for o in f["overloads"]:
            for p in o["params"]:
                p["type"] = ref(p["type"])
            o["return_type"] = ref(o["return_type"])

    for m in result.get("manifests", ()):
        for f in m["functions"]:
            function(f)
        for c in m["classes"]:
            function(c["constructor"])
            for f in c["methods"]:
                function(f)
            for a in c["attributes"]:
                a["type"] = ref(a["type"])
    return {"types": table, "body": result}


def main(argv):
    mode, out_path, generator = argv[0], argv[1], argv[2]
    # Whatever the module prints goes to stderr; the result goes to OUT_FILE only.
    sys.stdout.flush()
    os.dup2(2, 1)
    sys.stdin = open(os.devnull)
    if mode == "hash":
        result = []
        for name in argv[3:]:
            try:
                result.append(module_hash(name, generator))  # noqa: F821
            except BaseException as e:  # noqa: BLE001
                info = exception_info(e)
                if isinstance(e, ModuleNotFoundError):
                    info["not_found"] = True
                result.append({"error": info})
    elif mode == "introspect":
        # A short-lived process that allocates millions of small objects (stub trees, types)
        # and frees few: the cyclic collector would only rescan the heap again and again.
        gc.disable()
        result = interned(introspect(argv[4], generator, argv[3] == "1"))
    else:
        raise SystemExit("pymodgen introspect: unknown mode %r" % mode)
    # One shot, so the C encoder runs (json.dump is pure Python); compact: numpy's is big.
    text = json.dumps(result, ensure_ascii=False, separators=(",", ":"))
    try:
        data = text.encode("utf-8")
    except UnicodeEncodeError:
        # A lone surrogate (a docstring or default written with `\ud800`): no UTF-8 for it, nor
        # a Rust string. It becomes U+FFFD; a pair split in two code points joins again.
        data = text.encode("utf-16", "surrogatepass").decode("utf-16", "replace").encode("utf-8")
    with open(out_path, "wb") as f:
        f.write(data)
    os._exit(0)  # skip interpreter teardown: atexit handlers of the module may hang or print


if __name__ == "__main__":
    main(sys.argv[1:])
