"""`rank tune` end to end: a study directory, trials on validation, one read of the test part.

Study directory (default `<results>/tune-<recipe>`; running the command again resumes it):
  study.json        the recipe (validation split) and [tune] settings the study was made with
  optuna.journal    Optuna's journal storage (kill -9 safe, shared by concurrent processes)
  trials.parquet    one row per trial: state, parameters, validation metrics, duration
  best.toml         one objective: the tuned recipe (test split), reproduced by `rank run`
  pareto/*.toml     several objectives: one recipe per Pareto-optimal trial
  test/<run>/       the run directories of the test evaluation (compare them with `rank compare`)
  tune.json         the result: chosen trials, validation and test metrics side by side
  history.png, pareto.png, tune.log
"""

from __future__ import annotations

import contextlib
import copy
import json
import shutil
import time
import tomllib
from pathlib import Path

from recsys_cli.config.loader import recipe_from_dict, recipe_to_toml
from recsys_cli.config.schema import Recipe
from recsys_cli.errors import UserError
from recsys_cli.progress import Step, silent_step
from recsys_cli.results.atomic import write_json, write_parquet
from recsys_cli.results.owners import owner_tag, tag_gone
from recsys_cli.results.readback import read_json
from recsys_cli.results.store import PendingRun, run_log
from recsys_cli.tuning.confirm import chosen_trials, front_hypervolume, front_plot_data
from recsys_cli.tuning.space import given_values, set_values
from recsys_cli.tuning.spec import StudySpec, TuneSpec
from recsys_cli.tuning.study import (
    TRIALS,
    VALIDATION,
    Budget,
    InProcess,
    counted,
    enqueue_as_given,
    fail_abandoned,
    load_study,
    open_storage,
    quiet_optuna,
    run_trials,
    trials_frame,
)
from recsys_cli.tuning.trials import TrialRunner, row_metrics

STUDY_FILE = "study.json"
RESULT_FILE = "tune.json"


def default_study_dir(results_root: Path, recipe: Recipe) -> Path:
    return results_root / f"tune-{recipe.name}"


def _with_split(raw: dict, **settings) -> dict:
    raw = copy.deepcopy(raw)
    split = raw.setdefault("split", {})
    if not isinstance(split, dict):
        raise UserError("split: expected a table")
    split.update(settings)
    return raw


def trial_raw(validation_raw: dict, study: StudySpec, values: dict) -> dict:
    """The recipe of one trial: the values set, then only the study's row kept (its model, and
    its variant applied to that model alone), so a trial fits nothing it does not score."""
    raw = set_values(validation_raw, values)
    model = raw["models"][study.model]
    raw["models"] = [model]
    label = model.get("label", model.get("name"))
    if study.variant is None:
        raw["variants"] = []
    else:
        raw["variants"] = [{**raw["variants"][study.variant], "models": [label]}]
    return raw


# Keys that change no trial: a resumed study may differ in them.
_FREE = {"recipe": ("name", "description", "tune"), "tune": ("trials", "seconds")}


def _check_identity(study_dir: Path, raw: dict) -> None:
    """A new study records what it searches: the recipe and [tune] as written (after --set), so
    that later versions of rank, which may add keys with defaults, still resume it. An existing
    study must match it but for the budget (and the recipe's name and description), so a
    resumed study never mixes trials of two searches."""
    identity = {
        "recipe": {k: v for k, v in raw.items() if k not in _FREE["recipe"]},
        "tune": {k: v for k, v in raw.get("tune", {}).items() if k not in _FREE["tune"]},
    }
    identity = json.loads(json.dumps(identity, default=str))
    path = study_dir / STUDY_FILE
    if not path.exists():
        study_dir.mkdir(parents=True, exist_ok=True)
        write_json(path, identity)
        return
    stored = read_json(path)
    if stored == identity:
        return
    keys = [
        f"{part}.{key}" if part == "tune" else key
        for part in ("recipe", "tune")
        for key in sorted(set(identity[part]) | set(stored.get(part, {})))
        if identity[part].get(key) != stored.get(part, {}).get(key)
    ]
    raise UserError(
        f"{study_dir}: holds a study made with other values of {', '.join(keys)}; only "
        "tune.trials and tune.seconds may change when resuming: pass --study NEW_DIR or remove "
        "that folder"
    )


def tune(
    raw: dict,
    recipe: Recipe,
    spec: TuneSpec,
    study_dir: Path,
    data_dir: Path | None = None,
    step: Step = silent_step,
    client=None,
) -> dict:
    """Run (or resume) every study of `spec` on validation, then confirm on test; the result
    payload (also written to tune.json). With a Dask `client`, trials run on its workers."""
    validation_raw = _with_split(raw, evaluate_on="validation")
    base = recipe_from_dict(validation_raw)
    _check_identity(study_dir, raw)
    study_dir.mkdir(parents=True, exist_ok=True)
    with run_log(study_dir / "tune.log"), quiet_optuna():
        storage = open_storage(study_dir)
        studies = {s.name: load_study(storage, spec, s) for s in spec.studies}
        given = given_values(
            tomllib.loads(recipe_to_toml(recipe)), [p.key for s in spec.studies for p in s.space]
        )
        for s in spec.studies:
            fail_abandoned(studies[s.name])
            enqueue_as_given(studies[s.name], s, given)
        ran = _run_studies(validation_raw, base, spec, studies, study_dir, data_dir, step, client)
        write_parquet(study_dir / TRIALS, trials_frame(studies, spec), replace=True)
        result = _confirm(validation_raw, recipe, spec, studies, study_dir, data_dir, step)
    result["ran"] = ran
    from recsys_cli.tuning.plots import save_figures

    result["figures"] = save_figures(study_dir, studies, spec, result)
    write_json(study_dir / RESULT_FILE, result)
    result["study_dir"] = str(study_dir)
    return result


def _run_studies(validation_raw, base, spec, studies, study_dir, data_dir, step, client) -> dict:
    """Trials until each study's budget is spent, here or on the `client`'s Dask workers; data
    prepared once (only when a trial is due). Returns trials run per study."""
    if not any(Budget(spec.trials, None).allows(studies[s.name]) for s in spec.studies):
        return {s.name: 0 for s in spec.studies}
    probes = [
        recipe_from_dict(trial_raw(validation_raw, s, {p.key: v}))
        for s in spec.studies
        for p in s.space
        for v in p.probes()
    ]
    runner = TrialRunner.prepare(base, data_dir, step, probes, share_spectra=True)
    trials_path = study_dir / TRIALS
    scratch = scratch_dir(study_dir)
    ran = {}
    for s in spec.studies:
        study = studies[s.name]

        def make_recipe(values: dict, s=s) -> Recipe:
            return recipe_from_dict(trial_raw(validation_raw, s, values))

        def evaluate(values: dict, trial, s=s) -> dict[str, float]:
            on_epoch = None if spec.pruner == "none" else pruning(trial)
            # Evaluated in memory (the metrics live in the journal); models may write while
            # they train, in a folder of this process's.
            with PendingRun(scratch, s.name) as pending:
                evaluation = runner.evaluate(make_recipe(values), pending.path, on_epoch=on_epoch)
            shutil.rmtree(pending.final, ignore_errors=True)
            return row_metrics(evaluation, s.row)

        if client is None:
            executor = InProcess(evaluate)
        else:
            from recsys_cli.tuning.parallel import DaskTrials

            executor = DaskTrials(client, runner, make_recipe, s.row)
        deadline = None if spec.seconds is None else time.monotonic() + spec.seconds
        with step(f"tune {s.name} on validation") as progress:
            if spec.trials is not None:
                progress.total(spec.trials, "trials")
                progress.advance(counted(study))
            try:
                ran[s.name] = run_trials(
                    study,
                    spec,
                    s,
                    executor,
                    Budget(spec.trials, deadline),
                    progress,
                    after_trial=lambda: write_parquet(
                        trials_path, trials_frame(studies, spec), replace=True
                    ),
                )
            finally:
                if client is not None:
                    executor.close()
    shutil.rmtree(scratch, ignore_errors=True)
    with contextlib.suppress(OSError):  # still in use by another process
        scratch.parent.rmdir()
    return ran


def pruning(trial):
    """`on_epoch` for a trial: report each epoch's validation NDCG@10 and stop the fit (Optuna's
    TrialPruned) when the study's pruner says so."""

    def on_epoch(label: str, epoch: int, validation: float | None) -> None:
        import optuna

        if validation is None:  # no per-epoch validation (patience = 0): nothing to judge
            return
        trial.report(validation, epoch)
        if trial.should_prune():
            raise optuna.TrialPruned(
                f"{label}: epoch {epoch + 1}, validation ndcg@10 {validation:.4f}"
            )

    return on_epoch


def scratch_dir(study_dir: Path) -> Path:
    """This process's folder for the run directories of its trials (scratch: the metrics go to
    the journal), `trials/HOST-PID`; those of dead processes on this host are removed."""
    trials = study_dir / "trials"
    for folder in trials.iterdir() if trials.is_dir() else ():
        host, _, pid = folder.name.rpartition("-")
        if tag_gone(f"{host} {pid}"):
            shutil.rmtree(folder, ignore_errors=True)
    return trials / owner_tag().replace(" ", "-")


def _confirm(validation_raw, recipe, spec, studies, study_dir, data_dir, step) -> dict:
    """Choose, write the recipes, evaluate them on test (once: a rerun whose choice did not
    change reuses the stored test runs)."""
    chosen = {s.name: chosen_trials(studies[s.name], spec) for s in spec.studies}
    result = {
        "recipe": recipe.name,
        "objectives": [{"metric": o.metric, "direction": o.direction} for o in spec.objectives],
        "constraints": [str(c) for c in spec.constraints],
        "metrics": _shown(spec),
        "sampler": spec.sampler,
        "seed": spec.seed,
        "refit": spec.refit,
        "studies": [_study_summary(s, studies[s.name]) for s in spec.studies],
        "hypervolume": front_hypervolume(studies[spec.studies[0].name], spec),
        "front": front_plot_data(studies[spec.studies[0].name], spec, spec.studies[0].row),
    }
    if len(spec.objectives) == 1:
        best = {name: trials[0] for name, trials in chosen.items() if trials}
        configurations = [best] if best else []
        files = [study_dir / "best.toml"] if best else []
    else:
        [(name, trials)] = chosen.items()
        configurations = [{name: t} for t in trials]
        files = [study_dir / "pareto" / f"trial-{t.number:04d}.toml" for t in trials]
    key = [{name: t.number for name, t in c.items()} for c in configurations]
    previous = read_json(study_dir / RESULT_FILE) if (study_dir / RESULT_FILE).exists() else {}
    if previous.get("chosen") == key and all(
        (study_dir / c["test_run"]).is_dir() for c in previous.get("configurations", [])
    ):
        return {
            **result,
            "chosen": key,
            "configurations": previous["configurations"],
            "test_reused": True,
        }
    if (study_dir / "pareto").is_dir():
        shutil.rmtree(study_dir / "pareto")  # the front of an earlier, shorter study
    recipes = []
    for config, path in zip(configurations, files, strict=True):
        values = {k: v for t in config.values() for k, v in t.params.items()}
        name = recipe.name + ("-tuned" if len(files) == 1 else f"-{path.stem}")
        final = recipe_from_dict(
            _with_split(
                set_values(validation_raw, values) | {"name": name},
                evaluate_on="test",
                train_on_validation=spec.refit,
            )
        )
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(recipe_to_toml(final), encoding="utf-8")
        recipes.append(final)
    entries = []
    if recipes:
        runner = TrialRunner.prepare(recipes[0], data_dir, step)
        for config, final, path in zip(configurations, recipes, files, strict=True):
            with PendingRun(study_dir / "test", final.name) as pending:
                evaluation = runner.run(final, pending.path, step)
            entries.append(_entry(config, spec, evaluation, study_dir, path, pending.final))
    return {**result, "chosen": key, "configurations": entries, "test_reused": False}


def _study_summary(study: StudySpec, optuna_study) -> dict:
    from collections import Counter

    states = Counter(t.state.name for t in optuna_study.get_trials(deepcopy=False))
    return {
        "name": study.name,
        "row": study.row,
        "space": {p.key: p.describe() for p in study.space},
        "trials": dict(states),
    }


def _shown(spec: TuneSpec) -> list[str]:
    """The metrics a result shows: objectives, then constraint metrics."""
    return list(
        dict.fromkeys([o.metric for o in spec.objectives] + [c.metric for c in spec.constraints])
    )


def _entry(config: dict, spec: TuneSpec, evaluation, study_dir: Path, recipe_file, run_dir) -> dict:
    """One tested configuration: per row its trial, parameters, validation metrics (from the
    trial) and test metrics (mean and standard error) of the objectives and constraints."""
    shown = _shown(spec)
    test = evaluation.to_json()["models"]
    rows = []
    for row, trial in config.items():  # a study is named after its row
        validation = trial.user_attrs[VALIDATION]
        rows.append(
            {
                "row": row,
                "trial": trial.number,
                "params": trial.params,
                "validation": {m: validation[m] for m in shown},
                "test": {
                    m: {"mean": test[row][m]["mean"], "stderr": test[row][m]["stderr"]}
                    for m in shown
                },
            }
        )
    return {
        "recipe_file": str(Path(recipe_file).relative_to(study_dir)),
        "test_run": str(Path(run_dir).relative_to(study_dir)),
        "rows": rows,
    }
