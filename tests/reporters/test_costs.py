from __future__ import annotations

from dataclasses import replace

from policy_engine.reporters.costs import Change, WorkloadCost, by_team, compare

from .samples import NODE_JOB, SERVE, TRAIN


def test_by_team_never_counts_unpriced_as_zero() -> None:
    teams = by_team([WorkloadCost(TRAIN, "nlp", 8, 100.0),
                     WorkloadCost(replace(TRAIN, name="b"), "nlp", 8, None),
                     WorkloadCost(SERVE, "vision", 1, 300.0)])
    assert [(t.team, t.monthly, t.unpriced, t.workloads) for t in teams] == [
        ("vision", 300.0, 0, 1), ("nlp", 100.0, 1, 2)]


def test_compare_matches_by_identity_not_line() -> None:
    base = [WorkloadCost(TRAIN, "nlp", 8, 100.0), WorkloadCost(NODE_JOB, "ops", 0, 5.0),
            WorkloadCost(SERVE, "vision", 1, 50.0)]
    head = [WorkloadCost(replace(TRAIN, line=40), "nlp", 16, 200.0), WorkloadCost(SERVE, "vision", 1, 50.0),
            WorkloadCost(replace(SERVE, name="new"), "vision", 1, 70.0)]
    diff = compare(base, head, base_ref="main", base_sha="abc")
    assert [(w.change, w.ref.name, w.delta) for w in diff.workloads] == [
        (Change.CHANGED, "train-llm", 100.0), (Change.ADDED, "new", 70.0), (Change.REMOVED, "burn|in", -5.0)]
    assert diff.workloads[0].ref.line == 40
    assert {t.team: t.delta for t in diff.teams} == {"nlp": 100.0, "vision": 70.0, "ops": -5.0}
    assert (diff.before, diff.after, diff.delta) == (155.0, 320.0, 165.0)


def test_an_unpriced_side_makes_the_change_unknown_not_zero() -> None:
    diff = compare([WorkloadCost(TRAIN, "nlp", 8, None)], [WorkloadCost(TRAIN, "nlp", 8, 100.0),
                                                           WorkloadCost(SERVE, "vision", 1, None)],
                   base_ref="main", base_sha="abc")
    assert {(w.change, w.delta) for w in diff.workloads} == {(Change.CHANGED, None), (Change.ADDED, None)}
