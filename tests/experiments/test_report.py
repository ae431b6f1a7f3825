"""The robustness report: markdown tables for a paper's appendix, and the files written with its plots."""

import re

import numpy as np
from matplotlib.image import imread

from mesa_llm.experiments.report import REPORT_FILE, markdown
from mesa_llm.experiments.robustness import robustness
from tests.experiments.synthetic import BACKENDS, OUTCOMES, by_backend, same, steps, summary

FACTORS = ["backend", "framing", "llm_share"]


def sweep(mean=by_backend, rule=0.6, failed=0):
    frame = summary(mean, rule=rule)
    frame.loc[range(failed), "status"] = "failed"
    frame.loc[range(failed), "error"] = "Traceback (most recent call last):\nRuntimeError: the backend died"
    frame.loc[range(failed), ["segregation", "pct_happy"]] = np.nan
    return frame


def section(text, title):
    return text.split(f"## {title}\n", 1)[1].split("\n## ", 1)[0].strip()


def test_the_markdown_holds_the_verdict_rows_baseline_shares_and_methods():
    text = robustness(sweep(), OUTCOMES, FACTORS).markdown()
    assert "80 runs: 40 with LLM agents, 40 rule-only (the rule baseline), 0 failed" in text
    overall = section(text, "Overall verdict")
    assert "| segregation | **model-dependent** |" in overall
    assert "| pct_happy | **structural** |" in overall
    factors = section(text, "Verdict per factor")
    assert "| segregation | backend | depends on the language model |" in factors
    assert "| pct_happy | framing | stable across framings |" in factors
    assert "| segregation | llm_share | llm_share not varied among LLM runs |" in factors
    assert f"{BACKENDS[0]} − {BACKENDS[1]}" in factors
    shares = section(text, "Variance shares")
    assert (
        shares.splitlines()[0]
        == "| Metric | backend | framing | backend × framing | seed (residual) | Design |"
    )
    baseline = section(text, "Against the rule baseline")
    assert baseline.count("differs from the rule baseline") == 4  # segregation: both backends are off
    assert baseline.count("reproduces the rule baseline") == 4  # pct_happy
    assert len(section(text, "Pairwise comparisons").splitlines()) == 2 + 8
    methods = section(text, "Methods")
    for words in (
        "Kruskal–Wallis",
        "TOST",
        "Holm",
        "percentile bootstrap",
        "2000 resamples",
        "segregation δ = 0.05",
    ):
        assert words in methods
    assert "*inconclusive*" in methods
    assert "with the same backend, framing" in methods  # how the rule baseline is matched
    assert "## Failed runs" not in text


def test_every_table_row_has_as_many_cells_as_its_header():
    text = robustness(sweep(failed=2), OUTCOMES, FACTORS).markdown()
    tables = [block for block in text.split("\n\n") if block.startswith("| ")]
    assert len(tables) == 6  # overall, per factor, shares, baseline, pairs, failed runs
    for table in tables:
        widths = {len(re.findall(r"(?<!\\)\|", line)) for line in table.splitlines()}
        assert len(widths) == 1, table


def test_failed_runs_are_listed_with_the_last_line_of_their_error():
    text = robustness(sweep(failed=2), OUTCOMES, FACTORS).markdown()
    assert "2 failed (left out)" in text
    failed = section(text, "Failed runs")
    assert "| 0000 | local:smollm2 | neutral | 1.0 | 0 | RuntimeError: the backend died |" in failed
    assert "Traceback" not in failed


def test_a_sweep_without_rule_runs_has_no_baseline_section():
    report = robustness(sweep(mean=same, rule=None), OUTCOMES, FACTORS)
    assert report.baseline.empty
    text = markdown(report)
    assert "## Against the rule baseline" not in text
    assert "| segregation | **structural** |" in text


def test_write_makes_the_report_and_real_png_images(tmp_path):
    frame = sweep(failed=1)
    report = robustness(frame, OUTCOMES, FACTORS, steps=steps(frame))
    folder = tmp_path / "sweep" / "report"
    written = report.write(folder)
    names = [path.name for path in written]
    assert names == [
        REPORT_FILE,
        "outcome_segregation.png",
        "timeseries_segregation.png",
        "outcome_pct_happy.png",
        "timeseries_pct_happy.png",
    ]
    text = (folder / REPORT_FILE).read_text(encoding="utf-8")
    assert text.startswith(report.markdown().split("## Figures")[0].split("## Methods")[0])
    for name in names[1:]:
        assert f"![{name[:-4]}]({name})" in text
        image = imread(folder / name)
        assert image.ndim == 3
        assert image.shape[0] > 200
        assert image.shape[1] > 200
        assert image[..., :3].std() > 0.05  # something is drawn


def test_write_without_steps_draws_no_time_series(tmp_path):
    report = robustness(sweep(mean=same, rule=None), OUTCOMES, ["backend"])
    assert [path.name for path in report.write(tmp_path)] == [
        REPORT_FILE,
        "outcome_segregation.png",
        "outcome_pct_happy.png",
    ]


def test_the_outcome_plot_draws_each_condition_and_the_rule_baseline():
    from mesa_llm.experiments.figures import outcome_figure, timeseries_figure

    frame = sweep()
    report = robustness(frame, OUTCOMES, FACTORS, steps=steps(frame))
    (ax,) = outcome_figure(report, "segregation").axes
    labels = [tick.get_text() for tick in ax.get_xticklabels()]
    assert labels == [f"{b}\n{f}" for b in BACKENDS for f in ("neutral", "social")]
    assert ax.get_xlabel() == "backend / framing"
    assert ax.get_legend().get_texts()[0].get_text() == "rule baseline ± δ"
    (ax,) = timeseries_figure(report, "segregation").axes
    legend = [text.get_text() for text in ax.get_legend().get_texts()]
    assert legend[:4] == [f"backend={b}, framing={f}" for b in BACKENDS for f in ("neutral", "social")]
    assert legend[4:] == [f"rule, backend={b}, framing={f}" for b in BACKENDS for f in ("neutral", "social")]


def test_the_time_series_draw_identical_rule_conditions_once_and_hold_ended_runs():
    from mesa_llm.experiments.figures import timeseries_figure

    frame = sweep()
    rule = frame["llm_agents"] == 0
    first = frame[rule].groupby("seed")[["segregation", "pct_happy"]].transform("first")
    frame.loc[rule, ["segregation", "pct_happy"]] = first  # rule-only runs: the same whatever the backend
    series = steps(frame)
    ended = frame.loc[rule & (frame["seed"] == 0), "run"]
    series = series[~series["run"].isin(ended) | (series["step"] <= 4)]  # their models stopped after step 4
    report = robustness(frame, OUTCOMES, FACTORS, steps=series)
    (ax,) = timeseries_figure(report, "segregation").axes
    legend = [text.get_text() for text in ax.get_legend().get_texts()]
    assert legend[4:] == ["rule"]  # one line for the four identical rule conditions
    rule_line = ax.get_lines()[4]
    assert len(rule_line.get_xdata()) == 12  # every step, the ended runs held at their last value
    one_condition = series[series["run"].isin(frame.loc[rule, "run"].iloc[:10])]
    held = one_condition.groupby("run")["segregation"].last()  # step 11, or step 4 for the ended run
    assert np.isclose(rule_line.get_ydata()[-1], held.mean())


def test_describe_gives_each_metric_its_verdict_factors_and_baseline_in_plain_text():
    report = robustness(sweep(failed=2), OUTCOMES, FACTORS)
    lines = report.describe().splitlines()
    assert lines[0].startswith("80 runs: 38 with LLM agents, 40 rule-only (the rule baseline), 2 failed")
    assert lines[1] == "segregation: model-dependent"
    backend = lines[2]
    assert backend.startswith("  backend: depends on the language model (largest difference ")
    pair = report.factors.set_index(["metric", "factor"]).loc[("segregation", "backend")]
    assert f"{pair.largest_pair} = {pair.largest_diff:.3g} [{pair.ci_low:.3g}, {pair.ci_high:.3g}]" in backend
    assert backend.endswith("δ = 0.05, Kruskal–Wallis p (Holm) < 0.001)")
    assert lines[3].startswith("  framing: stable across framings (largest difference ")
    assert "Kruskal–Wallis" not in lines[3]  # a p is given where the factor matters
    assert lines[4] == "  rule baseline: 0 of 4 LLM conditions reproduce the rule baseline"
    assert lines[5] == "pct_happy: structural"
    assert not any("llm_share" in line for line in lines)  # not varied among LLM runs
    assert len(lines) == 9


def test_a_report_shows_itself_briefly_and_as_markdown_in_a_notebook():
    report = robustness(sweep(failed=2), OUTCOMES, FACTORS)
    assert repr(report) == (
        "<RobustnessReport of 80 runs (2 failed): segregation: model-dependent, pct_happy: structural>"
    )
    assert report._repr_markdown_() == report.markdown()


def test_a_paired_report_names_its_tests_in_the_tables_and_methods():
    report = robustness(sweep(), OUTCOMES, FACTORS, paired=True)
    text = report.markdown()
    assert "| Friedman χ² / Wilcoxon W | p (Holm) |" in section(text, "Verdict per factor").splitlines()[0]
    assert "| Wilcoxon p (Holm) |" in section(text, "Against the rule baseline").splitlines()[0]
    methods = section(text, "Methods")
    for words in (
        "paired by seed",
        "Friedman's test",
        "Wilcoxon's signed-rank test",
        "paired t tests (TOST)",
    ):
        assert words in methods
    assert "Welch" not in methods
    assert "Kruskal–Wallis" not in text
    assert "Friedman / Wilcoxon p (Holm) 0.004)" in report.describe()  # 2 / 2^10, Holm over 2 strata
    unpaired = robustness(sweep(), OUTCOMES, FACTORS).markdown()
    assert "Friedman" not in unpaired
    assert "| Kruskal–Wallis H |" in unpaired
