"""Browser fixtures: Debian's Chromium driven by Playwright, Solara's front-end served locally.

``bash scripts/test.sh`` installs Chromium (``apt-get install chromium``) and fetches the
front-end assets into Solara's asset folder; without them the browser tests fail with the
command that fixes it (they are never skipped).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import pytest

from mesa_llm.viz import assets

CHROMIUM = os.environ.get("MESA_LLM_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
LAUNCH_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
    "--disable-quic",
]


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict[str, Any]) -> dict[str, Any]:
    """Launch Debian's Chromium (``playwright install`` cannot download a browser here)."""
    if not Path(CHROMIUM).exists():
        pytest.fail(
            f"Chromium is not installed at {CHROMIUM}: run 'bash scripts/test.sh' (it installs it), "
            "or 'apt-get install chromium', or set MESA_LLM_CHROMIUM to a Chromium binary."
        )
    missing = assets.missing_assets()
    if missing:
        pytest.fail(
            f"Solara's front-end assets {missing} are missing from {assets.assets_dir()}: "
            "run 'python -m mesa_llm.viz.assets' (or 'bash scripts/setup.sh dev,local,viz')."
        )
    return {**browser_type_launch_args, "executable_path": CHROMIUM, "args": LAUNCH_ARGS}


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args: dict[str, Any]) -> dict[str, Any]:
    """A viewport where the whole dashboard fits in a screenshot."""
    return {**browser_context_args, "viewport": {"width": 1600, "height": 1300}}


@pytest.fixture
def screenshot(page_session: Any, output_path: str):
    """Save a full-page screenshot of the test's page into its output folder (test-results/)."""

    def save(name: str) -> Path:
        path = Path(output_path) / f"{name}.png"
        page_session.screenshot(path=path, full_page=True)
        return path

    return save
