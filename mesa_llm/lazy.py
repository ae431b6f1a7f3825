"""Public names imported on first use (PEP 562), for packages whose modules take a while to import.

A package passes its names by module and receives its module-level ``__getattr__`` and
``__dir__``: ``__getattr__, __dir__ = lazy_exports(__name__, EXPORTS, globals(), __all__)``.
A name is imported with the other names of its module when one of them is first asked
for, and bound in the package, so later lookups are plain attribute reads.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping, Sequence
from typing import Any

__all__ = ["lazy_exports"]


def lazy_exports(
    package: str,
    exports: Mapping[str, Sequence[str]],
    namespace: dict[str, Any],
    public: Sequence[str],
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """A package's ``__getattr__`` and ``__dir__`` for names imported on first use.

    Args:
        package: the package's ``__name__``.
        exports: its submodules (relative names) -> the names each gives the package.
        namespace: the package's ``globals()``, where the names are bound once imported.
        public: its ``__all__``, listed by ``dir()`` before they are imported.
    """
    module_of = {name: module for module, names in exports.items() for name in names}

    def attribute(name: str) -> Any:
        if name not in module_of:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        module = importlib.import_module(f"{package}.{module_of[name]}")
        # Importing a submodule binds its own name in the package (experiments.robustness,
        # a module and a function): the names given here win.
        namespace.update({each: getattr(module, each) for each in exports[module_of[name]]})
        return namespace[name]

    def listing() -> list[str]:
        return sorted({*namespace, *public})

    return attribute, listing
