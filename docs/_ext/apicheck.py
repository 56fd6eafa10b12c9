"""The API reference must cover every public name: a missing one is a warning (an error under ``-W``).

Public names are those of ``diffusion_conv.__all__`` and, for each submodule in
``api_modules``, its ``__all__`` or else every function and class it defines (or
re-exports from a private module, as ``render`` does with its plots). After the
sources are read, each must be a documented Python object.

In the module pages (``:imported-members:``), members that a submodule merely
imports from another public module (``scenarios`` imports ``Tank``) are skipped:
they are documented where they live. A constant re-exported by the package
(``diffusion_conv.METHODS``) gets the docstring written beside it in the module
that defines it, not the docstring of its type.
"""

from __future__ import annotations

import importlib
import inspect
import sys

from sphinx.util import logging

logger = logging.getLogger(__name__)
PACKAGE = "diffusion_conv"


def _is_private_module(modname):
    return any(part.startswith("_") for part in modname.split("."))


def public_names(module):
    """The public names of a submodule (see the module docstring)."""
    if hasattr(module, "__all__"):
        return list(module.__all__)
    names = []
    for name, obj in vars(module).items():
        if name.startswith("_") or not (inspect.isfunction(obj) or inspect.isclass(obj)):
            continue
        home = getattr(obj, "__module__", "") or ""
        if home == module.__name__ or (home.startswith(PACKAGE + ".") and _is_private_module(home)):
            names.append(name)
    return sorted(names)


def skip_member(app, what, name, obj, skip, options):
    """Skip what a module imports from outside the package or from another public module of it."""
    if what != "module":
        return None
    if type(obj).__module__ == "__future__":  # ``from __future__ import annotations``
        return True
    if inspect.isfunction(obj) or inspect.isclass(obj):
        home = getattr(obj, "__module__", "") or ""
        if not home.startswith(PACKAGE):
            return True
        documented = {f"{PACKAGE}.{m}" for m in app.config.api_modules}
        inside = any(home.startswith(d + ".") for d in documented)  # a subpackage's own modules (render.plots)
        if not _is_private_module(home) and home not in documented and not inside:
            return True
    return None


def data_docstring(app, what, name, obj, options, lines):
    """The attribute docstring of a re-exported constant, from the module that defines it."""
    if what != "data" or not name.startswith(PACKAGE + "."):
        return
    type_doc = inspect.getdoc(type(obj)) or ""
    if lines and "\n".join(lines).strip() != type_doc.strip():
        return
    from sphinx.pycode import ModuleAnalyzer

    short = name.rsplit(".", 1)[1]
    for modname, module in sorted(sys.modules.items()):
        if modname.startswith(PACKAGE + ".") and getattr(module, short, None) is obj:
            docs = ModuleAnalyzer.for_module(modname).find_attr_docs()
            if ("", short) in docs:
                lines[:] = list(docs["", short])
                return


def check(app, env):
    objects = env.get_domain("py").objects
    package = importlib.import_module(PACKAGE)
    missing = [f"{PACKAGE}.{n}" for n in package.__all__ if f"{PACKAGE}.{n}" not in objects]
    for mod in app.config.api_modules:
        full = f"{PACKAGE}.{mod}"
        if full not in objects:
            missing.append(full)
            continue
        module = importlib.import_module(full)
        missing += [f"{full}.{n}" for n in public_names(module) if f"{full}.{n}" not in objects]
    if missing:
        logger.warning(
            "the API reference does not document these public names: %s. Add one line per name to the "
            "autosummary list of its section in docs/api/index.rst (a submodule's members are documented "
            "by its page)",
            ", ".join(missing),
            type="apicheck",
            subtype="missing",
        )


def setup(app):
    app.add_config_value("api_modules", (), "env")
    app.connect("autodoc-skip-member", skip_member)
    app.connect("autodoc-process-docstring", data_docstring)
    app.connect("env-check-consistency", check)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
