"""Types for manifest schema 2: the type trees, inline annotations, filling manifest entries.

Part of pymodgen's introspection script (module_hash.py, this file, stubs.py, introspect.py,
sent to the interpreter as one script on its standard input). A callable takes its types from the first source that has
them, in the order the README's "Types" gives: inline annotations on the runtime object, then the stubs
that stubs.py finds (the package's own `.pyi`, a `<top>-stubs` distribution, typeshed). Types
are plain dicts (see `Type` in manifest.rs), never mutated once built, so memoised ones are
shared freely.
"""

import ast
import collections.abc
import sys
import typing

TYPE_DEPTH = 24  # deeper type expressions become `unknown` (recursive aliases, pathological stubs)

# Modules whose names are taken from the runtime objects instead of from their stubs.
_RUNTIME_MODULES = ("typing", "typing_extensions", "collections.abc", "_collections_abc", "builtins")
_SPECIAL = {
    "Any", "Union", "Optional", "Literal", "Annotated", "ClassVar", "Final", "Callable", "Type", "Tuple",
    "Self", "Never", "NoReturn", "LiteralString", "TypeGuard", "TypeIs", "Required", "NotRequired",
    "ReadOnly", "Unpack", "Concatenate", "TypeAlias", "Text",
}
_WRAPPERS = {"Annotated", "ClassVar", "Final", "Required", "NotRequired", "ReadOnly"}

ANY = {"kind": "any"}
NONE = {"kind": "none"}
SELF = {"kind": "self"}
ELLIPSIS = {"kind": "ellipsis"}


def unknown(text=None):
    return {"kind": "unknown", "text": text} if text else {"kind": "unknown"}


def cls_type(name, args=()):
    return {"kind": "class", "name": name, "args": list(args)} if args else {"kind": "class", "name": name}


_dumps = __import__("json").dumps


_KEYS = {}


def _key(t):
    # Types are built with their keys always in the same order, so the JSON text is canonical.
    # Memoised types are shared, so most keys are found by identity (the entry keeps `t` alive).
    hit = _KEYS.get(id(t))
    if hit is not None and hit[0] is t:
        return hit[1]
    k = _dumps(t)
    _KEYS[id(t)] = (t, k)
    return k


def union(members):
    out, seen = [], set()
    for m in members:
        for part in (m["of"] if m["kind"] == "union" else [m]):
            k = _key(part)
            if k not in seen:
                seen.add(k)
                out.append(part)
    if len(out) == 1:
        return out[0]
    return {"kind": "union", "of": out}


def _qualified(cls):
    return "%s.%s" % (getattr(cls, "__module__", "?"), getattr(cls, "__qualname__", getattr(cls, "__name__", "?")))


def _typevar(name, bound, constraints):
    t = {"kind": "typevar", "name": name}
    if bound is not None:
        t["bound"] = bound
    if constraints:
        t["constraints"] = constraints
    return t


def _literal_values(values):
    out = []
    for v in values:
        lit = literal(v) if not isinstance(v, tuple) else None  # noqa: F821 - introspect.py
        if lit is None:
            return None
        out.append(lit)
    return {"kind": "literal", "values": out}


# ---------------------------------------------------------------------------------------------
# Inline annotations: runtime objects (typing constructs, classes, strings).


def rt_type(a, ns=None, depth=0):
    """The Type of a runtime annotation object; strings are evaluated in `ns`."""
    if depth > TYPE_DEPTH:
        return unknown(_text(a))
    d = depth + 1
    if a is None or a is type(None):
        return NONE
    if a is Ellipsis:
        return ELLIPSIS
    if isinstance(a, (str, typing.ForwardRef)):
        text = a if isinstance(a, str) else a.__forward_arg__
        try:
            value = eval(text, dict(ns or {}))  # noqa: S307 - an annotation, as typing.get_type_hints does
        except Exception:  # noqa: BLE001 - a name only known to type checkers (TYPE_CHECKING imports)
            try:
                tree = ast.parse(text.strip(), mode="eval").body
            except SyntaxError:
                return unknown(text)
            if isinstance(tree, ast.BinOp) and isinstance(tree.op, ast.BitOr):  # `Decimal | None`: type the rest
                return union([rt_type(ast.unparse(tree.left), ns, d), rt_type(ast.unparse(tree.right), ns, d)])
            return unknown(text)
        return unknown(text) if isinstance(value, str) else rt_type(value, ns, d)
    if a is typing.Any:
        return ANY
    if isinstance(a, typing.TypeVar):
        bound = rt_type(a.__bound__, ns, d) if a.__bound__ is not None else None
        return _typevar(a.__name__, bound, [rt_type(c, ns, d) for c in a.__constraints__])
    name = _special_name(a)
    if name == "Self":
        return SELF
    if name in ("Never", "NoReturn"):
        return cls_type("typing.NoReturn")
    if name == "LiteralString":
        return cls_type("builtins.str")
    if isinstance(a, list):
        return {"kind": "params", "of": [rt_type(x, ns, d) for x in a]}
    if isinstance(a, typing.ParamSpec):
        return ELLIPSIS
    origin, args = typing.get_origin(a), typing.get_args(a)
    if origin is typing.Union or (hasattr(__import__("types"), "UnionType") and origin is __import__("types").UnionType):
        return union([rt_type(x, ns, d) for x in args])
    if origin is typing.Literal:
        return _literal_values(args) or unknown(_text(a))
    if origin is typing.Annotated or origin in (typing.ClassVar, typing.Final):
        return rt_type(args[0], ns, d) if args else unknown(_text(a))
    if isinstance(origin, type):
        if origin is collections.abc.Callable and len(args) == 2 and args[0] is not Ellipsis \
                and not isinstance(args[0], list):
            args = (Ellipsis, args[1])  # Callable[P, R]: parameters not expressible
        return cls_type(_qualified(origin), [rt_type(x, ns, d) for x in args])
    if isinstance(a, type):
        return cls_type(_qualified(a))
    supertype = getattr(a, "__supertype__", None)  # typing.NewType
    if supertype is not None:
        return rt_type(supertype, ns, d)
    return unknown(_text(a))


def _special_name(a):
    module = getattr(a, "__module__", None)
    if module in ("typing", "typing_extensions"):
        name = getattr(a, "_name", None) or getattr(a, "__name__", None)
        return name if isinstance(name, str) else None
    return None


def _text(a):
    try:
        return annotation_text(a)  # noqa: F821 - introspect.py
    except Exception:  # noqa: BLE001
        return None


def inline_types(obj):
    """{param name or "return": Type} from the runtime annotations of callable `obj`."""
    target = obj
    for _ in range(4):
        if isinstance(target, (staticmethod, classmethod)):
            target = target.__func__
        else:
            break
    anns = getattr(target, "__annotations__", None)
    if not isinstance(anns, dict) or not anns:
        return {}
    ns = getattr(target, "__globals__", None)
    if ns is None:
        module = sys.modules.get(getattr(target, "__module__", None) or "")
        ns = vars(module) if module else {}
    out = {}
    for name, ann in list(anns.items()):
        try:
            out[name] = rt_type(ann, ns)
        except Exception:  # noqa: BLE001 - an odd annotation object
            out[name] = unknown(_text(ann))
    return out


# ---------------------------------------------------------------------------------------------
# Filling manifest entries (dicts built by introspect.py).

_VARIADIC = ("var_positional", "var_keyword")
_POSITIONAL = ("positional_only", "positional_or_keyword")


def _stub_default(node):
    if isinstance(node, ast.Constant):
        return _Default("...") if node.value is Ellipsis else node.value  # noqa: F821 - introspect.py
    try:
        return ast.literal_eval(node)
    except Exception:  # noqa: BLE001 - not a literal: keep the text
        return _Default(ast.unparse(node))  # noqa: F821


def stub_signature(st, mod, scope, fn, drop_first):
    """(params, returns text, return Type) of the stub `def` node `fn`."""
    return _signature(st, mod, scope, fn, drop_first)


def _stub_params(st, mod, scope, fn, drop_first):
    a = fn.args
    positional = [(p, "positional_only") for p in a.posonlyargs] + [(p, "positional_or_keyword") for p in a.args]
    defaults = [None] * (len(positional) - len(a.defaults)) + list(a.defaults)
    items = list(zip(positional, defaults))
    if drop_first and items:
        items = items[1:]
    items = [(p, kind, d) for (p, kind), d in items]
    if a.vararg is not None:
        items.append((a.vararg, "var_positional", None))
    items += [(p, "keyword_only", d) for p, d in zip(a.kwonlyargs, a.kw_defaults)]
    if a.kwarg is not None:
        items.append((a.kwarg, "var_keyword", None))
    params = []
    for p, kind, d in items:
        text = mod.text(p.annotation) if p.annotation is not None else None
        if d is None:
            q = param(p.arg, kind, annotation=text)  # noqa: F821 - introspect.py
        else:
            q = param(p.arg, kind, _stub_default(d), annotation=text)  # noqa: F821
        q["type"] = st.expr(p.annotation, mod, scope) if p.annotation is not None else None
        params.append(q)
    return params, fn.returns


def _unpacked(st, mod, scope, fn):
    """{name: (text, Type)} of the keys of `**kwargs: Unpack[SomeTypedDict]`, else {}."""
    ann = fn.args.kwarg.annotation if fn.args.kwarg is not None else None
    if not isinstance(ann, ast.Subscript):
        return {}
    head = st.head(ann.value, mod, scope, 0)
    if head != ("special", "Unpack"):
        return {}
    target = st.head(ann.slice, mod, scope, 0)
    if not target or isinstance(target[0], str) or target[1][0] != "class":
        return {}
    tmod, node = target[0], target[1][1]
    cscope = st.class_scope(tmod, node)
    out = {}
    for name, entry in cscope.names.items():
        if entry[0] == "ann":
            out[name] = (tmod.text(entry[1]), st.expr(entry[1], tmod, cscope))
    return out


def _signature(st, mod, scope, fn, drop_first):
    params, returns = _stub_params(st, mod, scope, fn, drop_first)
    if returns is None:
        return params, None, None
    return params, mod.text(returns), st.expr(returns, mod, scope)


def apply_defs(f, st, mod, scope, group, drop_first):
    """Types `f` (a manifest Function dict) from a stub's definitions of it."""
    defs = group["overloads"] or ([group["impl"]] if group["impl"] is not None else [])
    if not defs:
        return False
    sigs = [stub_signature(st, mod, scope, fn, drop_first and not _is_decorated(fn, ("staticmethod",)))
            for fn in defs]
    extra = [_unpacked(st, mod, scope, fn) for fn in defs]
    if f["signature_source"] == "fallback":
        # The runtime gave no signature (`date.today`, `datetime.combine`): the stub's is the
        # best there is (its overloads merged), typed below like a runtime one.
        f["params"] = _merged_params([params for params, _, _ in sigs])
        f["signature_source"] = "stub"
    if group["overloads"]:
        f["overloads"] = [{"params": p, "returns": r, "return_type": t} for p, r, t in sigs]
    index = []
    for (params, _, _), kw in zip(sigs, extra):
        by_name = {q["name"]: q for q in params if q["kind"] not in _VARIADIC}
        by_kind = {q["kind"]: q for q in params if q["kind"] in _VARIADIC}
        positional = [q for q in params if q["kind"] in _POSITIONAL]
        index.append((by_name, by_kind, positional, kw))
    i = -1
    for p in f["params"]:
        kind = p["kind"]
        if kind in _POSITIONAL:
            i += 1
        types, texts = [], []
        for by_name, by_kind, positional, kw in index:
            match = by_kind.get(kind) if kind in _VARIADIC else by_name.get(p["name"])
            if match is None and kind in _VARIADIC:
                # The runtime's `*args`/`**kwargs` stand for the stub's named parameters (numpy's
                # `generic.mean(*args, **kwargs)`): a value passed through them has one of their types.
                named = positional if kind == "var_positional" else \
                    [q for q in by_name.values() if q["kind"] != "positional_only"] + \
                    [{"type": t} for _, t in kw.values()]
                if named and all(q["type"] is not None for q in named):
                    match = {"type": union([q["type"] for q in named])}
            if match is None and kind == "positional_only" and i < len(positional):
                match = positional[i]  # positional-only names are not API: stubs name them freely
            if match is None and p["name"] in kw:
                match = {"type": kw[p["name"]][1], "annotation": kw[p["name"]][0]}
            if match is not None and match["type"] is not None:
                types.append(match["type"])
                texts.append(match.get("annotation"))
        if types:
            p["type"] = union(types)
            if all(t is not None for t in texts):
                p["stub_annotation"] = _join_texts(texts)
    # `annotation` and `returns` keep the runtime's text (null here); the stub's own text,
    # short where the tree has its aliases expanded, is `stub_annotation` / `stub_returns`
    # (the overloads' texts joined with ` | `), and each overload's in `overloads`.
    if all(r is not None for _, _, r in sigs):
        f["return_type"] = union([r for _, _, r in sigs])
        f["stub_returns"] = _join_texts([r for _, r, _ in sigs])
    f["type_source"] = mod.source
    return True


def _merged_params(signatures):
    """One parameter list that accepts every call of the stub signatures (their overloads):
    positional parameters by position (named when every overload that has one names it the
    same, else positional-only), keyword-only ones by name, each required only when every
    overload requires it; a default kept only when every overload gives the same one. Types
    are left to the caller."""
    def fresh(q, kind=None, optional=False):
        out = dict(q, type=None, annotation=None)
        if kind is not None:
            out["kind"] = kind
        if optional or out["default"] == "...":  # a stub's `= ...`: a default it does not say
            out.update(required=False, default=None, literal=None)
        return out

    n = len(signatures)
    positional, keyword, variadic = [], {}, {}
    for params in signatures:
        at = 0
        for q in params:
            if q["kind"] in _POSITIONAL:
                if at == len(positional):
                    positional.append([])
                positional[at].append(q)
                at += 1
            elif q["kind"] == "keyword_only":
                keyword.setdefault(q["name"], []).append(q)
            else:
                variadic.setdefault(q["kind"], q)
    out = []
    for slot in positional:
        first = slot[0]
        named = len({q["name"] for q in slot}) == 1 and all(q["kind"] == "positional_or_keyword" for q in slot)
        kind = "positional_or_keyword" if named else "positional_only"
        same = len(slot) == n and len({(q["required"], q["default"]) for q in slot}) == 1
        out.append(fresh(first, kind, optional=not same))
    if "var_positional" in variadic:
        out.append(fresh(variadic["var_positional"]))
    # Positional-only must lead: once a slot is positional-only, every slot before it is too.
    last_only = max((i for i, q in enumerate(out) if q["kind"] == "positional_only"), default=-1)
    for q in out[:max(last_only, 0)]:
        if q["kind"] == "positional_or_keyword":
            q["kind"] = "positional_only"
    # A required parameter after an optional one (overloads of different arity) cannot be
    # said in one signature: it becomes optional too.
    seen_optional = False
    for q in out:
        if q["kind"] not in _POSITIONAL:
            continue
        if not q["required"]:
            seen_optional = True
        elif seen_optional:
            q.update(required=False, default=None, literal=None)
    for name, slot in keyword.items():
        same = len(slot) == n and len({(q["required"], q["default"]) for q in slot}) == 1
        out.append(fresh(slot[0], optional=not same))
    if "var_keyword" in variadic:
        out.append(fresh(variadic["var_keyword"]))
    return out


_JOINED = {}


def _join_texts(texts):
    """`A | B` of the distinct members of the stub texts' unions, in order (`None` and
    `int | None` give `None | int`). Memoised: numpy's overloads repeat the same texts."""
    if len(texts) == 1:
        return texts[0]
    key = tuple(texts)
    joined = _JOINED.get(key)
    if joined is None:
        out = []
        for t in texts:
            for part in (_split_top(t, "|") if "|" in t else [t]):  # noqa: F821 - introspect.py
                part = part.strip()
                if part and part not in out:
                    out.append(part)
        joined = _JOINED[key] = " | ".join(out)
    return joined


def _apply_inline(f, obj, with_return=True):
    try:
        inline = inline_types(obj)
    except Exception:  # noqa: BLE001 - odd annotations: as if there were none
        inline = {}
    if not inline:
        return False
    for p in f["params"]:
        if p["name"] in inline:
            p["type"] = inline[p["name"]]
    if with_return and "return" in inline:
        f["return_type"] = inline["return"]
    f["type_source"] = "inline"
    return True


def _declared_class(st, mod, ann):
    """(stub module, ClassDef) that annotation `ann` names (through Final/ClassVar), or None."""
    for _ in range(4):
        target = ann.value if isinstance(ann, ast.Subscript) else ann
        head = st.head(target, mod, mod.scope, 0)
        if head in (("special", "Final"), ("special", "ClassVar")) and isinstance(ann, ast.Subscript):
            ann = ann.slice
            continue
        if head and not isinstance(head[0], str) and head[1][0] == "class":
            return head[0], head[1][1]
        return None
    return None


def callable_entry(st, mod, entry, depth=0):
    """(stub module, scope, func group, drop_first) that types calls of a stub name: a `def`;
    a `name: SomeProtocol` (numpy's ufuncs: its `__call__`); `name = other` (numpy's
    `max = amax`); `name = _instance.method` (numpy.random's `beta = _rand.beta`)."""
    if depth > 4:
        return None
    kind = entry[0]
    if kind == "func":
        return mod, mod.scope, entry[1], False
    if kind == "ann":
        cls = _declared_class(st, mod, entry[1])
        if cls is not None:
            found = st.member(cls[0], cls[1], "__call__")
            if found and found[2][0] == "func":
                return found[0], found[1], found[2][1], True
        return None
    if kind == "alias":
        value = entry[1]
        if isinstance(value, ast.Attribute):
            owner = st.head(value.value, mod, mod.scope, 0)
            if owner and not isinstance(owner[0], str) and owner[1][0] == "ann":
                cls = _declared_class(st, owner[0], owner[1][1])
                if cls is not None:
                    found = st.member(cls[0], cls[1], value.attr)
                    if found and found[2][0] == "func":
                        return found[0], found[1], found[2][1], True
                return None
        if isinstance(value, (ast.Name, ast.Attribute)):
            head = st.head(value, mod, mod.scope, 0)
            if not head or isinstance(head[0], str):
                head = st.def_head(value, mod)  # `open = builtins.open`: builtins' own stub
            if head and not isinstance(head[0], str):
                return callable_entry(st, head[0], head[1], depth + 1)
    return None


def type_function(f, obj, modname):
    """Adds types to a module-level function `f` of module `modname` (runtime object `obj`)."""
    try:
        if _apply_inline(f, obj):
            return
        st = stubs()
        own = getattr(obj, "__name__", None)
        found = st.entry_of([modname], f["name"])
        if found is None and isinstance(own, str):
            found = st.entry_of([getattr(obj, "__module__", None)], own)
        if found is None:
            public = _public_module(modname, f["name"], obj)
            if public is not None:
                found = st.entry_of([public], f["name"])
        if found is None:
            return
        call = callable_entry(st, found[0], found[1])
        if call is not None:
            apply_defs(f, st, call[0], call[1], call[2], call[3])
    except RecursionError:
        pass


def _public_module(modname, name, obj):
    """The public standard-library module that re-exports `obj` as `name`, when `modname` is
    its C accelerator (`_signal.alarm` is `signal.alarm`, `_functools.reduce` is
    `functools.reduce`): typeshed types the public one. Only the very same object counts."""
    if not modname.startswith("_") or "." in modname:
        return None
    public = modname.lstrip("_")
    module = sys.modules.get(public)
    if module is None and public in getattr(sys, "stdlib_module_names", ()):
        try:
            module = __import__("importlib").import_module(public)
        except Exception:  # noqa: BLE001 - not importable here: no types from it
            return None
    if module is None:
        return None
    try:
        return public if getattr(module, name, None) is obj else None
    except Exception:  # noqa: BLE001
        return None


class ClassTypes:
    """The stub class of a runtime class, to type its members."""

    def __init__(self, name, cls, modname):
        self.st = stubs()
        self.found = None
        try:
            found = self.st.entry_of([modname], name)
            if found is None or found[1][0] != "class":
                found = self.st.entry_of([getattr(cls, "__module__", None)], getattr(cls, "__qualname__", name))
            if found is not None and found[1][0] == "alias":  # `float16: TypeAlias = floating[_16Bit]`
                value = found[1][1]
                head = self.st.head(value.value if isinstance(value, ast.Subscript) else value,
                                    found[0], found[0].scope, 0)
                found = head if head and not isinstance(head[0], str) else None
            if found is not None and found[1][0] == "class":
                self.found = found
        except RecursionError:
            self.found = None

    def method(self, f, raw, fn):
        """Types method `f` (`raw` as found in the class dict, `fn` the function)."""
        try:
            if _apply_inline(f, fn):
                return
            member = self._member(f["name"])
            if member and member[2][0] == "alias" and isinstance(member[2][1], ast.Name):
                member = self._member(member[2][1].id)  # `product = prod` in a class body
            if member and member[2][0] == "func":
                apply_defs(f, self.st, member[0], member[1], member[2][1], True)
        except RecursionError:
            pass

    def constructor(self, f, cls):
        try:
            init = cls.__dict__.get("__init__") if isinstance(cls.__dict__.get("__init__"), type(lambda: 0)) else None
            if init is not None and _apply_inline(f, init, with_return=False):
                return
            for name in ("__init__", "__new__"):
                member = self._member(name)
                if member and member[2][0] == "func" and apply_defs(f, self.st, member[0], member[1], member[2][1], True):
                    f["return_type"], f["returns"] = None, None
                    f.pop("stub_returns", None)
                    return
            if self.found is not None and not f["params"]:
                # No constructor in the stub's classes: `object.__init__(self)`, which takes no
                # arguments, as the runtime signature says.
                obj = self.st.runtime_class(object)
                member = self.st.member(obj[0], obj[1], "__init__") if obj else None
                if member and member[2][0] == "func" and apply_defs(f, self.st, member[0], member[1], member[2][1], True):
                    f["return_type"], f["returns"] = None, None
                    f.pop("stub_returns", None)
        except RecursionError:
            pass

    def attribute(self, a, raw, cls):
        """Types attribute dict `a` (a property, descriptor or data attribute)."""
        try:
            fget = raw.fget if isinstance(raw, property) else getattr(raw, "func", None)
            if fget is not None:
                inline = inline_types(fget)
                if "return" in inline:
                    ann = fget.__annotations__["return"]
                    a["annotation"] = ann if isinstance(ann, str) else _text(ann)
                    a["type"], a["type_source"] = inline["return"], "inline"
                    return
            anns = cls.__dict__.get("__annotations__")
            if isinstance(anns, dict) and a["name"] in anns:
                module = sys.modules.get(getattr(cls, "__module__", "") or "")
                ann = anns[a["name"]]
                a["annotation"] = ann if isinstance(ann, str) else _text(ann)
                a["type"], a["type_source"] = rt_type(ann, vars(module) if module else {}), "inline"
                return
            member = self._member(a["name"])
            if member is None:
                return
            mod, scope, entry = member
            if entry[0] == "func":
                fn = entry[1]["impl"] or (entry[1]["overloads"] or [None])[0]
                if fn is not None and fn.returns is not None and _is_decorated(fn, ("property", "cached_property")):
                    a["annotation"], a["type"] = mod.text(fn.returns), self.st.expr(fn.returns, mod, scope)
                    a["type_source"] = mod.source
            elif entry[0] == "ann":
                a["annotation"], a["type"] = mod.text(entry[1]), self.st.expr(entry[1], mod, scope)
                a["type_source"] = mod.source
        except RecursionError:
            pass

    def _member(self, name):
        if self.found is None:
            return None
        mod, entry = self.found
        return self.st.member(mod, entry[1], name)


def type_notes():
    """One line, when some standard-library types could not be read, saying how to get them."""
    st = _STUBS
    if st is None or not st.missing_typeshed:
        return []
    names = sorted(st.missing_typeshed)
    shown = ", ".join(names[:6]) + (", ..." if len(names) > 6 else "")
    return ["no types for the standard library (%s): typeshed-client is not installed in %s; "
            "`%s -m pip install typeshed-client` adds them" % (shown, sys.executable, sys.executable)]
