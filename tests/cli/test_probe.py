"""``mesa-llm probe``: the installed console script, in subprocesses, as a user runs it."""

import json
import re
import subprocess

import pandas as pd
import pytest
from matplotlib.image import imread

from tests.cli.commands import MESA_LLM, invoke
from tests.lab.own_scenario import write

PNG = b"\x89PNG\r\n\x1a\n"
VERDICT = re.compile(r"Verdict: threshold t\* = (\d\.\d\d) \[(\d\.\d\d), (\d\.\d\d)\]")
PROBE_FILES = {"probe.csv", "fit.json", "probe.png"}
ROUND_TRIP_FILES = {"roundtrip.json", "roundtrip.csv", "roundtrip_runs.csv"}


def start(cwd, *args):
    """``mesa-llm probe ARGS`` started in ``cwd``; several may run at once (most of their time is imports)."""
    argv = [MESA_LLM, "probe", *(str(a) for a in args)]
    return subprocess.Popen(argv, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish(process, timeout=300):
    out, err = process.communicate(timeout=timeout)
    return process.returncode, out, err


def mesa_llm_probe(cwd, *args):
    code, out, err = finish(start(cwd, *args))
    assert code == 0, err
    return out, err


def fit_of(folder):
    return json.loads((folder / "fit.json").read_text())


@pytest.mark.parametrize("homophily", [0.3, 0.6])
def test_the_rule_backends_threshold_is_printed_and_written(tmp_path, homophily):
    out, err = mesa_llm_probe(
        tmp_path, "schelling", "--backend", "rule", "--homophily", homophily, "--out", "p"
    )
    printed, low, high = (float(x) for x in VERDICT.search(out).groups())
    assert abs(printed - homophily) <= 0.05
    assert low <= homophily <= high
    assert "Probed 45 points" in err
    assert "Outputs in p: probe.csv, fit.json, probe.png" in err

    folder = tmp_path / "p"
    assert {path.name for path in folder.iterdir()} == {*PROBE_FILES, "cache.sqlite"}
    fit = fit_of(folder)
    assert (fit["scenario"], fit["probe"], fit["backend"]) == (
        "schelling",
        "threshold",
        f"schelling-rule-{homophily}",
    )
    assert (fit["points"], fit["calls"], fit["cache_hits"], fit["fallbacks"]) == (45, 45, 0, 0)
    assert fit["parameters"]["homophily"] == homophily
    assert fit["fit"]["verdict"] == "threshold"
    assert abs(fit["fit"]["threshold"] - homophily) <= 0.05
    assert fit["verdict"] in out  # the sentence printed is the one written

    table = pd.read_csv(folder / "probe.csv")
    assert len(table) == 2 * 45
    assert set(table["action"]) == {"stay", "move"}
    assert table.groupby("point")["p"].sum().to_numpy() == pytest.approx(1.0)
    assert (folder / "probe.png").read_bytes().startswith(PNG)
    image = imread(folder / "probe.png")
    assert image.ndim == 3
    assert image[..., :3].std() > 0  # not blank


def test_a_second_probe_with_the_same_cache_makes_no_call_and_its_round_trip_reproduces(tmp_path):
    args = ["schelling", "--backend", "rule", "--homophily", "0.3", "--cache", "answers.sqlite"]
    mesa_llm_probe(tmp_path, *args, "--out", "first")
    out, err = mesa_llm_probe(
        tmp_path, *args, "--out", "second", "--round-trip", "--seeds", "3", "--steps", "5"
    )
    first, second = fit_of(tmp_path / "first"), fit_of(tmp_path / "second")
    assert first["calls"] == 45
    assert (second["calls"], second["cache_hits"]) == (0, 45)
    assert second["fit"] == first["fit"]

    folder = tmp_path / "second"
    assert {*PROBE_FILES, *ROUND_TRIP_FILES} <= {path.name for path in folder.iterdir()}
    assert not (folder / "cache.sqlite").exists()  # the answers went to --cache
    trip = json.loads((folder / "roundtrip.json").read_text())
    assert trip["verdicts"] == {"threshold": "reproduces"}
    assert trip["populations"]["threshold"]["rule_threshold"] == pytest.approx(first["fit"]["threshold"])
    assert "Round trip (3 seeds, 5 steps):" in out
    assert "threshold: the implied rule reproduces the LLM population (Δ within δ)" in out
    runs = pd.read_csv(folder / "roundtrip_runs.csv")
    assert sorted(runs.groupby("population")["seed"].apply(sorted).to_dict().items()) == [
        ("llm", [0, 1, 2]),
        ("threshold", [0, 1, 2]),
    ]
    assert {path.name for path in (folder / "roundtrip").iterdir()} == {"llm", "threshold"}  # their sweeps
    assert "roundtrip.json" in err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["nosuch"], "Unknown scenario 'nosuch'; available:"),
        (["schelling", "--probe", "nosuch"], "its probes are: threshold. Name one with --probe"),
        (["schelling", "--nosuch", "1"], "schelling has no parameter 'nosuch'; its parameters are:"),
        (["schelling", "--homophily", "2"], "homophily must be a fraction in [0, 1], got 2.0."),
        (["schelling", "--seeds", "3"], "--seeds set the round trip: add --round-trip"),
    ],
)
def test_bad_input_exits_with_2_naming_the_fix_before_anything_runs(tmp_path, args, message):
    result = invoke("probe", *args, "--out", tmp_path / "out")
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert not (tmp_path / "out").exists()


def test_the_console_script_refuses_a_scenario_without_probes_and_a_bad_backend(tmp_path):
    write(tmp_path / "my")  # a scenario of one file, without probes
    cases = {
        "no-probes": (
            ["my/walk.py:SCENARIO"],
            "walk declares no probes: give its ScenarioSpec probes=(Probe(...), ...). "
            "Installed scenarios with probes:",
        ),
        "backend": (["schelling", "--backend", "nosuchprovider:x"], "Unknown backend 'nosuchprovider:x'"),
    }
    started = {name: start(tmp_path, *args, "--out", name) for name, (args, _) in cases.items()}
    for name, process in started.items():
        code, _, err = finish(process)
        assert code == 2, (name, err)
        assert cases[name][1] in err, name
        assert "Traceback" not in err, name
        assert not (tmp_path / name).exists(), name  # no folder left behind


def test_the_embedded_model_is_probed_for_real(tmp_path):
    # One thread: several threads of llama.cpp on a busy machine of two cores wait on each other.
    out, _ = mesa_llm_probe(
        tmp_path, "schelling", "--backend", "local,n_threads=1", "--samples", "1", "--out", "p"
    )
    fit = fit_of(tmp_path / "p")
    assert fit["backend"].startswith("SmolLM2")
    assert (fit["points"], fit["calls"], fit["fallbacks"]) == (45, 45, 0)  # one scored call per point
    assert f"Verdict: {fit['verdict']}" in out
    table = pd.read_csv(tmp_path / "p" / "probe.csv")
    assert (table["source"] == "scored").all()
    assert table.groupby("point")["p"].sum().to_numpy() == pytest.approx(1.0, abs=1e-6)


def test_the_help_lists_the_command_its_options_and_the_scenarios_parameters():
    listing = invoke("--help")
    assert listing.exit_code == 0
    assert re.search(r"probe\s+Probe the rule a scenario's LLM agents follow", listing.stdout)
    result = invoke("probe", "schelling", "--help")
    assert result.exit_code == 0
    for option in ("--probe", "--backend", "--samples", "--temperature", "--seed", "--cache", "--out"):
        assert option in result.stdout
    for option in ("--round-trip", "--seeds", "--steps", "--workers"):
        assert option in result.stdout
    for parameter in ("--homophily", "--framing", "--radius"):  # the scenario's own, as 'run' shows them
        assert parameter in result.stdout
