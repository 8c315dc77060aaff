"""The sweep analysis on hand-made points: default rows, entries, Pareto marks against a naive
dominance check, the hypervolume of two points by hand, the best feasible point, bad names."""

from __future__ import annotations

import re
from types import SimpleNamespace

import pytest

from recsys_cli.errors import UserError
from recsys_cli.evaluation.pareto import parse_constraint
from recsys_cli.evaluation.sweep_analysis import analyse, default_rows, metric_keys

AXES = [("lambda", [0.0, 0.5, 1.0])]
# (ndcg@10, ild@10) of EASE+mmr at lambda = 0, 0.5, 1 and of plain EASE (grid-independent).
MMR = [(0.30, 0.20), (0.25, 0.50), (0.20, 0.45)]
EASE = (0.31, 0.18)


def metrics(ndcg: float, ild: float | None) -> dict:
    return {
        "ndcg@10": {"mean": ndcg, "stderr": 0.01},
        "ild@10": {"mean": ild, "stderr": None if ild is None else 0.02},
    }


def points(mmr=MMR) -> list[SimpleNamespace]:
    out = []
    for i, (lam, (ndcg, ild)) in enumerate(zip(AXES[0][1], mmr, strict=True)):
        models = {"EASE+mmr": metrics(ndcg, ild)}
        rows = {"EASE+mmr": ("lambda",)}
        if i == 0:  # the first point holds the row no grid key changes
            models["EASE"], rows["EASE"] = metrics(*EASE), ()
        out.append(
            SimpleNamespace(
                index=i,
                values={"lambda": lam},
                run_name=f"run-{i}",
                metrics={"models": models},
                rows=rows,
            )
        )
    return out


def dominated(a, b) -> bool:
    """b is at least as good as a in both metrics and better in one (both higher-is-better)."""
    return all(y >= x for x, y in zip(a, b, strict=True)) and any(
        y > x for x, y in zip(a, b, strict=True)
    )


def test_metric_keys_and_default_rows() -> None:
    assert metric_keys(" ndcg@10, ild@10 ,") == ["ndcg@10", "ild@10"]
    assert metric_keys(None) == []
    assert default_rows(points()) == ["EASE+mmr"]  # the variant the grid changes


def test_entries_front_hypervolume_and_best() -> None:
    constraint = parse_constraint("ild@10>=0.4")
    analysis = analyse(points(), AXES, "ndcg@10,ild@10", "ndcg@10", True, [constraint], None)
    entries = analysis["entries"]
    assert [(e["point"], e["row"], e["run_dir"]) for e in entries] == [
        (0, "EASE+mmr", "run-0"),
        (1, "EASE+mmr", "run-1"),
        (2, "EASE+mmr", "run-2"),
    ]
    assert [e["grid"] for e in entries] == [{"lambda": v} for v in AXES[0][1]]
    for entry, own in zip(entries, MMR, strict=True):
        assert entry["metrics"] == {"ndcg@10": own[0], "ild@10": own[1]}
        assert entry["pareto"] == (not any(dominated(own, other) for other in MMR))
        assert entry["feasible"] == (own[1] >= 0.4)
    assert [e["pareto"] for e in entries] == [True, True, False]
    # Reference: the worst value of each metric (0.20, 0.20). Front (0.30, 0.20), (0.25, 0.50):
    # the box of (0.25, 0.50) is 0.05 x 0.30; (0.30, 0.20) adds nothing above ild 0.20.
    assert analysis["reference"] == {"ndcg@10": 0.20, "ild@10": 0.20}
    assert analysis["hypervolume"] == pytest.approx(0.05 * 0.30)
    assert analysis["best"] is entries[1]  # the highest ndcg with ild >= 0.4
    assert analysis["combinations"] == 3 and analysis["runs"] == 3
    assert analysis["constraints"] == ["ild@10>=0.4"]


def test_named_rows_a_given_reference_and_undefined_values() -> None:
    undefined = [(0.30, None), *MMR[1:]]
    analysis = analyse(
        points(undefined), AXES, "ndcg@10,ild@10", None, False, [], "EASE,EASE+mmr",
        {"ndcg@10": 0.0, "ild@10": 0.0},
    )  # fmt: skip
    assert [e["row"] for e in analysis["entries"]] == ["EASE", "EASE+mmr", "EASE+mmr", "EASE+mmr"]
    assert analysis["entries"][0]["grid"] == {}  # no grid key changes plain EASE
    assert analysis["reference_rule"] == "given"
    # A NaN metric is never on the front; (0.25, 0.50) and EASE's (0.31, 0.18) are.
    assert [e["pareto"] for e in analysis["entries"]] == [True, False, True, False]
    assert analysis["best"] is None and analysis["maximize"] is None


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"rows": "KNN"}, "--rows: no row 'KNN'; rows are EASE+mmr, EASE"),
        ({"objective": "recall@10"}, "metric 'recall@10' was not evaluated"),
        ({"reference": {"map@10": 0.1}}, "--reference: 'map@10' is not one of the Pareto"),
    ],
)
def test_bad_names_are_user_errors(kwargs, message) -> None:
    args = {"pareto": "ndcg@10,ild@10", "objective": None, "rows": None, "reference": None}
    args |= kwargs
    with pytest.raises(UserError, match=re.escape(message)):
        analyse(
            points(), AXES, args["pareto"], args["objective"], True, [], args["rows"],
            args["reference"],
        )  # fmt: skip
