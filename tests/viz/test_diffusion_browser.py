"""The diffusion dashboard in a real browser: Debian's Chromium, driven by Playwright.

The page is this module's ``page``: the app's dashboard with the rule-following chat model
and hashing embeddings (no model to load), served by pytest-ipywidgets' Solara server.
"""

from __future__ import annotations

import re

from playwright import sync_api
from playwright.sync_api import expect

from mesa_llm_models.diffusion.app import HOST, INFORMED_COLOURS, DiffusionDashboard, model_params
from tests.viz.test_browser import STEP_TIMEOUT_MS

RESIDENTS = ".mesa-llm-network svg g.mark-symbol path[aria-roledescription='point']"

page = DiffusionDashboard(
    {
        **model_params,
        "embeddings": {**model_params["embeddings"], "value": "hashing"},
        "p": {**model_params["p"], "value": 1.0},
        "meet_acquaintance": {**model_params["meet_acquaintance"], "value": 1.0},
    },
    backend="rule",
)


def residents_shown(browser: sync_api.Page) -> dict[str, dict[str, str]]:
    """The residents drawn in the graph, by name, with the fields of their aria labels."""
    labels = browser.locator(RESIDENTS).evaluate_all("marks => marks.map(m => m.getAttribute('aria-label'))")
    shown = {}
    for text in labels:
        fields = dict(part.split(": ", 1) for part in text.split("; "))
        shown[fields["name"]] = fields
    return shown


def click_resident(browser: sync_api.Page, name: str) -> None:
    browser.locator(f"{RESIDENTS}[aria-label*='name: {name};']").first.click()


def test_diffusion_dashboard_plays_and_inspects(solara_app, solara_server, page_session, screenshot):
    browser = page_session
    with solara_app("tests.viz.test_diffusion_browser"):
        browser.goto(solara_server.base_url)
        expect(browser.locator(RESIDENTS).first).to_be_visible(timeout=60_000)
        residents = residents_shown(browser)
        assert len(residents) == 25
        llm = sorted(n for n, f in residents.items() if f["population"] == "LLM")
        rule = sorted(n for n, f in residents.items() if f["population"] == "rule")
        assert llm, "the default page has LLM residents"
        assert rule, "and rule residents"
        (host,) = [n for n, f in residents.items() if f["host"] == "true"]
        assert [n for n, f in residents.items() if f["informed"] == "true"] == [host]  # only the host knows
        assert {f["colour"] for f in residents.values()} == set(INFORMED_COLOURS.values())
        assert {residents[n]["shape"] for n in llm} == {"square"}
        assert {residents[n]["shape"] for n in rule} == {"circle"}
        expect(browser.locator(".mesa-llm-network svg g.host_marks path")).to_have_count(1)
        assert HOST.lower() in browser.locator(".mesa-llm-network svg g.host_marks path").get_attribute(
            "stroke"
        )
        legend = browser.locator(".mesa-llm-legend")
        for text in ("knows of the event", "does not know", "host", "rule agent", "LLM agent", "selected"):
            expect(legend).to_contain_text(text)
        expect(browser.locator(".v-input", has_text="LLM share: 0.25")).to_be_visible()
        expect(browser.locator(".mesa-llm-backend")).to_contain_text("rule → diffusion-cascade")
        memory = browser.locator(".mesa-llm-memory")
        expect(memory).to_contain_text(f"{_first_llm(residents)}: LLM resident")  # selected at the start
        expect(memory).to_contain_text("No hourly decision yet: press Step.")
        expect(browser.locator(".mesa-llm-conversations")).to_contain_text("No conversation yet.")
        screenshot("diffusion-start")

        browser.get_by_role("button", name="Play").click()
        status = browser.locator(".mesa-llm-status")
        expect(status).to_have_text("Step 48 · the model stopped running", timeout=STEP_TIMEOUT_MS)
        expect(browser.locator(".mesa-llm-status-line")).to_have_text("Game time: day 2, 23:00")
        residents = residents_shown(browser)
        informed = [n for n, f in residents.items() if f["informed"] == "true"]
        assert len(informed) > 1, "the news spread"
        for fields in residents.values():
            assert fields["colour"] == INFORMED_COLOURS[fields["informed"] == "true"]
        title = browser.get_by_text(re.compile(r"^Conversations \(\d+ so far\)$"))
        count = int(re.search(r"\((\d+) so far", title.inner_text())[1])
        assert count > 0
        expect(browser.locator(".mesa-llm-conversations")).to_contain_text(" with ")
        expect(browser.locator(".mesa-llm-places")).to_contain_text("(asleep)")  # 23:00

        click_resident(browser, llm[0])
        expect(memory).to_contain_text(f"{llm[0]}: LLM resident")
        expect(memory.locator(".mesa-llm-memory-decision")).to_contain_text(
            "Its latest hourly decision (day 2"
        )
        table = memory.locator(".mesa-llm-retrieved table")
        for column in ("kind", "memory", "recency", "importance", "relevance", "score"):
            expect(table.locator("th", has_text=column)).to_have_count(1)
        assert table.locator("tbody tr").count() > 1
        expect(memory.locator(".mesa-llm-reflections")).to_be_visible()
        expect(browser.locator(".mesa-llm-network svg g.selection_marks path")).to_have_count(1)
        screenshot("diffusion-end")

        click_resident(browser, rule[0])
        expect(memory.locator(".mesa-llm-memory-rule")).to_have_text(
            f"{rule[0]} is a rule resident: it follows the contagion rule and keeps no memory stream."
        )
        expect(browser.locator(".mesa-llm-panel")).to_contain_text("Step 48:")


def _first_llm(residents: dict[str, dict[str, str]]) -> str:
    return min((f for f in residents.values() if f["population"] == "LLM"), key=lambda f: int(f["id"]))[
        "name"
    ]
