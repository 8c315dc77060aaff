"""Paired significance tests of per-user metric values, corrections, effect sizes and reports.

Conventions shared by every function here:

* `a` is the baseline and `b` the model, aligned so that `a[i]` and `b[i]` belong to the same
  user; the paired difference is `d = b - a` (positive means the model is better on a
  higher-is-better metric).
* Inputs must be finite: NaN or infinite values raise `ValueError` here (and `UserError`, naming
  the model and metric, from `compare`).
* All differences zero (identical arrays): both tests return statistic 0 and p-value 1.0 — there
  is no evidence of a difference — instead of scipy's NaN from a 0/0 t statistic.
* Fewer than two users: the t-test p-value is NaN (no variance estimate); Wilcoxon follows scipy
  (exact distribution, p-value 1.0 for one non-zero difference).
* NaN p-values stay NaN through the corrections and do not count towards the number of tests.

Sakai (2014), "Statistical reform in information retrieval?", SIGIR Forum 48(1), argues for
paired tests over topics/users with effect sizes, confidence intervals and multiplicity
correction; this module provides exactly that set.
"""

from __future__ import annotations

import csv
import io
import math
import re
import zlib
from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from scipy import stats as _sps

from recsys_cli.errors import UserError
from recsys_cli.progress import NO_PROGRESS, Progress

if TYPE_CHECKING:
    import polars as pl
    from rich.console import Group

Correction = Literal["holm", "bh", "none"]
PrimaryTest = Literal["t", "wilcoxon"]

WILCOXON_ZERO_METHOD = "wilcox"
"""Zero differences are dropped before ranking (Wilcoxon 1945; scipy's default)."""

T_MARK = "†"
WILCOXON_MARK = "‡"

# Resample in chunks of about this many gathered values (x 8 bytes for indices and again for
# values), so 10,000 resamples of 100,000 users never hold more than ~64 MB at once.
_BOOTSTRAP_CHUNK_VALUES = 1 << 22

_CORRECTIONS: tuple[str, ...] = ("holm", "bh", "none")
_TESTS: tuple[str, ...] = ("t", "wilcoxon")
_REQUIRED_COLUMNS = ("user", "model", "metric", "cutoff", "value")
_METRIC_NAME = re.compile(r"^(?P<metric>.+)@(?P<cutoff>\d+)$")


@dataclass(frozen=True)
class PairedTestResult:
    """A test statistic and its two-sided p-value."""

    statistic: float
    p_value: float


@dataclass(frozen=True)
class ConfidenceInterval:
    """A two-sided confidence interval [low, high] at level `confidence`."""

    low: float
    high: float
    confidence: float


def _paired_differences(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Validate two aligned 1-D finite arrays and return d = b - a as float64."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.ndim != 1 or b.ndim != 1:
        raise ValueError(f"expected 1-D arrays, got shapes {a.shape} and {b.shape}")
    if a.shape != b.shape:
        raise ValueError(f"paired arrays differ in length: {a.size} and {b.size}")
    if a.size == 0:
        raise ValueError("paired arrays are empty")
    if not (np.isfinite(a).all() and np.isfinite(b).all()):
        raise ValueError("paired arrays contain NaN or infinite values")
    return b - a


def paired_t_test(a: np.ndarray, b: np.ndarray) -> PairedTestResult:
    """Two-sided paired (Student) t-test of mean(b - a) = 0.

    t = mean(d) / (sd(d) / sqrt(n)), d = b - a, sd with n - 1 degrees of freedom;
    p = 2 * (1 - F_t(|t|; n - 1)). Student (1908); Sakai (2014) for IR practice.
    All-zero differences give (0, 1.0); zero variance with a non-zero mean gives (±inf, 0.0);
    n < 2 gives (nan, nan).
    """
    d = _paired_differences(a, b)
    n = d.size
    if not d.any():
        return PairedTestResult(0.0, 1.0)
    if n < 2:
        return PairedTestResult(math.nan, math.nan)
    mean = float(d.mean())
    sd = float(d.std(ddof=1))
    if sd == 0.0:
        return PairedTestResult(math.copysign(math.inf, mean), 0.0)
    t = mean / (sd / math.sqrt(n))
    p = 2.0 * float(_sps.t.sf(abs(t), n - 1))
    return PairedTestResult(t, min(p, 1.0))


def wilcoxon_signed_rank(a: np.ndarray, b: np.ndarray) -> PairedTestResult:
    """Two-sided Wilcoxon signed-rank test of the paired differences d = b - a.

    W = min(W+, W-), W± = sum of ranks of |d_i| over d_i > 0 (resp. < 0); zero differences are
    dropped ('wilcox' zero method), p from scipy's exact or normal approximation ('auto').
    Wilcoxon (1945); Sakai (2014). All-zero differences give (0, 1.0).
    """
    d = _paired_differences(a, b)
    if not d.any():
        return PairedTestResult(0.0, 1.0)
    res = _sps.wilcoxon(d, zero_method=WILCOXON_ZERO_METHOD, alternative="two-sided")
    return PairedTestResult(float(res.statistic), float(res.pvalue))


def _as_generator(rng: np.random.Generator | int) -> np.random.Generator:
    if isinstance(rng, np.random.Generator):
        return rng
    return np.random.default_rng(rng)


def paired_bootstrap_ci(
    a: np.ndarray,
    b: np.ndarray,
    *,
    rng: np.random.Generator | int = 0,
    n_resamples: int = 10_000,
    confidence: float = 0.95,
) -> ConfidenceInterval:
    """Percentile bootstrap confidence interval of the mean paired difference mean(b - a).

    Users are resampled with replacement n_resamples times; the interval is the
    [(1 - c)/2, (1 + c)/2] quantiles of the resampled means of d = b - a.
    Efron & Tibshirani (1993), ch. 13; Sakai (2014) for IR use.
    """
    d = _paired_differences(a, b)
    if n_resamples < 1:
        raise ValueError(f"n_resamples must be positive, got {n_resamples}")
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must lie in (0, 1), got {confidence}")
    gen = _as_generator(rng)
    n = d.size
    means = np.empty(n_resamples, dtype=np.float64)
    chunk = max(1, _BOOTSTRAP_CHUNK_VALUES // n)
    for start in range(0, n_resamples, chunk):
        stop = min(start + chunk, n_resamples)
        idx = gen.integers(0, n, size=(stop - start, n))
        np.mean(d[idx], axis=1, out=means[start:stop])
    tail = (1.0 - confidence) / 2.0
    low, high = np.quantile(means, [tail, 1.0 - tail])
    return ConfidenceInterval(float(low), float(high), confidence)


def cohens_dz(a: np.ndarray, b: np.ndarray) -> float:
    """Cohen's d for paired samples: d_z = mean(d) / sd(d), d = b - a, sd with n - 1 dof.

    Cohen (1988), eq. 2.3.5; Lakens (2013). All-zero differences give 0.0, zero variance with a
    non-zero mean gives ±inf, n < 2 gives nan.
    """
    d = _paired_differences(a, b)
    if not d.any():
        return 0.0
    if d.size < 2:
        return math.nan
    sd = float(d.std(ddof=1))
    mean = float(d.mean())
    if sd == 0.0:
        return math.copysign(math.inf, mean)
    return mean / sd


def relative_improvement(a: np.ndarray, b: np.ndarray) -> float:
    """Relative improvement of the means: (mean(b) - mean(a)) / mean(a); nan when mean(a) = 0."""
    d = _paired_differences(a, b)
    base = float(np.mean(a, dtype=np.float64))
    if base == 0.0:
        return math.nan
    return float(d.mean()) / base


def _validated_pvalues(p_values: Sequence[float] | np.ndarray) -> np.ndarray:
    p = np.asarray(p_values, dtype=np.float64)
    if p.ndim != 1:
        raise ValueError(f"expected a 1-D array of p-values, got shape {p.shape}")
    ok = ~np.isnan(p)
    if ((p[ok] < 0.0) | (p[ok] > 1.0)).any():
        raise ValueError("p-values must lie in [0, 1]")
    return p


def holm_adjust(p_values: Sequence[float] | np.ndarray) -> np.ndarray:
    """Holm-Bonferroni step-down adjusted p-values, in the input order.

    With p_(1) <= ... <= p_(m): p~_(i) = min(1, max_{j <= i} (m - j + 1) p_(j)).
    Holm (1979). NaN entries stay NaN and are not counted in m.
    """
    p = _validated_pvalues(p_values)
    out = np.full_like(p, np.nan)
    ok = np.flatnonzero(~np.isnan(p))
    m = ok.size
    if m == 0:
        return out
    order = ok[np.argsort(p[ok], kind="stable")]
    scaled = (m - np.arange(m)) * p[order]
    out[order] = np.minimum(np.maximum.accumulate(scaled), 1.0)
    return out


def bh_adjust(p_values: Sequence[float] | np.ndarray) -> np.ndarray:
    """Benjamini-Hochberg step-up adjusted p-values (false discovery rate), in the input order.

    With p_(1) <= ... <= p_(m): p~_(i) = min(1, min_{j >= i} m p_(j) / j).
    Benjamini & Hochberg (1995). NaN entries stay NaN and are not counted in m.
    """
    p = _validated_pvalues(p_values)
    out = np.full_like(p, np.nan)
    ok = np.flatnonzero(~np.isnan(p))
    m = ok.size
    if m == 0:
        return out
    order = ok[np.argsort(p[ok], kind="stable")]
    # p * (m / j) rather than m * p / j: for j = m it is exactly p, so rounding never adjusts down.
    scaled = p[order] * (m / np.arange(1, m + 1))
    out[order] = np.minimum(np.minimum.accumulate(scaled[::-1])[::-1], 1.0)
    return out


def adjust_pvalues(p_values: Sequence[float] | np.ndarray, method: Correction) -> np.ndarray:
    """Adjusted p-values for multiple comparisons: 'holm' (Holm 1979), 'bh' (B&H 1995), 'none'."""
    if method == "holm":
        return holm_adjust(p_values)
    if method == "bh":
        return bh_adjust(p_values)
    if method == "none":
        return _validated_pvalues(p_values).copy()
    raise ValueError(f"unknown correction {method!r}; expected one of {', '.join(_CORRECTIONS)}")


@dataclass(frozen=True)
class ComparisonRow:
    """One model-versus-baseline comparison on one metric; `diff` is model mean - baseline mean."""

    model: str
    metric: str
    n_users: int
    baseline_mean: float
    model_mean: float
    diff: float
    relative_diff: float
    ci_low: float
    ci_high: float
    t_statistic: float
    t_pvalue: float
    t_pvalue_adjusted: float
    wilcoxon_statistic: float
    wilcoxon_pvalue: float
    wilcoxon_pvalue_adjusted: float
    effect_size: float
    t_significant: bool
    wilcoxon_significant: bool
    significant: bool


def _json_number(x: Any) -> Any:
    if isinstance(x, float) and not math.isfinite(x):
        return None
    return x


def _row_values(row: ComparisonRow) -> tuple[Any, ...]:
    return tuple(getattr(row, f.name) for f in fields(ComparisonRow))


def _fmt(x: float, digits: int = 4) -> str:
    return "nan" if math.isnan(x) else f"{x:.{digits}f}"


def _fmt_p(p: float) -> str:
    if math.isnan(p):
        return "nan"
    return "<0.0001" if p < 1e-4 else f"{p:.4f}"


def _fmt_pct(x: float) -> str:
    return "nan" if math.isnan(x) else f"{100.0 * x:+.2f}%"


def _fmt_signed(x: float) -> str:
    return "nan" if math.isnan(x) else f"{x:+.4f}"


_LATEX_SPECIALS = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
}


def _latex_escape(text: str) -> str:
    return "".join(_LATEX_SPECIALS.get(ch, ch) for ch in text)


def _markdown_escape(text: str) -> str:
    return text.replace("|", r"\|")


@dataclass(frozen=True)
class ComparisonReport:
    """Paired comparisons of every model against one baseline, with corrected p-values."""

    baseline: str
    metrics: tuple[str, ...]
    rows: tuple[ComparisonRow, ...]
    correction: Correction
    alpha: float
    test: PrimaryTest
    confidence: float
    n_resamples: int
    seed: int
    zero_method: str = WILCOXON_ZERO_METHOD

    _DISPLAY_HEADER = (
        "model",
        "metric",
        "baseline",
        "value",
        "diff",
        "rel. diff",
        "CI",
        "p (t)",
        "p adj (t)",
        "p (W)",
        "p adj (W)",
        "d_z",
    )

    def _marks(self, row: ComparisonRow) -> str:
        return (T_MARK if row.t_significant else "") + (
            WILCOXON_MARK if row.wilcoxon_significant else ""
        )

    def legend(self) -> str:
        """One-line explanation of the marks and the correction used."""
        correction = {"holm": "Holm", "bh": "Benjamini-Hochberg", "none": "no"}[self.correction]
        return (
            f"{T_MARK}: paired t-test, {WILCOXON_MARK}: Wilcoxon signed-rank "
            f"(zeros dropped), {correction}-adjusted p < {self.alpha:g} vs {self.baseline}; "
            f"CI: {self.confidence:.0%} paired bootstrap of the difference "
            f"({self.n_resamples} resamples, seed {self.seed}); d_z: Cohen's paired effect size."
        )

    def _display_rows(self) -> list[list[str]]:
        out = []
        for r in self.rows:
            out.append(
                [
                    r.model,
                    r.metric,
                    _fmt(r.baseline_mean),
                    _fmt(r.model_mean) + self._marks(r),
                    _fmt_signed(r.diff),
                    _fmt_pct(r.relative_diff),
                    f"[{_fmt_signed(r.ci_low)}, {_fmt_signed(r.ci_high)}]",
                    _fmt_p(r.t_pvalue),
                    _fmt_p(r.t_pvalue_adjusted),
                    _fmt_p(r.wilcoxon_pvalue),
                    _fmt_p(r.wilcoxon_pvalue_adjusted),
                    _fmt(r.effect_size, 3),
                ]
            )
        return out

    def to_rich(self, width: int) -> Group:
        """Tables that fit `width` columns (model and metric repeated in each block; no value is
        cut), with significant rows in bold, then the legend."""
        from rich.console import Group
        from rich.text import Text

        from recsys_cli.results.report import fit_tables

        rows = [
            ([Text(cell) for cell in cells], "bold" if r.significant else None)
            for cells, r in zip(self._display_rows(), self.rows, strict=True)
        ]
        tables = fit_tables(
            self._DISPLAY_HEADER,
            rows,
            width,
            fixed=2,
            title=f"Paired comparison against {self.baseline}",
        )
        return Group(*tables, Text(self.legend(), style="dim"))

    def to_markdown(self) -> str:
        """A GitHub-flavoured Markdown table followed by the legend."""
        header = self._DISPLAY_HEADER
        lines = [
            "| " + " | ".join(header) + " |",
            "|" + "|".join([" --- "] * 2 + [" ---: "] * (len(header) - 2)) + "|",
        ]
        for cells in self._display_rows():
            lines.append("| " + " | ".join(_markdown_escape(c) for c in cells) + " |")
        lines.append("")
        lines.append(self.legend())
        return "\n".join(lines) + "\n"

    def to_latex(self) -> str:
        """A booktabs LaTeX tabular; $^\\dagger$ / $^\\ddagger$ mark adjusted p < alpha."""
        marks = {T_MARK: r"$^{\dagger}$", WILCOXON_MARK: r"$^{\ddagger}$"}
        header = (
            "Model",
            "Metric",
            "Baseline",
            "Value",
            r"$\Delta$",
            r"$\Delta$\%",
            f"{self.confidence:.0%} CI".replace("%", r"\%"),
            r"$p_t$",
            r"$\tilde p_t$",
            r"$p_W$",
            r"$\tilde p_W$",
            r"$d_z$",
        )
        lines = [
            r"\begin{tabular}{ll" + "r" * (len(header) - 2) + "}",
            r"\toprule",
            " & ".join(header) + r" \\",
            r"\midrule",
        ]
        for cells, r in zip(self._display_rows(), self.rows, strict=True):
            cells = [_latex_escape(c) for c in cells]
            cells[3] = _fmt(r.model_mean) + "".join(marks[m] for m in self._marks(r))
            cells = [c.replace("<", r"$<$") for c in cells]
            lines.append(" & ".join(cells) + r" \\")
        lines += [r"\bottomrule", r"\end{tabular}"]
        legend = (
            self.legend().replace(T_MARK, r"$^{\dagger}$").replace(WILCOXON_MARK, r"$^{\ddagger}$")
        )
        lines.append("% " + legend)
        return "\n".join(lines) + "\n"

    def to_csv(self) -> str:
        """All row fields at full precision, one line per comparison (NaN written as 'nan')."""
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        names = [f.name for f in fields(ComparisonRow)]
        writer.writerow(names)
        for r in self.rows:
            writer.writerow([repr(v) if isinstance(v, float) else v for v in _row_values(r)])
        return buf.getvalue()

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able dict: settings plus one dict per row; NaN and ±inf become None."""
        return {
            "baseline": self.baseline,
            "metrics": list(self.metrics),
            "correction": self.correction,
            "alpha": self.alpha,
            "test": self.test,
            "confidence": self.confidence,
            "n_resamples": self.n_resamples,
            "seed": self.seed,
            "zero_method": self.zero_method,
            "rows": [{k: _json_number(v) for k, v in asdict(r).items()} for r in self.rows],
        }


def _parse_metric(name: str) -> tuple[str, int]:
    match = _METRIC_NAME.match(name)
    if match is None:
        raise UserError(f"metric {name!r} must look like NAME@CUTOFF, e.g. ndcg@10")
    return match["metric"], int(match["cutoff"])


def _comparison_seed(seed: int, model: str, metric: str) -> np.random.SeedSequence:
    # A per-comparison stream keyed by names, so adding a model leaves other intervals unchanged.
    key = zlib.crc32(f"{model}\x00{metric}".encode())
    return np.random.SeedSequence([seed, key])


def _paired_table(
    per_user: pl.DataFrame, baseline: str, metric: str, cutoff: int, label: str
) -> pl.DataFrame:
    """Users x models table of one metric, refusing models whose users differ from the baseline."""
    import polars as pl

    rows = per_user.filter((pl.col("metric") == metric) & (pl.col("cutoff") == cutoff))
    if rows.is_empty():
        available = (
            per_user.select(pl.format("{}@{}", pl.col("metric"), pl.col("cutoff")).alias("name"))
            .unique()
            .sort("name")["name"]
            .to_list()
        )
        raise UserError(f"no per-user values for {label}; available: {', '.join(available)}")
    dup = rows.group_by("user", "model").len().filter(pl.col("len") > 1)
    if not dup.is_empty():
        model = dup["model"][0]
        raise UserError(
            f"model {model!r} has {dup.filter(pl.col('model') == model).height} users with "
            f"more than one {label} value; expected one row per user/model/metric/cutoff"
        )
    bad = rows.filter(~pl.col("value").is_finite() | pl.col("value").is_null())
    if not bad.is_empty():
        model = bad["model"][0]
        raise UserError(
            f"model {model!r} has {bad.filter(pl.col('model') == model).height} missing or "
            f"non-finite {label} values"
        )
    wide = rows.pivot(on="model", index="user", values="value", aggregate_function=None)
    if baseline not in wide.columns:
        raise UserError(f"baseline {baseline!r} has no {label} values")
    n_base = wide[baseline].is_not_null().sum()
    for model in wide.columns:
        if model in ("user", baseline):
            continue
        missing = wide.filter(pl.col(baseline).is_not_null() & pl.col(model).is_null()).height
        extra = wide.filter(pl.col(baseline).is_null() & pl.col(model).is_not_null()).height
        if missing or extra:
            raise UserError(
                f"model {model!r} cannot be paired with baseline {baseline!r} on {label}: "
                f"{missing} of the baseline's {n_base} users missing, {extra} extra users"
            )
    return wide


def compare(
    per_user: pl.DataFrame,
    baseline: str,
    metrics: list[str],
    correction: Correction = "holm",
    alpha: float = 0.05,
    seed: int = 0,
    *,
    test: PrimaryTest = "t",
    n_resamples: int = 10_000,
    confidence: float = 0.95,
    progress: Progress = NO_PROGRESS,
) -> ComparisonReport:
    """Paired tests of every model against `baseline` on each metric, corrected across the table.

    Per model and metric: paired t-test, Wilcoxon signed-rank, percentile bootstrap CI of
    mean(model - baseline), Cohen's d_z and the relative improvement of means; p-values of each
    test are adjusted together over all models x metrics (Holm 1979 / Benjamini & Hochberg 1995).
    `significant` uses the adjusted p-value of `test`. Sakai (2014). Each (model, metric) pair
    done is counted on `progress`.
    """
    import polars as pl

    if correction not in _CORRECTIONS:
        raise UserError(
            f"unknown correction {correction!r}; expected one of {', '.join(_CORRECTIONS)}"
        )
    if test not in _TESTS:
        raise UserError(f"unknown test {test!r}; expected one of {', '.join(_TESTS)}")
    if not 0.0 < alpha < 1.0:
        raise UserError(f"alpha must lie in (0, 1), got {alpha}")
    if not metrics:
        raise UserError("no metrics to compare; name at least one, e.g. ndcg@10")
    missing_cols = [c for c in _REQUIRED_COLUMNS if c not in per_user.columns]
    if missing_cols:
        raise UserError(f"per-user table lacks columns: {', '.join(missing_cols)}")
    models = per_user["model"].unique(maintain_order=True).to_list()
    if baseline not in models:
        raise UserError(f"baseline {baseline!r} not found; models: {', '.join(map(str, models))}")
    others = [m for m in models if m != baseline]
    if not others:
        raise UserError(f"nothing to compare: only the baseline {baseline!r} is present")

    per_user = per_user.with_columns(pl.col("value").cast(pl.Float64))
    raw: list[dict[str, Any]] = []
    progress.total(len(dict.fromkeys(metrics)) * len(others), "comparisons")
    for label in dict.fromkeys(metrics):
        name, cutoff = _parse_metric(label)
        wide = _paired_table(per_user, baseline, name, cutoff, label)
        a = wide[baseline].to_numpy().astype(np.float64, copy=False)
        for model in others:
            if model not in wide.columns:
                raise UserError(
                    f"model {model!r} cannot be paired with baseline {baseline!r} on {label}: "
                    f"all {a.size} of the baseline's users missing"
                )
            b = wide[model].to_numpy().astype(np.float64, copy=False)
            t = paired_t_test(a, b)
            w = wilcoxon_signed_rank(a, b)
            rng = np.random.default_rng(_comparison_seed(seed, model, label))
            ci = paired_bootstrap_ci(a, b, rng=rng, n_resamples=n_resamples, confidence=confidence)
            base_mean = float(a.mean())
            model_mean = float(b.mean())
            raw.append(
                {
                    "model": model,
                    "metric": label,
                    "n_users": int(a.size),
                    "baseline_mean": base_mean,
                    "model_mean": model_mean,
                    "diff": float((b - a).mean()),
                    "relative_diff": relative_improvement(a, b),
                    "ci_low": ci.low,
                    "ci_high": ci.high,
                    "t_statistic": t.statistic,
                    "t_pvalue": t.p_value,
                    "wilcoxon_statistic": w.statistic,
                    "wilcoxon_pvalue": w.p_value,
                    "effect_size": cohens_dz(a, b),
                }
            )
            progress.advance()

    t_adj = adjust_pvalues([r["t_pvalue"] for r in raw], correction)
    w_adj = adjust_pvalues([r["wilcoxon_pvalue"] for r in raw], correction)
    rows = []
    for r, tp, wp in zip(raw, t_adj, w_adj, strict=True):
        # NaN < alpha is False, so an undefined test is never significant.
        t_sig = bool(tp < alpha)
        w_sig = bool(wp < alpha)
        rows.append(
            ComparisonRow(
                **r,
                t_pvalue_adjusted=float(tp),
                wilcoxon_pvalue_adjusted=float(wp),
                t_significant=t_sig,
                wilcoxon_significant=w_sig,
                significant=t_sig if test == "t" else w_sig,
            )
        )
    return ComparisonReport(
        baseline=baseline,
        metrics=tuple(dict.fromkeys(metrics)),
        rows=tuple(rows),
        correction=correction,
        alpha=alpha,
        test=test,
        confidence=confidence,
        n_resamples=n_resamples,
        seed=seed,
    )


def pair_on_shared_users(
    per_user: pl.DataFrame,
) -> tuple[pl.DataFrame, dict[str, tuple[int, dict[str, int]]]]:
    """Keep, for each beyond-accuracy metric@k, only the users every model has a value for.

    A beyond-accuracy value can be undefined for a user in one model and not in another (stored
    as an absent row, e.g. ILD of a list shorter than 2), and a paired test needs the same users
    in every model. Accuracy metrics stay strict: a mismatch there means different test sets,
    which `compare` refuses. Returns the kept rows and, per metric@k that lost users, their
    number and how many of them each model lacks ({"ild@10": (3, {"EASE+mmr": 3})}).
    """
    import polars as pl

    from recsys_cli.metrics import metric_kind

    n_models = per_user["model"].n_unique()
    names = per_user["metric"].unique().to_list()
    beyond = [name for name in names if metric_kind(name) != "accuracy"]
    keys = ["metric", "cutoff", "user"]
    # Only a metric@k with fewer rows than models x users can have a user some model lacks.
    rows = per_user.filter(pl.col("metric").is_in(beyond))
    short = (
        rows.group_by("metric", "cutoff")
        .agg((pl.len() < n_models * pl.col("user").n_unique()).alias("_short"))
        .filter("_short")
        .drop("_short")
    )
    counts = (
        rows.join(short, on=["metric", "cutoff"], how="semi")
        .group_by(keys)
        .agg(pl.len().alias("_n"))
    )
    partial = counts.filter(pl.col("_n") < n_models).select(keys)
    if partial.is_empty():
        return per_user, {}
    lost = partial.group_by("metric", "cutoff").agg(pl.len().alias("_lost"))
    present = (
        per_user.join(partial, on=keys, how="semi")
        .group_by("metric", "cutoff", "model")
        .agg(pl.len().alias("_present"))
    )
    models = per_user.select("model").unique(maintain_order=True)
    lacking = (
        lost.join(models, how="cross")
        .join(present, on=["metric", "cutoff", "model"], how="left")
        .with_columns((pl.col("_lost") - pl.col("_present").fill_null(0)).alias("_lacking"))
        .filter(pl.col("_lacking") > 0)
        .sort("metric", "cutoff", maintain_order=True)
    )
    left_out: dict[str, tuple[int, dict[str, int]]] = {}
    for metric, cutoff, model, lost_users, n in lacking.select(
        "metric", "cutoff", "model", "_lost", "_lacking"
    ).iter_rows():
        left_out.setdefault(f"{metric}@{cutoff}", (lost_users, {}))[1][model] = n
    return per_user.join(partial, on=keys, how="anti"), left_out


@dataclass(frozen=True)
class TableMarks:
    """Significance marks of a summary table (see `table_marks`).

    `best`: metric@k -> the model better than every other one; `versus`: (metric@k, model) ->
    +1 / -1 for a mean significantly higher / lower than the baseline's; `tested`: the metric@k
    labels that had per-user values (catalogue-level metrics have none); `n_best_tests` and
    `n_baseline_tests`: the sizes of the two Holm families.
    """

    best: dict[str, str]
    versus: dict[tuple[str, str], int]
    tested: tuple[str, ...]
    n_best_tests: int
    n_baseline_tests: int
    baseline: str | None
    alpha: float


def table_marks(
    per_user: pl.DataFrame,
    metrics: Sequence[str],
    *,
    baseline: str | None = None,
    alpha: float = 0.05,
) -> TableMarks:
    """Which model is significantly best on each metric@k, and which differ from a baseline.

    Best: the model with the best mean (highest, or lowest for a lower-is-better metric) is
    compared with every other model by a paired t-test; it is marked only when all its tests
    reject at `alpha` after Holm's correction over every best-versus-other test of the table.
    Baseline: every model against `baseline` by a paired t-test, Holm-corrected over all model x
    metric tests (the same family as `compare`). Users must already be paired
    (`pair_on_shared_users`). Holm (1979); Sakai (2014).
    """
    from recsys_cli.metrics import lower_is_better

    best_tests: list[tuple[str, str, float]] = []
    baseline_tests: list[tuple[str, str, float, float]] = []
    tested = []
    parts = per_user.partition_by("metric", "cutoff", as_dict=True, maintain_order=True)
    for label in dict.fromkeys(metrics):
        name, cutoff = _parse_metric(label)
        part = parts.get((name, cutoff))
        if part is None:
            continue
        models = part["model"].unique(maintain_order=True).to_list()
        tested.append(label)
        reference = baseline if baseline in models else models[0]
        wide = _paired_table(part, reference, name, cutoff, label)
        values = {m: wide[m].to_numpy().astype(np.float64, copy=False) for m in models}
        sign = -1.0 if lower_is_better(name) else 1.0
        best = max(models, key=lambda m: sign * float(values[m].mean()))
        for model in models:
            if model != best:
                p = paired_t_test(values[model], values[best]).p_value
                best_tests.append((label, best, p))
        if baseline in models:
            for model in models:
                if model != baseline:
                    t = paired_t_test(values[baseline], values[model])
                    baseline_tests.append((label, model, t.statistic, t.p_value))
    best_adjusted = holm_adjust([p for _, _, p in best_tests])
    rejected: dict[str, bool] = {}
    for (label, _, _), p in zip(best_tests, best_adjusted, strict=True):
        # NaN < alpha is False: an undefined test never makes a model the best.
        rejected[label] = rejected.get(label, True) and bool(p < alpha)
    winners = {label: model for label, model, _ in best_tests}
    baseline_adjusted = holm_adjust([p for *_, p in baseline_tests])
    versus = {
        (label, model): int(math.copysign(1, t))
        for (label, model, t, _), p in zip(baseline_tests, baseline_adjusted, strict=True)
        if p < alpha and t != 0
    }
    return TableMarks(
        best={label: winners[label] for label, ok in rejected.items() if ok},
        versus=versus,
        tested=tuple(tested),
        n_best_tests=len(best_tests),
        n_baseline_tests=len(baseline_tests),
        baseline=baseline,
        alpha=alpha,
    )
