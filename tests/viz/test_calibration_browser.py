"""The calibration panel of a dashboard in a real browser: a probe in the background, its verdict shown."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from tests.viz.gated import GATE, RULE
from tests.viz.test_browser import STEP_TIMEOUT_MS, open_page, set_slider

VERDICT = re.compile(r"Implied rule: threshold t\* = (\d\.\d\d) \[")


def choose_backend(page, name: str) -> None:
    page.locator(".v-input", has_text="backend").click()
    page.get_by_role("option", name=name, exact=True).click()


def threshold_shown(page) -> float:
    verdict = page.locator(".mesa-llm-probe-verdict")
    expect(verdict).to_contain_text(VERDICT, timeout=STEP_TIMEOUT_MS)
    return float(VERDICT.search(verdict.inner_text())[1])


def test_the_calibration_panel_probes_in_the_background(solara_app, solara_server, page_session, screenshot):
    page = page_session
    GATE.clear()
    try:
        with solara_app("tests.viz.gated_app"):
            open_page(page, solara_server.base_url)
            panel = page.locator(".mesa-llm-calibration")
            expect(panel).to_contain_text("Press Probe to ask the selected backend")
            probe = panel.get_by_role("button", name="Probe")

            choose_backend(page, "rule")  # the rule at the homophily slider's 0.40
            probe.click()
            assert abs(threshold_shown(page) - 0.4) <= 0.05
            expect(page.locator(".mesa-llm-probe-cost")).to_contain_text("45 points · 45 backend calls")
            expect(page.locator(".mesa-llm-probe-figure img")).to_be_visible()
            panel.scroll_into_view_if_needed()
            screenshot("calibration-rule")

            # A backend that cannot answer before the gate opens: the page must answer meanwhile.
            choose_backend(page, "gated")
            probe.click()
            status = page.locator(".mesa-llm-probe-status")
            expect(status).to_contain_text("Probing: the threshold probe, backend gated")
            expect(probe).to_be_disabled()
            set_slider(page, "LLM share", "Home")
            expect(page.locator(".v-input", has_text="LLM share: 0.00")).to_be_visible()
            expect(page.get_by_text("Changed settings apply on Reset.")).to_be_visible()
            page.get_by_role("button", name="Step").click()  # another background job, beside the probe
            expect(page.locator(".mesa-llm-status")).to_contain_text("Step 1 running")
            expect(status).to_contain_text("Probing: the threshold probe, backend gated")
            assert not GATE.is_set()

            GATE.set()
            assert abs(threshold_shown(page) - RULE.homophily) <= 0.05
            expect(page.locator(".mesa-llm-probe-cost")).to_contain_text("(gated-rule)")
            expect(probe).to_be_enabled()
            expect(page.locator(".mesa-llm-status")).to_have_text("Step 1", timeout=STEP_TIMEOUT_MS)
            panel.scroll_into_view_if_needed()
            screenshot("calibration-gated")
    finally:
        GATE.set()
