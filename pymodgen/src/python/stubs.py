"""Stubs for manifest schema 2: finding `.pyi` files, parsing them with `ast`, resolving names.

Part of pymodgen's introspection script (see stubtypes.py, which uses it). Search order, as
PEP 561 gives it (README, "Types"): a `<top>-stubs` distribution on `sys.path`; the package's own
`.pyi` files (and the `.py` files of a `py.typed` package, which its stubs import from);
typeshed through typeshed-client. Each stub module is parsed once per process, and every
name lookup, alias expansion and type expression is memoised, so numpy's deep aliases cost one
expansion each; `TYPE_DEPTH` bounds the depth.
"""

import ast
import gc
import operator
import os
import sys
import typing


def _relative(modname, is_package, level, target):
    parts = modname.split(".")
    if not is_package:
        parts = parts[:-1]
    if level > 1:
        parts = parts[: len(parts) - (level - 1)]
    base = ".".join(parts)
    return (base + "." + target if target else base) if base else (target or "")


def _is_decorated(node, names):
    for dec in node.decorator_list:
        d = dec.func if isinstance(dec, ast.Call) else dec
        text = d.attr if isinstance(d, ast.Attribute) else getattr(d, "id", None)
        if text in names:
            return True
    return False


def _setter(node):
    for dec in node.decorator_list:
        if isinstance(dec, ast.Attribute) and dec.attr in ("setter", "deleter"):
            return True
    return False


class Scope:
    """The names a module or class body binds, as the stub's statements say."""

    def __init__(self):
        self.names = {}
        self.stars = []
        self.setters = set()


class StubModule:
    def __init__(self, name, path, source, tree, is_package, text):
        self.name, self.path, self.source, self.is_package = name, path, source, is_package
        self.lines = text.splitlines()
        self.scope = Scope()
        self.class_scopes = {}
        self.fill(self.scope, tree.body, top=True)

    def text(self, node):
        """The source text of expression `node` (as written, when it fits on one line)."""
        if node.lineno == node.end_lineno and not hasattr(node, "_pm_inner"):
            return self.lines[node.lineno - 1][node.col_offset:node.end_col_offset]
        return ast.unparse(node)

    def fill(self, scope, body, top):
        for stmt in body:
            if isinstance(stmt, ast.If):
                cond = _condition(stmt.test)
                if cond is True or cond is None:
                    self.fill(scope, stmt.body, top)
                if cond is False:
                    self.fill(scope, stmt.orelse, top)
            elif isinstance(stmt, ast.Try):
                self.fill(scope, stmt.body, top)
            elif isinstance(stmt, ast.ImportFrom) and top:
                base = _relative(self.name, self.is_package, stmt.level, stmt.module) if stmt.level else stmt.module
                for alias in stmt.names:
                    if alias.name == "*":
                        scope.stars.append(base)
                    else:
                        scope.names[alias.asname or alias.name] = ("from", base, alias.name)
            elif isinstance(stmt, ast.Import) and top:
                for alias in stmt.names:
                    if alias.asname:
                        scope.names[alias.asname] = ("module", alias.name)
                    else:
                        first = alias.name.split(".")[0]
                        scope.names[first] = ("module", first)
            elif isinstance(stmt, ast.ClassDef):
                scope.names[stmt.name] = ("class", stmt)
            elif isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)):
                if _setter(stmt):
                    scope.setters.add(stmt.name)
                    continue
                old = scope.names.get(stmt.name)
                group = old[1] if old and old[0] == "func" else {"overloads": [], "impl": None}
                if _is_decorated(stmt, ("overload",)):
                    if group["impl"] is not None:  # a new overload group replaces an old definition
                        group = {"overloads": [], "impl": None}
                    group["overloads"].append(stmt)
                else:
                    group["impl"] = stmt
                scope.names[stmt.name] = ("func", group)
            elif isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name):
                ann = stmt.annotation
                is_alias = (isinstance(ann, ast.Name) and ann.id == "TypeAlias") or (
                    isinstance(ann, ast.Attribute) and ann.attr == "TypeAlias")
                if is_alias and stmt.value is not None:
                    scope.names[stmt.target.id] = ("alias", stmt.value)
                else:
                    scope.names[stmt.target.id] = ("ann", ann)
            elif isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and isinstance(stmt.targets[0], ast.Name):
                name, value = stmt.targets[0].id, stmt.value
                if isinstance(value, ast.Call):
                    f = value.func
                    fname = f.attr if isinstance(f, ast.Attribute) else getattr(f, "id", None)
                    if fname == "TypeVar":
                        scope.names[name] = ("typevar", value)
                    elif fname == "NewType" and len(value.args) == 2:
                        scope.names[name] = ("alias", value.args[1])
                    else:
                        scope.names[name] = ("value", None)
                elif isinstance(value, (ast.Name, ast.Attribute, ast.Subscript, ast.BinOp)):
                    scope.names[name] = ("alias", value)
                else:
                    scope.names[name] = ("value", None)


_CMP = {ast.Lt: operator.lt, ast.LtE: operator.le, ast.Gt: operator.gt, ast.GtE: operator.ge,
        ast.Eq: operator.eq, ast.NotEq: operator.ne}


def _condition(test):
    """True/False for the conditions stubs use (sys.version_info, sys.platform, TYPE_CHECKING),
    None when unknown."""
    try:
        if isinstance(test, ast.Name) and test.id == "TYPE_CHECKING":
            return True
        if isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING":
            return True
        if isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not):
            inner = _condition(test.operand)
            return None if inner is None else not inner
        if isinstance(test, ast.BoolOp):
            values = [_condition(v) for v in test.values]
            if isinstance(test.op, ast.And):
                return False if False in values else (None if None in values else True)
            return True if True in values else (None if None in values else False)
        if isinstance(test, ast.Compare) and len(test.ops) == 1 and type(test.ops[0]) in _CMP:
            left, right = ast.unparse(test.left), test.comparators[0]
            if left == "sys.version_info":
                return _CMP[type(test.ops[0])](sys.version_info[:len(ast.literal_eval(right))], ast.literal_eval(right))
            if left == "sys.platform":
                return _CMP[type(test.ops[0])](sys.platform, ast.literal_eval(right))
        if isinstance(test, ast.Call) and ast.unparse(test.func) == "sys.platform.startswith":
            return sys.platform.startswith(ast.literal_eval(test.args[0]))
    except Exception:  # noqa: BLE001 - an unusual condition: unknown
        return None
    return None


class Stubs:
    """Every stub module read in this process, and every name resolved in them."""

    def __init__(self):
        self.modules = {}
        self.heads = {}
        self.aliases = {}
        self.exprs = {}
        self.missing_typeshed = set()
        self.typeshed = _typeshed_versions()

    # --- finding and parsing

    def find(self, modname):
        """(path, source, is_package) of the stub for `modname`, in PEP 561 order, or None."""
        parts = modname.split(".")
        top, rest = parts[0], parts[1:]
        for d in sys.path:
            if not d:
                continue
            base = os.path.join(d, top + "-stubs")
            if os.path.isdir(base):
                found = _in_dir(base, rest, (".pyi",))
                if found:
                    return found + ("stub-package",)
        top_mod = sys.modules.get(top)
        dirs = list(getattr(top_mod, "__path__", None) or []) if top_mod is not None else []
        if top_mod is None or not dirs:
            file = getattr(top_mod, "__file__", None) if top_mod is not None else None
            if file and not rest:
                pyi = os.path.splitext(file)[0] + ".pyi"
                if os.path.isfile(pyi):
                    return pyi, False, "stub"
            if top_mod is None:
                dirs = [os.path.join(d, top) for d in sys.path if d and os.path.isdir(os.path.join(d, top))]
        for base in dirs:
            found = _in_dir(base, rest, (".pyi",))
            if found:
                return found + ("stub",)
            if os.path.isfile(os.path.join(base, "py.typed")) or os.path.isfile(
                    os.path.join(os.path.dirname(base), top, "py.typed")):
                found = _in_dir(base, rest, (".py",))
                if found:
                    return found + ("stub",)
        if self.typeshed is not None:
            directory, versions = self.typeshed
            low, high = versions.get(top, ((99, 0), None))
            if low <= sys.version_info[:2] and (high is None or sys.version_info[:2] <= high):
                found = _in_dir(directory, parts, (".pyi",))
                if found:
                    return found + ("typeshed",)
        elif top in getattr(sys, "stdlib_module_names", ()):
            self.missing_typeshed.add(top)
        return None

    def module(self, modname):
        if modname in self.modules:
            return self.modules[modname]
        self.modules[modname] = None  # guards cycles while parsing
        found = self.find(modname) if modname else None
        stub = None
        if found:
            path, is_package, source = found
            try:
                with open(path, encoding="utf-8") as f:
                    text = f.read()
                # Parsing a big stub allocates millions of nodes and no cycles: without this
                # the collector would rescan the whole heap (numpy and all) again and again.
                enabled = gc.isenabled()
                gc.disable()
                try:
                    tree = ast.parse(text, path)
                finally:
                    if enabled:
                        gc.enable()
                stub = StubModule(modname, path, source, tree, is_package, text)
            except Exception:  # noqa: BLE001 - an unreadable stub: as if there were none
                stub = None
        self.modules[modname] = stub
        return stub

    # --- looking names up

    def lookup(self, modname, name, depth=0, scope=None):
        """(stub module, entry) that defines `name` as seen from `modname`, following imports;
        ("runtime", obj) for names of the modules taken from the runtime; None if unknown."""
        key = (modname, name, id(scope))
        if key in self.heads:
            return self.heads[key]
        if depth > TYPE_DEPTH:
            return None
        self.heads[key] = None  # an import cycle: unknown
        found = self._lookup(modname, name, depth, scope)
        self.heads[key] = found
        return found

    def _lookup(self, modname, name, depth, scope):
        if modname in _RUNTIME_MODULES:
            found = self._runtime(modname, name)
            if found is not None or self.modules.get(modname) is None:
                return found
            # A name only the stub knows, as seen from inside builtins' or typing's own stub
            # (their TypeVars, `from _typeshed import ...`): the stub's scope.
        mod = self.module(modname)
        if mod is None:
            return self._runtime(modname, name, classes_only=True)
        scope = scope or mod.scope
        entry = scope.names.get(name)
        if entry is None:
            for star in scope.stars:
                if not name.startswith("_"):
                    found = self.lookup(star, name, depth + 1)
                    if found is not None:
                        return found
            if scope is mod.scope and self.module(modname + "." + name) is not None:
                return mod, ("module", modname + "." + name)
            return None
        if entry[0] == "from":
            _, src, src_name = entry
            found = self.lookup(src, src_name, depth + 1)
            if found is None and self.module(src + "." + src_name) is not None:
                return mod, ("module", src + "." + src_name)
            return found
        return mod, entry

    def _runtime(self, modname, name, classes_only=False):
        module = sys.modules.get(modname)
        if module is None and modname in _RUNTIME_MODULES:
            try:
                module = __import__("importlib").import_module(modname)
            except Exception:  # noqa: BLE001
                module = None
        if module is None:
            if modname == "typing_extensions":
                return self._runtime("typing", name)
            return None
        if not classes_only and modname in ("typing", "typing_extensions") and name in _SPECIAL:
            return "special", name
        try:
            obj = getattr(module, name)
        except Exception:  # noqa: BLE001
            return None
        if classes_only and not isinstance(obj, type):
            return None
        return "runtime", obj

    # --- type expressions

    def head(self, node, mod, scope, depth):
        """What a name or dotted name in a type expression refers to."""
        if isinstance(node, ast.Name):
            found = self.lookup(mod.name, node.id, depth, scope)
            if found is None and scope is not mod.scope:
                found = self.lookup(mod.name, node.id, depth)
            if found is None:
                if hasattr(__import__("builtins"), node.id):
                    found = self._runtime("builtins", node.id)
                elif node.id in _SPECIAL:  # stubs that use typing names without importing them
                    found = ("special", node.id)
            return found
        if isinstance(node, ast.Attribute):
            base = self.head(node.value, mod, scope, depth + 1)
            if base and isinstance(base[1], tuple) and base[1][0] == "module":
                return self.lookup(base[1][1], node.attr, depth + 1)
            if base and base[0] == "runtime" and isinstance(base[1], type(sys)):
                return self._runtime(base[1].__name__, node.attr)
        return None

    def expr(self, node, mod, scope=None, depth=0):
        """The Type of annotation `node` in stub module `mod` (inside class body `scope`)."""
        scope = scope or mod.scope
        # The same text in the same scope is the same type: numpy's stubs repeat their aliases
        # thousands of times.
        memo_key = (mod.text(node), id(scope))
        cached = self.exprs.get(memo_key)
        if cached is not None:
            return cached
        t = self._expr(node, mod, scope, depth)
        self.exprs[memo_key] = t
        return t

    def _expr(self, node, mod, scope, depth):
        if depth > TYPE_DEPTH:
            return unknown(ast.unparse(node))
        d = depth + 1
        if isinstance(node, ast.Constant):
            if node.value is None:
                return NONE
            if node.value is Ellipsis:
                return ELLIPSIS
            if isinstance(node.value, str):
                try:
                    inner = ast.parse(node.value.strip(), mode="eval").body
                except SyntaxError:
                    return unknown(node.value)
                for n in ast.walk(inner):
                    n._pm_inner = True  # positions are in the string, not in the file
                return self.expr(inner, mod, scope, d)
            return unknown(ast.unparse(node))
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr):
            return union([self.expr(node.left, mod, scope, d), self.expr(node.right, mod, scope, d)])
        if isinstance(node, ast.List):
            return {"kind": "params", "of": [self.expr(e, mod, scope, d) for e in node.elts]}
        if isinstance(node, (ast.Name, ast.Attribute)):
            return self.bare(self.head(node, mod, scope, d), node, d)
        if isinstance(node, ast.Subscript):
            args = node.slice.elts if isinstance(node.slice, ast.Tuple) else [node.slice]
            return self.apply(self.head(node.value, mod, scope, d), node, args, mod, scope, d)
        return unknown(ast.unparse(node))

    def class_name(self, mod, node):
        runtime = sys.modules.get(mod.name)
        obj = getattr(runtime, node.name, None) if runtime is not None else None
        if isinstance(obj, type):
            return _qualified(obj)
        return "%s.%s" % (mod.name, node.name)

    def bare(self, head, node, depth):
        if head is None:
            return unknown(ast.unparse(node))
        what, entry = head
        if what == "special":
            if entry == "Any":
                return ANY
            if entry == "Self":
                return SELF
            if entry in ("Never", "NoReturn"):
                return cls_type("typing.NoReturn")
            if entry in ("LiteralString", "Text"):
                return cls_type("builtins.str")
            if entry in ("Callable", "Type", "Tuple"):
                return cls_type({"Callable": "collections.abc.Callable", "Type": "builtins.type",
                                 "Tuple": "builtins.tuple"}[entry])
            return unknown(ast.unparse(node))
        if what == "runtime":
            return rt_type(entry, None, depth)
        mod = what
        kind = entry[0]
        if kind == "class":
            return cls_type(self.class_name(mod, entry[1]))
        if kind == "typevar":
            return self.typevar(mod, entry[1], depth)
        if kind == "alias":
            body = self.alias(mod, entry[1], depth)
            free = _typevars(body, [])
            return _substitute(body, {n: ANY for n in free}) if free else body
        return unknown(ast.unparse(node))

    def alias(self, mod, value, depth):
        key = id(value)
        if key in self.aliases:
            return self.aliases[key] or unknown(ast.unparse(value))
        self.aliases[key] = None  # a recursive alias: its inner use is unknown
        t = self.expr(value, mod, None, depth + 1)
        self.aliases[key] = t
        return t

    def typevar(self, mod, call, depth):
        name = call.args[0].value if call.args and isinstance(call.args[0], ast.Constant) else "T"
        bound = None
        for kw in call.keywords:
            if kw.arg == "bound":
                bound = self.expr(kw.value, mod, None, depth + 1)
        constraints = [self.expr(a, mod, None, depth + 1) for a in call.args[1:]]
        return _typevar(name, bound, constraints)

    def apply(self, head, node, args, mod, scope, depth):
        if head is None:
            return unknown(ast.unparse(node))
        what, entry = head
        ex = lambda n: self.expr(n, mod, scope, depth + 1)  # noqa: E731
        if what == "special":
            if entry == "Union":
                return union([ex(a) for a in args])
            if entry == "Optional":
                return union([ex(args[0]), NONE])
            if entry == "Literal":
                values = []
                for a in args:
                    try:
                        values.append(ast.literal_eval(a))
                    except Exception:  # noqa: BLE001 - an enum member: not a plain value
                        return unknown(ast.unparse(node))
                return _literal_values(values) or unknown(ast.unparse(node))
            if entry in _WRAPPERS:
                return ex(args[0])
            if entry in ("TypeGuard", "TypeIs"):
                return cls_type("builtins.bool")
            if entry == "Callable":
                return _callable([ex(a) for a in args])
            if entry in ("Type", "Tuple"):
                return cls_type("builtins.type" if entry == "Type" else "builtins.tuple", [ex(a) for a in args])
            return unknown(ast.unparse(node))
        if what == "runtime":
            origin = typing.get_origin(entry) or entry
            if isinstance(origin, type):
                name = _qualified(origin)
                if name == "collections.abc.Callable":
                    return _callable([ex(a) for a in args])
                if isinstance(node.slice, ast.Tuple) and not node.slice.elts:
                    return cls_type(name)  # tuple[()]
                return cls_type(name, [ex(a) for a in args])
            return unknown(ast.unparse(node))
        kind = entry[0]
        if kind == "class":
            return cls_type(self.class_name(what, entry[1]), [ex(a) for a in args])
        if kind == "alias":
            body = self.alias(what, entry[1], depth)
            free = _typevars(body, [])
            values = [ex(a) for a in args]
            return _substitute(body, {n: (values[i] if i < len(values) else ANY) for i, n in enumerate(free)})
        return unknown(ast.unparse(node))

    # --- definitions of runtime objects

    def definition(self, modname, name, depth=0):
        """(stub module, entry) of the stub statement that defines `name` in `modname`,
        following `from` imports. Unlike `lookup`, which resolves the names of type
        expressions to runtime objects for builtins, typing and collections.abc, this reads
        those modules' own stubs too: `builtins.abs` is typed by typeshed's `def abs`."""
        key = ("def", modname, name)
        if key in self.heads:
            return self.heads[key]
        if depth > TYPE_DEPTH:
            return None
        self.heads[key] = None  # an import cycle: unknown
        found = self._definition(modname, name, depth)
        self.heads[key] = found
        return found

    def _definition(self, modname, name, depth):
        mod = self.module(modname)
        if mod is None:
            return None
        entry = mod.scope.names.get(name)
        if entry is None:
            if not name.startswith("_"):
                for star in mod.scope.stars:
                    found = self.definition(star, name, depth + 1)
                    if found is not None:
                        return found
            return None
        if entry[0] == "from":
            found = self.definition(entry[1], entry[2], depth + 1)
            if found is None and self.module(entry[1] + "." + entry[2]) is not None:
                return mod, ("module", entry[1] + "." + entry[2])
            return found
        return mod, entry

    def def_head(self, node, mod, depth=0):
        """(stub module, entry) that defines the name or dotted name `node` of stub `mod`
        (`builtins.open`, `_instance.method`'s `_instance`), as `definition` finds it."""
        if depth > 8:
            return None
        if isinstance(node, ast.Name):
            return self.definition(mod.name, node.id)
        if isinstance(node, ast.Attribute):
            base = self.def_head(node.value, mod, depth + 1)
            if base and base[1][0] == "module":
                return self.definition(base[1][1], node.attr)
        return None

    def runtime_class(self, cls):
        """(stub module, ClassDef node) of runtime class `cls` in its module's stub, or None."""
        found = self.definition(getattr(cls, "__module__", None) or "", getattr(cls, "__qualname__", ""))
        if found is not None and found[1][0] == "class":
            return found[0], found[1][1]
        return None

    def entry_of(self, modnames, name):
        """(stub module, entry) for `name` in the first of `modnames` whose stub defines it."""
        for modname in modnames:
            if not modname:
                continue
            found = self.definition(modname, name)
            if found is not None:
                return found
        return None

    def class_scope(self, mod, node):
        scope = mod.class_scopes.get(id(node))
        if scope is None:
            scope = Scope()
            mod.fill(scope, node.body, top=False)
            mod.class_scopes[id(node)] = scope
        return scope

    def member(self, mod, node, name, depth=0):
        """(stub module, class scope, entry) for `name` in class `node` or its stub bases."""
        if depth > 8:
            return None
        scope = self.class_scope(mod, node)
        entry = scope.names.get(name)
        if entry is not None:
            return mod, scope, entry
        for base in node.bases:
            target = base.value if isinstance(base, ast.Subscript) else base
            head = self.head(target, mod, mod.scope, 0)
            cls = None
            if head and not isinstance(head[0], str) and head[1][0] == "class":
                cls = head[0], head[1][1]
            elif head and head[0] == "runtime" and isinstance(head[1], type):
                cls = self.runtime_class(head[1])  # a builtin base (`Exception`): builtins' stub
            if cls is not None:
                found = self.member(cls[0], cls[1], name, depth + 1)
                if found is not None:
                    return found
        return None


def _callable(args):
    if len(args) != 2:
        return cls_type("collections.abc.Callable")
    params = args[0] if args[0]["kind"] in ("params", "ellipsis") else ELLIPSIS
    return cls_type("collections.abc.Callable", [params, args[1]])


def _typevars(t, out):
    """Names of the typevars in `t`, in order of first appearance."""
    k = t["kind"]
    if k == "typevar":
        if t["name"] not in out:
            out.append(t["name"])
    elif k == "class":
        for a in t.get("args", ()):
            _typevars(a, out)
    elif k in ("union", "params"):
        for a in t["of"]:
            _typevars(a, out)
    return out


def _substitute(t, values):
    k = t["kind"]
    if k == "typevar":
        return values.get(t["name"], t)
    if k == "class" and t.get("args"):
        return cls_type(t["name"], [_substitute(a, values) for a in t["args"]])
    if k == "union":
        return union([_substitute(a, values) for a in t["of"]])
    if k == "params":
        return {"kind": "params", "of": [_substitute(a, values) for a in t["of"]]}
    return t


def _typeshed_versions():
    """(directory, {module: (min, max or None)}) of the typeshed that typeshed-client bundles,
    or None when it is not installed.

    Its files are read the way typeshed-client's `get_stub_file` reads them (VERSIONS, then the
    file), without importing it: that import costs more than the whole lookup (it pulls in
    asyncio and subprocess), and every introspection process would pay it.
    """
    try:
        import importlib.util
        spec = importlib.util.find_spec("typeshed_client")
    except (ImportError, ValueError):
        return None
    for location in (spec.submodule_search_locations or []) if spec else []:
        directory = os.path.join(location, "typeshed")
        versions = {}
        try:
            with open(os.path.join(directory, "VERSIONS"), encoding="utf-8") as f:
                for line in f:
                    line = line.split("#")[0].strip()
                    if not line:
                        continue
                    module, span = line.split(":")
                    low, _, high = span.strip().partition("-")
                    parse = lambda v: tuple(int(x) for x in v.split("."))  # noqa: E731
                    versions[module.strip()] = (parse(low), parse(high) if high else None)
        except (OSError, ValueError):
            continue
        return directory, versions
    return None


def _in_dir(base, rest, suffixes):
    """(path, is_package) of module `rest` (a list of names) under package directory `base`."""
    path = os.path.join(base, *rest)
    for suffix in suffixes:
        init = os.path.join(path, "__init__" + suffix)
        if os.path.isfile(init):
            return init, True
        if rest and os.path.isfile(path + suffix):
            return path + suffix, False
    return None


_STUBS = None


def stubs():
    global _STUBS
    if _STUBS is None:
        _STUBS = Stubs()
    return _STUBS
