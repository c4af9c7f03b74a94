"""pymodgen, as installed from its wheel: where its parts are.

The wheel holds three things: the ``pymodgen`` command (in the environment's ``bin``), the
C ABI library of the Common Lisp runtime built for this interpreter, and the Common Lisp
systems ``pymodgen`` and ``pymodgen/py4cl2-cffi``. Nothing here is imported by the Lisp
runtime or by the command; ``pymodgen-lisp`` (``python -m pymodgen.lisp``) registers the
Lisp systems with ASDF.
"""

import os
import sysconfig

__all__ = ["capi_library", "lisp_directory", "source_registry_file"]

_HERE = os.path.dirname(os.path.abspath(__file__))


def lisp_directory():
    """The directory of ``pymodgen.asd`` (the systems ``pymodgen`` and ``pymodgen/py4cl2-cffi``)."""
    return os.path.join(_HERE, "lisp")


def capi_library():
    """The C ABI library the Lisp runtime loads, built for this interpreter's version.

    Its name is ``_capi`` plus the interpreter's extension suffix; the Lisp runtime computes
    the same path through the interpreter it chose (``runtime/lisp/src/library.lisp``).
    """
    return os.path.join(_HERE, "_capi" + sysconfig.get_config_var("EXT_SUFFIX"))


def source_registry_file():
    """The file ``pymodgen-lisp register`` writes: ASDF's per-user source registry, as
    ``uiop:xdg-config-home`` finds it (``$XDG_CONFIG_HOME``, else ``~/.config``)."""
    config = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return os.path.join(config, "common-lisp", "source-registry.conf.d", "50-pymodgen.conf")
