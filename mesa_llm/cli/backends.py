"""``mesa-llm backends``: the embedded models, whether their weights are ready, and how to name others."""

from __future__ import annotations

import importlib.util

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from mesa_llm.backends import DEFAULT_BACKEND, EMBEDDED
from mesa_llm.backends.embedded import DEFAULT_EMBEDDED, cache_dir

__all__ = ["backends"]


def backends() -> None:
    """List the embedded models (size, licence, origin, installed or not) and how to name other backends."""
    console = Console()
    table = Table(
        title="[bold]Embedded models[/]: run in-process on the CPU by llama.cpp; no key, no network",
        caption=f"'{DEFAULT_BACKEND}' alone is 'local:{DEFAULT_EMBEDDED}'",
        title_justify="left",
    )
    table.add_column("backend", style="bold", no_wrap=True)
    table.add_column("model", overflow="fold")
    table.add_column("size", justify="right", no_wrap=True)
    table.add_column("licence", overflow="fold")
    table.add_column("package (extra)", overflow="fold")
    table.add_column("upstream", overflow="fold")
    table.add_column("weights", overflow="fold")
    for model in EMBEDDED.values():
        kind = "instruction-tuned" if model.prompt_format == "chat" else "base, prompted as plain text"
        table.add_row(
            f"local:{model.name}",
            f"{escape(model.title)}\n[dim]{kind}[/]",
            f"{model.size_mb} MB",
            escape(model.licence),
            f"{escape(model.package)}\n[dim]{escape(f'mesa-llm-lab[{model.extra}]')}[/]",
            escape(model.upstream),
            escape(model.status()),
        )
    console.print(table)
    if importlib.util.find_spec("llama_cpp") is not None:
        from mesa_llm.backends.llama import q4_1_kernels

        kernels = escape(q4_1_kernels())
        console.print(f"llama.cpp's products of Q4_1 weights (SmolLM2's): {kernels}", soft_wrap=True)
    console.print(
        f"Weights shipped in chunks are assembled once into {escape(str(cache_dir() / 'models'))} "
        "($XDG_CACHE_HOME/mesa-llm-lab/models).\n"
        "Settings follow after commas: 'local:gemma3,n_threads=1,temperature=0.7'. A GGUF file of your own: "
        "'local:/path/to/model.gguf'.\nAny other language model: 'provider:model', resolved by LangChain's "
        "init_chat_model with the provider's package installed and its API key set, such as "
        "'openai:gpt-4o-mini', 'anthropic:claude-3-5-haiku-latest' or 'ollama:llama3.2' (docs/backends.md).",
        soft_wrap=True,
    )
