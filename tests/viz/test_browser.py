"""The dashboards in a real browser: Debian's Chromium, driven by Playwright.

Each scenario's page is served by pytest-ipywidgets' in-process Solara server from its real
``app.py``; ``mesa-llm viz`` is tested as a subprocess. Screenshots go to ``test-results/``.
"""

from __future__ import annotations

import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from playwright.sync_api import Page, expect

from tests.processes import interruptible
from tests.viz.gated import GATE

MARKS = ".mesa-llm-space svg g.mark-symbol path[aria-roledescription='point']"
# A first LLM step of the embedded model takes seconds; on a loaded machine, more.
STEP_TIMEOUT_MS = 180_000


def agents_shown(page: Page) -> dict[int, dict[str, str]]:
    """The agents drawn in the space, by id, with the fields of their aria labels."""
    labels = page.locator(MARKS).evaluate_all("marks => marks.map(m => m.getAttribute('aria-label'))")
    agents = {}
    for label in labels:
        fields = dict(part.split(": ", 1) for part in label.split("; "))
        agents[int(fields["id"])] = fields
    return agents


def open_page(page: Page, url: str) -> dict[int, dict[str, str]]:
    page.goto(url)
    expect(page.locator(MARKS).first).to_be_visible(timeout=60_000)
    return agents_shown(page)


def by_population(agents: dict[int, dict[str, str]], population: str) -> list[int]:
    return sorted(i for i, fields in agents.items() if fields["population"] == population)


def click_agent(page: Page, agent_id: int) -> None:
    page.locator(f"{MARKS}[aria-label*='; id: {agent_id};']").first.click()


def panel_count(page: Page, name: str) -> int:
    """A count of the LLM panel's table, once the table shows it (Markdown renders in the browser)."""
    panel = page.locator(".mesa-llm-panel")
    count = re.compile(rf"{name}\s*(\d[\d,]*)")
    expect(panel).to_contain_text(count)
    return int(count.search(panel.text_content()).group(1).replace(",", ""))


def position(page: Page, agent_id: int) -> str:
    """Where the agent's mark is drawn (its SVG transform)."""
    return page.locator(f"{MARKS}[aria-label*='; id: {agent_id};']").first.get_attribute("transform")


def set_slider(page: Page, label: str, key: str) -> None:
    """Move the slider called ``label`` to its minimum (``Home``) or maximum (``End``)."""
    slider = page.locator(".v-input", has_text=label).get_by_role("slider")
    slider.focus()
    slider.press(key)


def test_schelling_dashboard_steps_and_inspects(solara_app, solara_server, page_session, screenshot):
    page = page_session
    with solara_app("mesa_llm_models.schelling.app"):
        agents = open_page(page, solara_server.base_url)
        llm, rule = by_population(agents, "LLM"), by_population(agents, "rule")
        assert llm, "the default page has LLM residents"
        assert rule, "the default page has rule residents"
        assert {agents[i]["Shape"] for i in llm} == {"square"}
        assert {agents[i]["Shape"] for i in rule} == {"circle"}
        groups = {"#1f77b4", "#ff7f0e"}
        happy = {i for i, fields in agents.items() if fields["happy"] == "true"}
        assert happy, "some residents are happy"
        assert len(happy) < len(agents), "some are not"
        assert {agents[i]["Color"] for i in happy} == groups  # filled in their group's colour
        unhappy = set(agents) - happy
        assert {agents[i]["Color"] for i in unhappy} == {"#ffffff"}  # hollow
        assert {agents[i]["viz_stroke_color"] for i in unhappy} == groups  # outlined in it

        legend = page.locator(".mesa-llm-legend")
        for text in ("group 0 (majority)", "group 1 (minority)", "filled: happy", "hollow: unhappy"):
            expect(legend).to_contain_text(text)
        for text in ("rule agent", "LLM agent", "selected"):
            expect(legend).to_contain_text(text)
        for shown in ("LLM share: 0.25", "homophily (rule threshold): 0.40", "density: 0.80", "width: 20"):
            expect(page.locator(".v-input", has_text=shown)).to_be_visible()

        ring = page.locator(".mesa-llm-space svg g.selection_marks path")
        expect(ring).to_have_attribute("transform", position(page, llm[0]))  # the first LLM agent
        click_agent(page, rule[0])
        expect(ring).to_have_attribute("transform", position(page, rule[0]))  # moved at once
        inspector = page.locator(".mesa-llm-inspector")
        expect(inspector).to_contain_text(f"Agent {rule[0]}: RuleResident")
        expect(inspector).to_contain_text("Last decision: no decision yet.")
        click_agent(page, llm[0])
        expect(ring).to_have_attribute("transform", position(page, llm[0]))

        metrics = page.locator(".mesa-llm-metrics img")
        expect(metrics).to_be_visible()
        plot_before = metrics.get_attribute("src")
        expect(page.locator(".mesa-llm-panel")).to_contain_text("No LLM decisions yet")
        expect(page.locator(".mesa-llm-backend")).to_contain_text("local → SmolLM2")
        expect(inspector).to_contain_text(f"Agent {llm[0]}: LLMResident")
        expect(inspector).to_contain_text("No decision yet")
        screenshot("schelling-start")

        page.get_by_role("button", name="Step").click()
        status = page.locator(".mesa-llm-status")
        expect(status).to_have_text("Step 1", timeout=STEP_TIMEOUT_MS)
        expect(page.locator(".mesa-llm-panel")).to_contain_text("Step 1:")
        assert panel_count(page, "decisions") == len(llm)  # every LLM resident decided once
        assert 0 < panel_count(page, "backend calls") <= len(llm)
        expect(metrics).not_to_have_attribute("src", plot_before)

        for text in ("Prompt sent:", "[system]", "[human]", "around your home there are", "Raw answer:"):
            expect(inspector).to_contain_text(text)
        action = inspector.locator(".mesa-llm-action")
        expect(action).to_contain_text(re.compile(r"Action: (stay|move)"))
        expect(action).to_contain_text(re.compile(r"\d+ backend calls?"))
        probabilities = inspector.locator(".mesa-llm-probabilities")
        expect(probabilities).to_contain_text("stay")
        expect(probabilities).to_contain_text("move")
        expect(inspector.locator(".mesa-llm-rule-action")).to_contain_text(
            re.compile(r"The rule would have: (stay|move) \((agrees|the LLM chose (stay|move))\)")
        )

        click_agent(page, rule[0])
        expect(inspector).to_contain_text(f"Agent {rule[0]}: RuleResident")
        expect(inspector.locator(".mesa-llm-rule")).to_have_text(
            "Decides by rule (RuleResident.decide): Stay if at least rule_threshold (the homophily unless "
            "set) of its neighbours are its group."
        )
        expect(inspector.locator(".mesa-llm-last-decision")).to_have_text(
            re.compile(r"Last decision: (stay|move)")
        )
        expect(inspector).to_contain_text("'same':")  # its observation

        transcript = page.locator(".mesa-llm-transcript")
        expect(transcript).to_contain_text(
            re.compile(rf"Step 1: {len(llm)} of {len(llm)} decisions \(\d+ backend")
        )
        transcript.get_by_label("filter by agent ids").fill(str(llm[1]))
        transcript.get_by_label("filter by agent ids").press("Enter")
        expect(transcript).to_contain_text(f"Step 1: 1 of {len(llm)} decisions")
        expect(transcript).to_contain_text(f"agent {llm[1]} →")
        screenshot("schelling-step-1")


def test_schelling_llm_share_backend_and_reset(solara_app, solara_server, page_session, screenshot):
    page = page_session
    with solara_app("mesa_llm_models.schelling.app"):
        open_page(page, solara_server.base_url)
        set_slider(page, "LLM share", "Home")
        expect(page.locator(".v-input", has_text="LLM share: 0.00")).to_be_visible()
        expect(page.get_by_text("Changed settings apply on Reset.")).to_be_visible()
        page.get_by_role("button", name="Reset").click()
        expect(page.locator(".mesa-llm-backend")).to_contain_text("none (no LLM agents)")
        expect(page.locator(f"{MARKS}[aria-label*='population: LLM']")).to_have_count(0)
        assert len(agents_shown(page)) > 250

        set_slider(page, "LLM share", "End")
        expect(page.locator(".v-input", has_text="LLM share: 1.00")).to_be_visible()
        for label, value in (("local model threads", "1"), ("local model temperature", "0.5")):
            box = page.locator(".mesa-llm-local").get_by_label(label)
            box.fill(value)
            box.press("Enter")
        page.get_by_role("button", name="Reset").click()
        expect(page.locator(".mesa-llm-backend")).to_contain_text(
            "local,n_threads=1,temperature=0.5 → SmolLM2"
        )
        expect(page.get_by_text("Changed settings apply on Reset.")).to_have_count(0)

        page.locator(".v-input", has_text="backend").click()
        page.get_by_role("option", name="rule", exact=True).click()
        page.get_by_role("button", name="Reset").click()
        expect(page.locator(".mesa-llm-backend")).to_contain_text("rule → schelling-rule-0.4")
        expect(page.get_by_text("Changed settings apply on Reset.")).to_have_count(0)
        expect(page.locator(f"{MARKS}[aria-label*='population: rule']")).to_have_count(0)
        agents = agents_shown(page)
        assert len(agents) > 250  # 20 x 20 at density 0.8, all LLM residents

        page.get_by_role("button", name="Step").click()
        expect(page.locator(".mesa-llm-status")).to_have_text("Step 1", timeout=STEP_TIMEOUT_MS)
        expect(page.locator(".mesa-llm-panel")).to_contain_text("Step 1:")
        assert panel_count(page, "decisions") == len(agents)
        expect(page.locator(".mesa-llm-inspector .mesa-llm-raw")).to_contain_text(re.compile("Stay|MOVE"))
        screenshot("schelling-all-llm-rule-backend")


def type_agent_id(box, inspector, agent, attempts=3):
    """Type ``agent`` into the inspector's id box and wait for its details, trying up to ``attempts`` times.

    Under load, Vue in the browser sometimes fails to patch the page while the status line
    redraws (``TypeError: Cannot read properties of null (reading 'insertBefore')`` in the
    browser's log), and the typed id is lost: seen about once in four full runs. The test
    asserts that the page answers while the LLM phase runs, not that no redraw ever drops a
    keystroke; the glitch is noted for investigation in issue 13's note.
    """
    for attempt in range(attempts):
        box.fill(str(agent))
        box.press("Enter")
        try:
            expect(inspector).to_contain_text(f"Agent {agent}: RuleResident", timeout=5000)
            return
        except AssertionError:
            if attempt == attempts - 1:
                raise


def test_page_stays_responsive_during_the_llm_phase(solara_app, solara_server, page_session):
    page = page_session
    GATE.clear()
    try:
        with solara_app("tests.viz.gated_app"):
            agents = open_page(page, solara_server.base_url)
            rule = by_population(agents, "rule")
            page.get_by_role("button", name="Step").click()
            status = page.locator(".mesa-llm-status")
            expect(status).to_contain_text(
                re.compile(r"Step 1 running · LLM phase: 0 of \d+ prompts answered")
            )
            expect(page.get_by_role("button", name="Step")).to_be_disabled()

            # The backend cannot answer before the gate opens; the page must answer meanwhile.
            inspector = page.locator(".mesa-llm-inspector")
            click_agent(page, rule[0])
            expect(inspector).to_contain_text(f"Agent {rule[0]}: RuleResident")
            box = inspector.get_by_label("agent id")
            expect(box).to_have_value(str(rule[0]))  # the click's render is in: it cannot undo the typing
            type_agent_id(box, inspector, rule[1])
            expect(status).to_contain_text("Step 1 running")
            assert not GATE.is_set()

            GATE.set()
            expect(status).to_have_text("Step 1", timeout=STEP_TIMEOUT_MS)
            page.get_by_role("button", name="Play").click()
            expect(status).to_contain_text(re.compile(r"Step [3-9]"), timeout=STEP_TIMEOUT_MS)
            page.get_by_role("button", name="Pause").click()
            expect(page.get_by_role("button", name="Play")).to_be_visible()
            expect(status).to_have_text(re.compile(r"^Step \d+$"), timeout=STEP_TIMEOUT_MS)  # the step ends
            paused_at = status.inner_text()
            page.wait_for_timeout(1500)
            assert status.inner_text() == paused_at
    finally:
        GATE.set()


def test_cooperation_dashboard(solara_app, solara_server, page_session, screenshot):
    page = page_session
    with solara_app("mesa_llm_models.cooperation.app"):
        agents = open_page(page, solara_server.base_url)
        llm = by_population(agents, "LLM")
        assert len(agents) == 144  # 12 x 12, one player per cell
        assert llm
        assert {f["Color"] for f in agents.values()} <= {"#1f77b4", "#d62728"}  # opening moves
        plot_before = page.locator(".mesa-llm-metrics img").get_attribute("src")

        # Round 1 is the opening: every player plays its initial strategy's move, no calls.
        status = page.locator(".mesa-llm-status")
        page.get_by_role("button", name="Step").click()
        expect(status).to_have_text("Step 1", timeout=STEP_TIMEOUT_MS)
        expect(page.locator(".mesa-llm-metrics img")).not_to_have_attribute("src", plot_before)
        expect(page.locator(".mesa-llm-panel")).to_contain_text("No LLM decisions yet")
        page.get_by_role("button", name="Step").click()
        expect(status).to_have_text("Step 2", timeout=STEP_TIMEOUT_MS)
        expect(page.locator(".mesa-llm-panel")).to_contain_text("Step 2:")
        assert panel_count(page, "decisions") == len(llm)
        inspector = page.locator(".mesa-llm-inspector")
        expect(inspector).to_contain_text(f"Agent {llm[0]}: LLMPlayer")
        expect(inspector.locator(".mesa-llm-prompt")).to_contain_text("Do you cooperate or defect?")
        expect(inspector.locator(".mesa-llm-prompt")).to_contain_text("Round 2 is starting.")
        expect(inspector.locator(".mesa-llm-observation")).to_contain_text("'round (starting)': 2")
        expect(inspector.locator(".mesa-llm-probabilities")).to_contain_text("cooperate")
        expect(inspector.locator(".mesa-llm-probabilities")).to_contain_text("defect")
        expect(inspector.locator(".mesa-llm-rule-action")).to_contain_text(
            re.compile(r"The rule would have: (cooperate|defect)")
        )
        expect(page.locator(".mesa-llm-legend")).to_contain_text("cooperated (last move)")
        screenshot("cooperation-step-2")

        rule = by_population(agents, "rule")
        click_agent(page, rule[0])
        expect(inspector).to_contain_text(f"Agent {rule[0]}: RulePlayer")
        expect(inspector.locator(".mesa-llm-rule")).to_have_text(
            "Decides by rule (RulePlayer.decide): Imitate if it is time to, then play the strategy "
            "against each partner."
        )
        expect(inspector.locator(".mesa-llm-last-decision")).to_contain_text(
            re.compile(r"Last decision: \{'strategy': '\w+', 'move': '(cooperate|defect)'")
        )
        expect(inspector.locator(".mesa-llm-observation")).to_contain_text("'round (starting)': 3")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_mesa_llm_viz_serves_a_dashboard(page_session, screenshot):
    port = _free_port()
    mesa_llm = shutil.which("mesa-llm", path=str(Path(sys.executable).parent))
    assert mesa_llm is not None
    command = [mesa_llm, "viz", "cooperation", "--port", str(port)]
    server = subprocess.Popen(
        interruptible(command), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            assert server.poll() is None, server.stdout.read()
            time.sleep(0.2)
        agents = open_page(page_session, f"http://127.0.0.1:{port}/")
        assert len(agents) == 144
        expect(page_session.locator(".mesa-llm-metrics img")).to_be_visible()
        screenshot("mesa-llm-viz-cooperation")
        page_session.goto("about:blank")
    finally:
        server.send_signal(signal.SIGINT)
        try:
            output, _ = server.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            raise
    assert server.returncode == 0, output
    assert "Serving the cooperation dashboard" in output
    assert f"http://127.0.0.1:{port}" in output


def test_llm_components_in_a_users_page(solara_app, solara_server, page_session):
    page = page_session
    with solara_app("tests.viz.components_app"):
        page.goto(solara_server.base_url)
        from tests.viz.components_app import LLM_AGENTS

        expect(page.locator(".mesa-llm-panel")).to_contain_text("No LLM decisions yet", timeout=60_000)
        page.get_by_role("button", name="Step").click()
        expect(page.locator(".mesa-llm-panel")).to_contain_text("Step 1:")
        assert panel_count(page, "decisions") == len(LLM_AGENTS)
        inspector = page.locator(".mesa-llm-inspector")
        box = inspector.get_by_label("agent id")
        box.fill(str(LLM_AGENTS[0]))
        box.press("Enter")
        expect(inspector.locator(".mesa-llm-raw")).to_contain_text(re.compile("Stay|MOVE"))
        expect(page.locator(".mesa-llm-transcript")).to_contain_text(f"Step 1: {len(LLM_AGENTS)} of")
