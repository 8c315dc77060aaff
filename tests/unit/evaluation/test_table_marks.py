"""Significance marks of summary tables, against scipy and a hand-written Holm correction."""

import numpy as np
import polars as pl
import pytest
from scipy import stats

from recsys_cli.evaluation.comparison import pair_on_shared_users
from recsys_cli.evaluation.marks import table_marks


def frame(values: dict[tuple[str, str, int], np.ndarray]) -> pl.DataFrame:
    """{(model, metric, cutoff): per-user values} -> a per-user table (users u0, u1, ...)."""
    parts = [
        pl.DataFrame(
            {
                "model": model,
                "user": [f"u{i}" for i in range(len(v))],
                "metric": metric,
                "cutoff": np.full(len(v), cutoff, dtype=np.int32),
                "value": v,
            }
        )
        for (model, metric, cutoff), v in values.items()
    ]
    return pl.concat(parts)


def naive_holm(p: list[float]) -> list[float]:
    order = sorted(range(len(p)), key=p.__getitem__)
    out, running = [0.0] * len(p), 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (len(p) - rank) * p[i]))
        out[i] = running
    return out


@pytest.fixture
def per_user():
    rng = np.random.default_rng(3)
    base = rng.random(200)
    return frame(
        {
            ("pop", "ndcg", 10): base,
            ("ease", "ndcg", 10): base + 0.05 + rng.normal(0, 0.05, 200),  # clearly best
            ("knn", "ndcg", 10): base + 0.045 + rng.normal(0, 0.05, 200),  # close runner-up
            ("pop", "recall", 10): base,
            ("ease", "recall", 10): base + 0.2 + rng.normal(0, 0.05, 200),  # far ahead
            ("knn", "recall", 10): base + rng.normal(0, 0.05, 200),
            ("pop", "gini", 10): np.full(200, 0.9) + rng.normal(0, 0.01, 200),
            ("ease", "gini", 10): np.full(200, 0.5) + rng.normal(0, 0.01, 200),  # lowest
            ("knn", "gini", 10): np.full(200, 0.7) + rng.normal(0, 0.01, 200),
        }
    )


def test_best_needs_every_test_against_it_to_reject_after_holm(per_user):
    labels = ["ndcg@10", "recall@10", "gini@10"]
    marks = table_marks(per_user, labels)

    def values(model, metric):
        rows = per_user.filter((pl.col("model") == model) & (pl.col("metric") == metric))
        return rows.sort("user")["value"].to_numpy()

    tests = []  # (label, best, other, p) by hand: best mean (lowest for gini) vs every other
    for label in labels:
        metric = label.split("@")[0]
        means = {m: values(m, metric).mean() for m in ("pop", "ease", "knn")}
        best = (min if metric == "gini" else max)(means, key=means.get)
        for other in means:
            if other != best:
                p = stats.ttest_rel(values(best, metric), values(other, metric)).pvalue
                tests.append((label, best, p))
    adjusted = naive_holm([p for *_, p in tests])
    rejected: dict[str, list] = {}
    for (label, best, _), p in zip(tests, adjusted, strict=True):
        rejected.setdefault(label, [best, True])[1] &= p < 0.05
    expected = {label: best for label, (best, ok) in rejected.items() if ok}
    assert marks.best == expected
    assert marks.best["recall@10"] == "ease" and marks.best["gini@10"] == "ease"
    assert "ndcg@10" not in marks.best  # the max, but not separable from the runner-up
    assert marks.n_best_tests == 6 and marks.tested == tuple(labels)


def test_baseline_marks_match_scipy_with_holm_over_the_table(per_user):
    labels = ["ndcg@10", "recall@10", "gini@10"]
    marks = table_marks(per_user, labels, baseline="pop")
    raw, keys = [], []
    for label in labels:
        metric = label.split("@")[0]
        rows = per_user.filter(pl.col("metric") == metric)
        a = rows.filter(pl.col("model") == "pop").sort("user")["value"].to_numpy()
        for model in ("ease", "knn"):
            b = rows.filter(pl.col("model") == model).sort("user")["value"].to_numpy()
            result = stats.ttest_rel(b, a)
            raw.append(result.pvalue)
            keys.append((label, model, np.sign(result.statistic)))
    adjusted = naive_holm(raw)
    expected = {
        (label, model): int(sign)
        for (label, model, sign), p in zip(keys, adjusted, strict=True)
        if p < 0.05
    }
    assert marks.versus == expected
    assert marks.versus[("gini@10", "ease")] == -1  # lower than the baseline
    assert marks.n_baseline_tests == 6


def test_no_marks_without_a_difference_or_with_one_model():
    same = np.linspace(0, 1, 30)
    marks = table_marks(frame({("a", "ndcg", 5): same, ("b", "ndcg", 5): same}), ["ndcg@5"])
    assert marks.best == {} and marks.n_best_tests == 1
    alone = table_marks(frame({("a", "ndcg", 5): same}), ["ndcg@5"], baseline="a")
    assert alone.best == {} and alone.versus == {} and alone.n_best_tests == 0


def test_catalogue_metrics_without_per_user_values_are_not_tested(per_user):
    marks = table_marks(per_user, ["ndcg@10", "coverage@10"])
    assert marks.tested == ("ndcg@10",)


def test_undefined_beyond_accuracy_values_pair_on_shared_users_only():
    rows = [("a", u, "ild", 10, 0.5) for u in ("u1", "u2", "u3", "u4")]
    rows += [("b", u, "ild", 10, 0.7) for u in ("u1", "u3")]  # u2's and u4's lists too short
    rows += [("c", u, "ild", 10, 0.7) for u in ("u1", "u3", "u4")]
    rows += [(m, u, "ndcg", 10, 0.1) for m in "abc" for u in ("u1", "u2", "u3", "u4")]
    per_user = pl.DataFrame(
        rows, schema=["model", "user", "metric", "cutoff", "value"], orient="row"
    )
    kept, left_out = pair_on_shared_users(per_user)
    assert left_out == {"ild@10": (2, {"b": 2, "c": 1})}
    assert kept.filter(pl.col("metric") == "ild")["user"].unique().sort().to_list() == ["u1", "u3"]
    assert kept.filter(pl.col("metric") == "ndcg").height == 12  # accuracy untouched
    again, none = pair_on_shared_users(kept)
    assert none == {} and again.equals(kept)
