"""Find and classify what a results dir holds: runs, multi-seed runs, sweeps, tuning studies and
OPE runs, complete or not, from their small JSON files alone (no Parquet is opened), so that
listing a large results dir stays fast.

Kinds: `run` (manifest.json + recipe.toml), `multi-seed` (a run with `seeds`), `sweep`
(sweep.json, or a `.tmp-…-sweep-…` folder), `study` (study.json of `rank tune`), `ope` (a
manifest whose `kind` is "ope"). Status: `complete`; `trained` (a run without metrics.json, made
by `rank train`); `unfinished` (a study without tune.json); `running` / `killed` (a `.tmp-`
folder whose writer is alive / gone: the leftovers of kill -9); `damaged` (files missing or
unreadable: the reason is kept).
"""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from recsys_cli.errors import UserError, size_of
from recsys_cli.results.atomic import TEMP_PREFIX
from recsys_cli.results.owners import writer, writer_gone
from recsys_cli.results.readback import REQUIRED_FILES, read_json, read_manifest

KINDS = ("run", "multi-seed", "sweep", "study", "ope")
STATUSES = ("complete", "trained", "unfinished", "running", "killed", "damaged")
SWEEP_FILE, STUDY_FILE, STUDY_RESULT, OPE_FILE = (
    "sweep.json",
    "study.json",
    "tune.json",
    "estimates.json",
)
_STAMP = re.compile(r"(\d{8}T\d{6}Z)-")
_NAME = re.compile(r"^\d{8}T\d{6}Z-(.+)-[0-9a-f]{6}$")  # PendingRun's STAMP-NAME-HEX


@dataclass(frozen=True)
class Entry:
    """One thing in a results dir. `rows`: the models (or variant rows, policies, studies) it
    compares; `headline`: one number that sums it up (`metric`, `value`, `row` where it is the
    best row's); `problem`: why it is damaged, or who writes it (running / killed)."""

    path: Path
    kind: str
    status: str
    created: datetime
    recipe: str = ""
    dataset: str = ""
    rows: tuple[str, ...] = ()
    headline: dict = field(default_factory=dict)
    size: int = 0
    problem: str = ""

    @property
    def name(self) -> str:
        return self.path.name

    def to_json(self) -> dict:
        payload = asdict(self)
        payload.update(path=str(self.path), created=self.created.isoformat(), rows=list(self.rows))
        return {"name": self.name, **payload}


def _created(path: Path, manifest: dict | None = None) -> datetime:
    """The run's creation time: manifest `created`, else the UTC stamp of its name, else the
    folder's modification time."""
    text = (manifest or {}).get("created")
    if isinstance(text, str):
        try:
            return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)
        except ValueError:
            pass
    match = _STAMP.search(path.name)
    if match:
        return datetime.strptime(match.group(1), "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    return datetime.fromtimestamp(path.stat().st_mtime, UTC)


def _best(models: dict, label: str) -> dict:
    """The row with the best mean of `label` (lowest for lower-is-better metrics)."""
    from recsys_cli.metrics import lower_is_better

    sign = -1.0 if lower_is_better(label.rpartition("@")[0]) else 1.0
    scored = [
        (row, values[label]["mean"])
        for row, values in models.items()
        if isinstance(values.get(label, {}).get("mean"), int | float)
        and math.isfinite(values[label]["mean"])
    ]
    if not scored:
        return {"metric": label}
    row, value = max(scored, key=lambda item: sign * item[1])
    return {"metric": label, "value": value, "row": row}


def _run(path: Path) -> Entry:
    manifest = read_manifest(path)
    missing = [name for name in REQUIRED_FILES if not (path / name).is_file()]
    seeds = manifest.get("seeds") or []
    common = dict(
        path=path,
        kind="multi-seed" if seeds else "run",
        created=_created(path, manifest),
        recipe=manifest["recipe"],
        dataset=manifest["dataset"].get("name", ""),
        rows=tuple(manifest["lists"]),
    )
    if missing:
        return Entry(status="damaged", problem=f"missing {', '.join(missing)}", **common)
    lost = [s for s in seeds if not (path / "seeds" / f"seed-{s}" / "manifest.json").is_file()]
    if lost:
        return Entry(status="damaged", problem=f"seed(s) {lost} missing", **common)
    if not (path / "metrics.json").is_file():
        return Entry(status="trained", **common)
    metrics = read_json(path / "metrics.json")
    first = f"{metrics['metrics'][0]}@{metrics['cutoffs'][0]}"
    return Entry(status="complete", headline=_best(metrics["models"], first), **common)


# sweep.json keys that `rank runs show` and `rank report` read.
SWEEP_KEYS = ("grid", "rows", "entries", "pareto_metrics", "higher_is_better", "reference")


def _sweep(path: Path) -> Entry:
    sweep = read_json(path / SWEEP_FILE)
    missing = [key for key in SWEEP_KEYS + ("hypervolume",) if key not in sweep]
    if missing:
        raise UserError(f"{SWEEP_FILE} lacks {', '.join(missing)}")
    point = next((p for p in path.iterdir() if (p / "manifest.json").is_file()), None)
    dataset = read_json(point / "manifest.json").get("dataset", {}).get("name", "") if point else ""
    headline = {"metric": "hypervolume", "value": sweep["hypervolume"]}
    return Entry(
        path=path,
        kind="sweep",
        status="complete",
        created=_created(path),
        recipe=sweep.get("recipe", ""),
        dataset=dataset,
        rows=tuple(sweep["rows"]),
        headline=headline,
    )


def _study(path: Path) -> Entry:
    """A `rank tune` study: study.json holds the recipe table and [tune] it searches (as
    written), tune.json the result once the test runs are done."""
    study = read_json(path / STUDY_FILE)
    recipe, tune = study.get("recipe", {}), study.get("tune", {})
    result = read_json(path / STUDY_RESULT) if (path / STUDY_RESULT).is_file() else {}
    models = tune.get("model", ())
    common = dict(
        path=path,
        kind="study",
        recipe=result.get("recipe", path.name),
        dataset=recipe.get("dataset", {}).get("name", ""),
        rows=tuple(s["name"] for s in result.get("studies", ()))
        or ((models,) if isinstance(models, str) else tuple(models)),
    )
    if not (path / STUDY_RESULT).is_file():
        return Entry(status="unfinished", created=_created(path / STUDY_FILE), **common)
    objective = result["objectives"][0]["metric"]
    tested = {
        row["row"]: {objective: row["test"][objective]}
        for config in result.get("configurations", ())
        for row in config["rows"]
    }
    return Entry(
        status="complete",
        created=_created(path / STUDY_RESULT),
        headline={**_best(tested, objective), "part": "test"},
        **common,
    )


def _ope(path: Path, manifest: dict) -> Entry:
    common = dict(
        path=path,
        kind="ope",
        created=_created(path, manifest),
        recipe=manifest.get("recipe", ""),
        dataset=manifest.get("logs", {}).get("name", ""),
        rows=tuple(manifest.get("policies", ())),
    )
    if not (path / OPE_FILE).is_file():
        return Entry(status="damaged", problem=f"missing {OPE_FILE}", **common)
    estimator = (manifest.get("estimators") or [""])[0]
    estimates = {
        row["policy"]: {estimator: {"mean": row["estimate"]}}
        for row in read_json(path / OPE_FILE)
        if row.get("estimator") == estimator
    }
    return Entry(status="complete", headline=_best(estimates, estimator), **common)


def _unfinished(path: Path) -> Entry:
    owner = writer(path)
    gone = writer_gone(path)
    who = f"written by pid {owner[1]} on {owner[0]}" if owner else "no writer recorded"
    return Entry(
        path=path,
        kind="sweep" if "-sweep-" in path.name else "run",
        status="killed" if gone else "running",
        created=_created(path),
        recipe=_NAME.sub(r"\1", path.name.removeprefix(TEMP_PREFIX)).removeprefix("sweep-"),
        problem=f"{who}{' (gone)' if gone else ''}",
    )


def classify(path: Path) -> Entry | None:
    """The entry `path` is, or None when it is none of the kinds (a foreign folder). A
    damaged entry carries the reason instead of failing."""
    if path.name.startswith(TEMP_PREFIX):
        return _unfinished(path) if path.is_dir() else None
    try:
        if (path / SWEEP_FILE).is_file():
            entry = _sweep(path)
        elif (path / STUDY_FILE).is_file():
            entry = _study(path)
        elif (path / "manifest.json").is_file():
            manifest = read_json(path / "manifest.json")
            is_ope = isinstance(manifest, dict) and manifest.get("kind") == "ope"
            entry = _ope(path, manifest) if is_ope else _run(path)
        else:
            return None
    except (UserError, OSError, ValueError, KeyError, IndexError, TypeError, AttributeError) as e:
        # A damaged entry is listed with its reason; a listing never fails on one folder.
        reason = str(e) if isinstance(e, UserError) else f"{type(e).__name__}: {e}"
        kind = "sweep" if (path / SWEEP_FILE).exists() else "run"
        return Entry(
            path=path,
            kind="study" if (path / STUDY_FILE).exists() else kind,
            status="damaged",
            created=_created(path),
            problem=reason.removeprefix(f"{path}/").removeprefix(f"{path}: "),
            size=size_of(path),
        )
    return Entry(**{**entry.__dict__, "size": size_of(path)})


def refuse_unfinished(entry: Entry) -> None:
    """One line for an entry that cannot be read: still being written, left by a killed
    process, or damaged."""
    if entry.status in ("running", "killed"):
        what = "still being written" if entry.status == "running" else "left by a killed process"
        hint = "" if entry.status == "running" else "; `rank runs gc` removes it"
        raise UserError(f"{entry.path}: an unfinished {entry.kind}, {what} ({entry.problem}){hint}")
    if entry.status == "damaged":
        raise UserError(f"{entry.path}: damaged: {entry.problem}")


def scan(root: Path) -> list[Entry]:
    """Every entry directly under `root`, oldest first (hidden `.tmp-` folders included)."""
    if not root.is_dir():
        raise UserError(f"{root}: no such results dir; give --results-dir")
    entries = [classify(p) for p in root.iterdir() if p.is_dir()]
    return sorted((e for e in entries if e is not None), key=lambda e: (e.created, e.name))


def find(root: Path, name: Path) -> Entry:
    """RUN as given on the command line: a folder (absolute, or relative to the working dir
    or to the results dir), or a part of exactly one entry's name in the results dir."""
    for candidate in (name, root / name):
        if candidate.is_dir():
            entry = classify(candidate)
            if entry is None:
                raise UserError(
                    f"{candidate}: not a run directory (no manifest.json, sweep.json or study.json)"
                )
            return entry
    if len(name.parts) == 1 and root.is_dir():
        matches = [e for e in scan(root) if str(name) in e.name]
        if len(matches) == 1:
            return matches[0]
        if matches:
            names = ", ".join(e.name for e in matches[:5]) + (", …" if len(matches) > 5 else "")
            raise UserError(f"{name}: {len(matches)} entries in {root} match ({names}); name one")
    raise UserError(f"{name}: no such run directory, nor an entry of {root} (`rank runs list`)")


def parse_when(text: str, option: str, now: datetime | None = None) -> datetime:
    """'2026-11-01', '2026-11-01T12:00' (UTC unless an offset is given) or an age such as
    '30d', '12h', '2w' (before now)."""
    now = now or datetime.now(UTC)
    age = re.fullmatch(r"\s*(\d+)\s*([hdw])\s*", text)
    if age:
        hours = int(age.group(1)) * {"h": 1, "d": 24, "w": 24 * 7}[age.group(2)]
        return now - timedelta(hours=hours)
    try:
        when = datetime.fromisoformat(text.strip())
    except ValueError:
        raise UserError(
            f"{option}: cannot read {text!r} as a date (2026-11-01, 2026-11-01T12:00) or an age "
            "(30d, 12h, 2w)"
        ) from None
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


def read_summary(run_dir: Path):
    """metrics.json of an evaluated run as the summary table that `summary_table` renders:
    model, metric, cutoff, mean, stderr, users (and seed_sd for multi-seed runs), rows in the
    run's order (models as listed in the manifest, then metrics and cutoffs as evaluated)."""
    import polars as pl

    path = run_dir / "metrics.json"
    payload = read_json(path)
    rows = []
    try:
        for model in read_manifest(run_dir)["lists"]:
            values = payload["models"].get(model, {})
            for metric in payload["metrics"]:
                for cutoff in payload["cutoffs"]:
                    cell = values.get(f"{metric}@{cutoff}")
                    if cell is None:
                        continue
                    row = {"model": model, "metric": metric, "cutoff": int(cutoff)}
                    row |= {key: cell[key] for key in ("mean", "stderr", "users")}
                    rows.append(row | ({"seed_sd": cell["seed_sd"]} if "seed_sd" in cell else {}))
    except (AttributeError, KeyError, TypeError, ValueError) as error:
        raise UserError(
            f"{path}: not a metrics table ({type(error).__name__}: {error}); the run directory "
            "is damaged: run it again"
        ) from None
    schema = {"model": pl.Utf8, "metric": pl.Utf8, "cutoff": pl.Int32, "mean": pl.Float64}
    schema |= {"stderr": pl.Float64, "users": pl.Int64}
    if rows and "seed_sd" in rows[0]:
        schema["seed_sd"] = pl.Float64
    return pl.from_dicts(rows, schema=schema)
