"""The fault soak (tests/soak.py) at test size: no crash, a record per decision, every fault counted once."""

from tests.soak import SCENARIOS, check, runs, summary


def test_the_fault_soak_holds_over_both_scenarios_both_player_kinds_dedup_and_cache():
    results = runs(steps=3, seeds=range(1))
    totals = summary(results)
    assert totals["runs"] == len(SCENARIOS) * 4
    assert totals["crashed"] == 0
    assert totals["problems"] == {}
    assert all(check(r) == [] and r.faults > 0 for r in results)
    assert all(count > 0 for count in totals["faults_by_kind"].values())
    assert totals["faults"] >= 1000
