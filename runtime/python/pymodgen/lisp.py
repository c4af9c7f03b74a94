"""pymodgen-lisp: tell ASDF where the Common Lisp systems of this installation are.

    pymodgen-lisp path         prints the directory of pymodgen.asd
    pymodgen-lisp library      prints the C ABI library built for this interpreter
    pymodgen-lisp register     writes ASDF's per-user source-registry entry for them
    pymodgen-lisp unregister   removes that entry

After ``register``, a fresh SBCL or ECL needs only::

    (require :asdf)
    (asdf:load-system "pymodgen")

The entry is one file in ``$XDG_CONFIG_HOME/common-lisp/source-registry.conf.d/`` (default
``~/.config/...``), the place ASDF reads per-user configuration from. There is one such
entry per user: registering from another environment replaces it. The Lisp runtime still
loads the library of the interpreter it chooses (``PYMODGEN_PYTHON``, ``PYO3_PYTHON``,
``VIRTUAL_ENV``, ``CONDA_PREFIX``, ``python3``), which must have pymodgen installed.
"""

import argparse
import os
import sys

from . import capi_library, lisp_directory, source_registry_file


def _lisp_string(text):
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def registry_entry():
    """The text of the source-registry file: one ``(:directory ...)`` form."""
    directory = os.path.join(lisp_directory(), "")
    return (
        ";; Written by pymodgen-lisp register (" + sys.executable + "); remove with pymodgen-lisp unregister.\n"
        "(:directory " + _lisp_string(directory) + ")\n"
    )


def register():
    path = source_registry_file()
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(registry_entry())
    os.replace(tmp, path)
    return path


def unregister():
    path = source_registry_file()
    try:
        os.remove(path)
    except FileNotFoundError:
        return None
    return path


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="pymodgen-lisp",
        description="Where pymodgen's Common Lisp systems are, and their ASDF registration.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    sub.add_parser("path", help="print the directory of pymodgen.asd")
    sub.add_parser("library", help="print the C ABI library built for this interpreter")
    sub.add_parser("register", help="register the Lisp systems with ASDF (one file in source-registry.conf.d)")
    sub.add_parser("unregister", help="remove that registration")
    args = parser.parse_args(argv)
    if args.command == "path":
        print(lisp_directory())
    elif args.command == "library":
        print(capi_library())
    elif args.command == "register":
        try:
            path = register()
        except OSError as e:
            print(f"pymodgen-lisp: cannot write {e.filename}: {e.strerror}", file=sys.stderr)
            return 1
        print(f"registered {lisp_directory()} in {path}")
    elif args.command == "unregister":
        path = unregister()
        print(f"removed {path}" if path else f"nothing to remove: {source_registry_file()} does not exist")
    return 0


if __name__ == "__main__":
    sys.exit(main())
