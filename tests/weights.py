"""The embedded model's weights made to look uninstalled, for the tests of what a user without them sees."""

import dataclasses

from mesa_llm.backends import embedded


def without_default_weights(monkeypatch):
    """Make the default embedded model's weights package look uninstalled (for this test only)."""
    model = embedded.EMBEDDED[embedded.DEFAULT_EMBEDDED]
    missing = dataclasses.replace(model, module="no_such_weights_package")
    monkeypatch.setattr(embedded, "EMBEDDED", {**embedded.EMBEDDED, model.name: missing})
