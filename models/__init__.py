"""Complete scenarios built on mesa_llm's public API, one package each."""
