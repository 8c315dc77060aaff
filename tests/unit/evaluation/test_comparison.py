"""`compare` over per-user tables: p-values against scipy and the previous per-pair algorithm,
corrections over the table, the shared bootstrap, pairing errors."""

from __future__ import annotations

import math
import zlib

import numpy as np
import polars as pl
import pytest
import scipy.stats

from recsys_cli.errors import UserError
from recsys_cli.evaluation.bootstrap import bootstrap_intervals
from recsys_cli.evaluation.comparison import compare, pair_on_shared_users
from recsys_cli.evaluation.statistics import cohens_dz


def naive_holm(p: list[float]) -> list[float]:
    """Holm (1979) step-down, written as the textbook loop over sorted p-values."""
    m = len(p)
    order = sorted(range(m), key=lambda i: p[i])
    out = [0.0] * m
    running = 0.0
    for rank, i in enumerate(order, start=1):
        running = max(running, (m - rank + 1) * p[i])
        out[i] = min(1.0, running)
    return out


def naive_bh(p: list[float]) -> list[float]:
    """Benjamini-Hochberg (1995) as a double loop."""
    m = len(p)
    order = sorted(range(m), key=lambda i: p[i])
    out = [0.0] * m
    for rank, i in enumerate(order, start=1):
        best = min(m * p[order[j - 1]] / j for j in range(rank, m + 1))
        out[i] = min(1.0, best)
    return out


N_USERS = 120


def _frame(values: dict[tuple[str, str, int], np.ndarray], users: np.ndarray | None = None):
    parts = []
    for (model, metric, cutoff), v in values.items():
        u = np.arange(v.size) if users is None else users
        parts.append(
            pl.DataFrame(
                {
                    "user": u,
                    "model": [model] * v.size,
                    "metric": [metric] * v.size,
                    "cutoff": [cutoff] * v.size,
                    "value": v,
                }
            )
        )
    return pl.concat(parts)


@pytest.fixture
def stored() -> dict[tuple[str, str, int], np.ndarray]:
    rng = np.random.default_rng(11)
    base10 = rng.random(N_USERS)
    base20 = np.clip(base10 + rng.random(N_USERS) * 0.2, 0, 1)
    return {
        ("pop", "ndcg", 10): base10,
        ("pop", "ndcg", 20): base20,
        ("ease", "ndcg", 10): np.clip(base10 + 0.15 + rng.normal(0, 0.1, N_USERS), 0, 1),
        ("ease", "ndcg", 20): np.clip(base20 + 0.15 + rng.normal(0, 0.1, N_USERS), 0, 1),
        ("knn", "ndcg", 10): base10 + rng.normal(0, 0.05, N_USERS),
        ("knn", "ndcg", 20): base20 + rng.normal(0, 0.05, N_USERS),
    }


def test_compare_matches_scipy_on_stored_values(stored) -> None:
    frame = _frame(stored).sample(fraction=1.0, shuffle=True, seed=3)  # pairing must use `user`
    report = compare(frame, "pop", ["ndcg@10", "ndcg@20"], correction="holm", n_resamples=500)
    assert [(r.model, r.metric) for r in report.rows] == [
        ("ease", "ndcg@10"),
        ("knn", "ndcg@10"),
        ("ease", "ndcg@20"),
        ("knn", "ndcg@20"),
    ]
    for r in report.rows:
        cutoff = int(r.metric.split("@")[1])
        a, b = stored[("pop", "ndcg", cutoff)], stored[(r.model, "ndcg", cutoff)]
        assert r.n_users == N_USERS
        assert r.t_pvalue == pytest.approx(scipy.stats.ttest_rel(b, a).pvalue, rel=1e-9)
        assert r.wilcoxon_pvalue == pytest.approx(scipy.stats.wilcoxon(b, a).pvalue, rel=1e-12)
        assert r.diff == pytest.approx(b.mean() - a.mean())
        assert r.baseline_mean == pytest.approx(a.mean())
        assert r.model_mean == pytest.approx(b.mean())
        assert r.effect_size == pytest.approx(cohens_dz(a, b))
        assert r.ci_low < r.diff < r.ci_high
    # The correction runs across the whole table, separately per test.
    np.testing.assert_allclose(
        [r.t_pvalue_adjusted for r in report.rows], naive_holm([r.t_pvalue for r in report.rows])
    )
    np.testing.assert_allclose(
        [r.wilcoxon_pvalue_adjusted for r in report.rows],
        naive_holm([r.wilcoxon_pvalue for r in report.rows]),
    )
    by_model = {(r.model, r.metric): r for r in report.rows}
    assert by_model[("ease", "ndcg@10")].significant
    assert by_model[("ease", "ndcg@10")].wilcoxon_significant


@pytest.mark.parametrize("correction", ["bh", "none"])
def test_compare_other_corrections(stored, correction) -> None:
    report = compare(
        _frame(stored), "pop", ["ndcg@10", "ndcg@20"], correction=correction, n_resamples=200
    )
    raw = [r.t_pvalue for r in report.rows]
    expected = naive_bh(raw) if correction == "bh" else raw
    np.testing.assert_allclose([r.t_pvalue_adjusted for r in report.rows], expected)


def test_compare_is_reproducible_and_stable_per_comparison(stored) -> None:
    first = compare(_frame(stored), "pop", ["ndcg@10"], seed=5, n_resamples=300)
    assert compare(_frame(stored), "pop", ["ndcg@10"], seed=5, n_resamples=300) == first
    # Dropping a model leaves the other model's bootstrap interval untouched: the same resamples
    # (up to the last bit, as a product of more columns may round differently).
    without_knn = {k: v for k, v in stored.items() if k[0] != "knn"}
    alone = compare(_frame(without_knn), "pop", ["ndcg@10"], seed=5, n_resamples=300)
    assert (alone.rows[0].ci_low, alone.rows[0].ci_high) == pytest.approx(
        (first.rows[0].ci_low, first.rows[0].ci_high), rel=1e-12
    )
    other_seed = compare(_frame(stored), "pop", ["ndcg@10"], seed=6, n_resamples=300)
    assert other_seed.rows[0].ci_low != first.rows[0].ci_low


def test_compare_identical_model(stored) -> None:
    same = dict(stored)
    same[("clone", "ndcg", 10)] = stored[("pop", "ndcg", 10)].copy()
    report = compare(_frame(same), "pop", ["ndcg@10"], n_resamples=100)
    clone = next(r for r in report.rows if r.model == "clone")
    assert clone.t_pvalue == 1.0 and clone.wilcoxon_pvalue == 1.0
    assert clone.diff == 0.0 and clone.effect_size == 0.0
    assert not clone.significant


def test_compare_refuses_mismatched_users(stored) -> None:
    frame = _frame(stored).filter(~((pl.col("model") == "knn") & (pl.col("user") < 3)))
    with pytest.raises(UserError, match=r"'knn'.*3 of the baseline's 120 users missing"):
        compare(frame, "pop", ["ndcg@10"])
    extra = pl.concat(
        [
            _frame(stored),
            _frame({("ease", "ndcg", 10): np.array([0.5, 0.5])}, users=np.array([500, 501])),
        ]
    )
    with pytest.raises(UserError, match=r"'ease'.*2 extra users"):
        compare(extra, "pop", ["ndcg@10"])
    no_rows = _frame(stored).filter(~((pl.col("model") == "knn") & (pl.col("cutoff") == 20)))
    with pytest.raises(UserError, match=r"'knn'.*ndcg@20.*all 120"):
        compare(no_rows, "pop", ["ndcg@10", "ndcg@20"])


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"baseline": "nope"}, "baseline 'nope' not found"),
        ({"metrics": ["ndcg"]}, "NAME@CUTOFF"),
        ({"metrics": ["ndcg@5"]}, "no per-user values for ndcg@5; available: ndcg@10, ndcg@20"),
        ({"metrics": []}, "no metrics"),
        ({"correction": "bonferroni"}, "unknown correction"),
        ({"alpha": 1.5}, "alpha"),
    ],
)
def test_compare_user_errors(stored, kwargs, message) -> None:
    args = {"baseline": "pop", "metrics": ["ndcg@10"]} | kwargs
    with pytest.raises(UserError, match=message):
        compare(_frame(stored), **args)


def test_compare_refuses_duplicates_nan_and_lone_baseline(stored) -> None:
    frame = _frame(stored)
    dup = pl.concat([frame, frame.filter((pl.col("model") == "ease") & (pl.col("user") == 0))])
    with pytest.raises(UserError, match="'ease' has 1 users with more than one ndcg@10"):
        compare(dup, "pop", ["ndcg@10"])
    nan = frame.with_columns(
        pl.when((pl.col("model") == "knn") & (pl.col("user") == 4))
        .then(float("nan"))
        .otherwise(pl.col("value"))
        .alias("value")
    )
    with pytest.raises(UserError, match="'knn' has 1 missing or non-finite"):
        compare(nan, "pop", ["ndcg@10", "ndcg@20"])
    with pytest.raises(UserError, match="only the baseline"):
        compare(frame.filter(pl.col("model") == "pop"), "pop", ["ndcg@10"])
    with pytest.raises(UserError, match="lacks columns: cutoff"):
        compare(frame.drop("cutoff"), "pop", ["ndcg@10"])


# --- against the previous per-pair algorithm and the shared resampling --------------------------


def previous_pair(a: np.ndarray, b: np.ndarray, seed: int, model: str, label: str, n_resamples):
    """The per-pair algorithm `compare` used before: its own t formula, scipy's Wilcoxon and a
    bootstrap drawn for this pair alone from a stream keyed by the pair's names."""
    d = b - a
    n = d.size
    mean, sd = float(d.mean()), float(d.std(ddof=1))
    t = mean / (sd / math.sqrt(n))
    t_p = 2.0 * float(scipy.stats.t.sf(abs(t), n - 1))
    w = scipy.stats.wilcoxon(d, zero_method="wilcox")
    key = zlib.crc32(f"{model}\x00{label}".encode())
    rng = np.random.default_rng(np.random.SeedSequence([seed, key]))
    means = d[rng.integers(0, n, size=(n_resamples, n))].mean(axis=1)
    low, high = np.quantile(means, [0.025, 0.975])
    return t, t_p, float(w.statistic), float(w.pvalue), low, high


def test_pvalues_equal_the_previous_per_pair_algorithm(stored) -> None:
    # NDCG-like values with ties and zero differences; the rows arrive shuffled.
    rounded = {key: np.round(v, 1) for key, v in stored.items()}
    frame = _frame(rounded).sample(fraction=1.0, shuffle=True, seed=8)
    report = compare(frame, "pop", ["ndcg@10", "ndcg@20"], seed=4, n_resamples=4000)
    for r in report.rows:
        cutoff = int(r.metric.split("@")[1])
        a, b = rounded[("pop", "ndcg", cutoff)], rounded[(r.model, "ndcg", cutoff)]
        t, t_p, w, w_p, low, high = previous_pair(a, b, 4, r.model, r.metric, 4000)
        assert (r.wilcoxon_statistic, r.wilcoxon_pvalue) == (w, w_p)
        assert r.t_statistic == pytest.approx(t, rel=1e-13)
        assert r.t_pvalue == pytest.approx(t_p, rel=1e-12)
        # Other resamples than before: the same interval up to resampling noise.
        width = high - low
        assert abs(r.ci_low - low) < 0.1 * width and abs(r.ci_high - high) < 0.1 * width


def test_every_pair_over_the_same_users_shares_one_resampling(stored) -> None:
    frame = _frame(stored).sample(fraction=1.0, shuffle=True, seed=1)
    report = compare(frame, "pop", ["ndcg@10", "ndcg@20"], seed=9, n_resamples=700)
    # One index matrix drawn from the seed, users in sorted order, gathered per pair.
    idx = np.random.default_rng(9).integers(0, N_USERS, size=(700, N_USERS))
    for r in report.rows:
        cutoff = int(r.metric.split("@")[1])
        d = stored[(r.model, "ndcg", cutoff)] - stored[("pop", "ndcg", cutoff)]
        low, high = np.quantile(d[idx].mean(axis=1), [0.025, 0.975])
        assert (r.ci_low, r.ci_high) == pytest.approx((low, high), rel=1e-12)


def test_metrics_over_other_users_get_their_own_resampling() -> None:
    # ild@10 is undefined for users 0-9 of "mmr": pairing leaves them out of ild only.
    rng = np.random.default_rng(12)
    values = {
        (model, metric, 10): rng.random(60)
        for model in ("pop", "mmr")
        for metric in ("ndcg", "ild")
    }
    frame = _frame(values).filter(
        ~((pl.col("model") == "mmr") & (pl.col("metric") == "ild") & (pl.col("user") < 10))
    )
    paired, left_out = pair_on_shared_users(frame)
    assert left_out == {"ild@10": (10, {"mmr": 10})}
    both = compare(paired, "pop", ["ndcg@10", "ild@10"], seed=2, n_resamples=500)
    assert [r.n_users for r in both.rows] == [60, 50]
    for row, label in zip(both.rows, ["ndcg@10", "ild@10"], strict=True):
        alone = compare(paired, "pop", [label], seed=2, n_resamples=500).rows[0]
        assert (row.ci_low, row.ci_high) == pytest.approx((alone.ci_low, alone.ci_high), rel=1e-12)
    a, b = values[("pop", "ild", 10)][10:], values[("mmr", "ild", 10)][10:]
    low, high = bootstrap_intervals(a[None], b[None], rng=2, n_resamples=500)
    assert (both.rows[1].ci_low, both.rows[1].ci_high) == pytest.approx((low[0], high[0]))


def test_bca_intervals_equal_scipys_on_the_same_resamples(stored) -> None:
    report = compare(_frame(stored), "pop", ["ndcg@10"], seed=3, n_resamples=1500, interval="bca")
    assert report.interval == "bca"
    for r in report.rows:
        d = stored[(r.model, "ndcg", 10)] - stored[("pop", "ndcg", 10)]
        ref = scipy.stats.bootstrap(
            (d,), np.mean, n_resamples=1500, method="BCa", rng=np.random.default_rng(3)
        ).confidence_interval
        assert (r.ci_low, r.ci_high) == pytest.approx((ref.low, ref.high), rel=1e-12)
    with pytest.raises(UserError, match="unknown interval 'basic'"):
        compare(_frame(stored), "pop", ["ndcg@10"], interval="basic")  # type: ignore[arg-type]
