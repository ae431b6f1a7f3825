"""The name clash with Mesa's own ``mesa-llm`` package, detected when the command starts.

This distribution, ``mesa-llm-lab``, installs the import package ``mesa_llm`` and the
command ``mesa-llm``. The Mesa project's unrelated ``mesa-llm`` distribution (Mesa-LLM on
the package index) installs an import package of the same name: installed together, in
one environment, they overwrite each other's files, and both break in ways that name
neither. The command checks for that first, from the installed distributions' metadata
(a few file lookups, no import), and says what to do instead.
"""

from __future__ import annotations

import sys
from importlib import metadata

__all__ = ["THIS_DISTRIBUTION", "name_clash"]

THIS_DISTRIBUTION = "mesa-llm-lab"
"""The distribution that installs this ``mesa_llm`` package and the ``mesa-llm`` command."""

# The distributions known to install an import package named mesa_llm too.
_CLASHING = ("mesa-llm",)
# A name this package's mesa_llm/__init__.py defines, which another package's does not.
_MARKER = "LLMRuntime"


def name_clash() -> str | None:
    """What is wrong where another distribution installs ``mesa_llm`` beside this one, or None.

    Two cases: a clashing distribution is installed in this environment (whichever was
    installed last owns the shared files), or the imported ``mesa_llm`` package is not
    this one (its ``__init__.py`` was overwritten, or removed by uninstalling the other).
    """
    others = []
    for name in _CLASHING:
        try:
            other = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue
        others.append(f"{other.metadata['Name']} {other.version} (installed in {other.locate_file('')})")
    package = sys.modules.get("mesa_llm")
    replaced = package is not None and not hasattr(package, _MARKER)
    if not others and not replaced:
        return None
    found = " and ".join(others) if others else "another package"
    where = getattr(package, "__file__", None) or "a folder without __init__.py"
    problem = (
        f"the mesa_llm package imported from {where} is not {THIS_DISTRIBUTION}'s: {found} replaced it"
        if replaced
        else f"{found} is installed in this environment too"
    )
    return (
        f"Two packages install the import name mesa_llm: {THIS_DISTRIBUTION} (this command, rule and LLM "
        f"agents side by side) and the Mesa project's unrelated mesa-llm; {problem}. They overwrite "
        "each other's files, so neither works reliably. Fix: install each in its own virtual environment "
        "(python -m venv), or remove both and reinstall this one: pip uninstall -y mesa-llm "
        f"{THIS_DISTRIBUTION} && pip install {THIS_DISTRIBUTION} (uninstalling only mesa-llm also deletes "
        "files the two share)."
    )
