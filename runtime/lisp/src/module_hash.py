"""The module version hash, computed without importing the module.

Shared by the pymodgen library (run as a subprocess, see hash.rs) and by the Common Lisp
runtime (run inside the live interpreter for the load-time recompile check), so both
compute the same value. Only the standard library is used, and the module itself is never
imported: for a dotted name only its parent packages are (that is what finding it needs).

The hash covers, as the README's "The cache and the module version hash" says: the
interpreter (executable path and version), the module's distribution version (dist-info
METADATA, when there is one), the size and mtime of every source and extension file of the
module (the whole package tree for a package), the stub files its types come from (a `.pyi`
beside a single-file module, the module's part of a `<top>-stubs` distribution, and
typeshed-client's version, whose typeshed covers the standard library), and the generator
tag passed in (pymodgen's version plus the manifest schema).
"""

import hashlib
import importlib.util
import json
import os
import platform
import sys

SOURCE_SUFFIXES = (".py", ".pyi", ".so", ".pyd", ".pth", ".dll", ".dylib")


def _norm(name):
    return name.lower().replace("-", "_").replace(".", "_")


def _dist_info(site_dir, top):
    """The (version, METADATA path) of the distribution that provides package `top`."""
    try:
        entries = sorted(os.listdir(site_dir))
    except OSError:
        return None, None
    want = _norm(top)
    for entry in entries:
        if not entry.endswith(".dist-info"):
            continue
        path = os.path.join(site_dir, entry)
        dist_name = entry[: -len(".dist-info")].rsplit("-", 1)[0]
        provides = _norm(dist_name) == want
        if not provides:
            try:
                with open(os.path.join(path, "top_level.txt"), encoding="utf-8") as f:
                    provides = any(_norm(line.strip()) == want for line in f)
            except OSError:
                pass
        if not provides:
            continue
        metadata = os.path.join(path, "METADATA")
        try:
            with open(metadata, encoding="utf-8", errors="replace") as f:
                for line in f:
                    if line.startswith("Version:"):
                        return line.split(":", 1)[1].strip(), metadata
                    if not line.strip():
                        break
        except OSError:
            pass
    return None, None


def _files(spec):
    """Sorted source/extension files of a module spec (a package's whole tree)."""
    if spec.submodule_search_locations:
        out = []
        for root in sorted(spec.submodule_search_locations):
            for dirpath, dirnames, filenames in os.walk(root):
                dirnames[:] = sorted(d for d in dirnames if d != "__pycache__")
                for fn in sorted(filenames):
                    if fn.endswith(SOURCE_SUFFIXES):
                        out.append(os.path.join(dirpath, fn))
        return out
    if spec.origin and os.path.isfile(spec.origin):
        return [spec.origin]
    return []  # built into the interpreter: the interpreter's version covers it


def _walk_stubs(path):
    out = []
    for dirpath, dirnames, filenames in os.walk(path):
        dirnames[:] = sorted(d for d in dirnames if d != "__pycache__")
        out.extend(os.path.join(dirpath, fn) for fn in sorted(filenames) if fn.endswith(".pyi"))
    return out


_TYPESHED = []


def _stub_files(name, spec):
    """The stub files outside the module's own tree that type it (see the module docstring)."""
    out = []
    if not spec.submodule_search_locations and spec.origin and os.path.isfile(spec.origin):
        directory, filename = os.path.split(spec.origin)
        pyi = os.path.join(directory, filename.split(".")[0] + ".pyi")
        if pyi != spec.origin and os.path.isfile(pyi):
            out.append(pyi)
    parts = name.split(".")
    for entry in sys.path:
        stubs = os.path.join(entry or ".", parts[0] + "-stubs")
        if os.path.isdir(stubs):
            path = os.path.join(stubs, *parts[1:])
            if os.path.isdir(path):
                out.extend(_walk_stubs(path))
            elif os.path.isfile(path + ".pyi"):
                out.append(path + ".pyi")
            break
    if not _TYPESHED:
        metadata = None
        try:
            ts = importlib.util.find_spec("typeshed_client")
        except (ImportError, ValueError):
            ts = None
        if ts is not None and ts.origin:
            metadata = _dist_info(os.path.dirname(os.path.dirname(ts.origin)), "typeshed_client")[1]
        _TYPESHED.append(metadata)
    if _TYPESHED[0]:
        out.append(_TYPESHED[0])
    return out


def module_hash(name, generator):
    """Returns {"hash", "version", "files", "origin"} for module `name`.

    Raises ModuleNotFoundError when the module cannot be found.
    """
    spec = importlib.util.find_spec(name)
    if spec is None:
        raise ModuleNotFoundError("No module named %r" % name, name=name)
    files = _files(spec) + _stub_files(name, spec)
    version = None
    metadata = None
    location = None
    if spec.submodule_search_locations:
        location = sorted(spec.submodule_search_locations)[0]
    elif spec.origin and os.path.isfile(spec.origin):
        location = spec.origin
    if location is not None:
        top = name.split(".")[0]
        # site-packages/<top>/<sub>... : the dist-info sits beside the top-level package,
        # one directory up per component of the dotted name.
        site_dir = location
        for _ in name.split("."):
            site_dir = os.path.dirname(site_dir)
        version, metadata = _dist_info(site_dir, top)
    h = hashlib.sha256()
    h.update(json.dumps([generator, sys.executable, platform.python_version(), name, version]).encode())
    for path in files + ([metadata] if metadata else []):
        try:
            st = os.stat(path)
            h.update(json.dumps([path, st.st_size, st.st_mtime_ns]).encode())
        except OSError:
            h.update(json.dumps([path, None]).encode())
    return {
        "hash": h.hexdigest()[:32],
        "version": version,
        "files": files + ([metadata] if metadata else []),
        "origin": spec.origin,
    }

