"""Complete scenarios built on mesa_llm's public API, one package each.

The repository's ``models/`` folder is installed as the package ``mesa_llm_models``
(``from mesa_llm_models.schelling import SchellingModel``), a name no user's own
``models`` package collides with. In a checkout, the old ``from models.schelling import
...`` still works, with a DeprecationWarning: it gives the very same modules.
"""

if __name__ == "models":  # imported by its old name, from the repository's root
    import importlib
    import importlib.util
    import sys
    import warnings
    from importlib.abc import Loader, MetaPathFinder
    from importlib.machinery import ModuleSpec
    from types import CodeType, ModuleType

    warnings.warn(
        "The scenarios' package is now 'mesa_llm_models' (the repository's models/ folder): "
        "import mesa_llm_models.schelling instead of models.schelling.",
        DeprecationWarning,
        stacklevel=2,
    )

    class _Alias(Loader, MetaPathFinder):
        """Serves the module ``models.X`` as ``mesa_llm_models.X`` itself, so each class exists once."""

        def find_spec(self, fullname: str, path: object = None, target: object = None) -> ModuleSpec | None:
            if not fullname.startswith("models."):
                return None
            canonical = importlib.util.find_spec("mesa_llm_models" + fullname.removeprefix("models"))
            if canonical is None:
                return None
            package = canonical.submodule_search_locations is not None
            return ModuleSpec(
                fullname, self, origin=canonical.origin, loader_state=canonical.name, is_package=package
            )

        def create_module(self, spec: ModuleSpec) -> ModuleType:
            module = importlib.import_module(spec.loader_state)
            spec.loader_state = module.__spec__  # the import system is about to replace it
            return module

        def exec_module(self, module: ModuleType) -> None:
            module.__spec__ = module.__spec__.loader_state  # the module keeps its own spec

        def get_code(self, fullname: str) -> CodeType | None:
            """The canonical module's code, for ``python -m models.schelling``."""
            canonical = "mesa_llm_models" + fullname.removeprefix("models")
            return importlib.util.find_spec(canonical).loader.get_code(canonical)

    sys.meta_path.insert(0, _Alias())
