"""A model and a reranker defined outside the package, in a module on sys.path: a recipe names
them by `module:Class`, they pass the model contract, and `rank run` runs them end to end; a
class path that names nothing usable is one line and exit code 2."""

import json
import re
import sys
import textwrap
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from recsys_cli.cli.main import app
from recsys_cli.config.loader import recipe_from_dict, recipe_to_toml
from recsys_cli.models.registry import model_class
from recsys_cli.testing import check_recommender

runner = CliRunner()
README = Path(__file__).resolve().parents[2] / "README.md"

USER_MODULE = '''
"""A user's own components, imported by `module:Class` names."""

from dataclasses import dataclass

import numpy as np
import pydantic

from recsys_cli.models.base import Epoch, Recommender, TrainingLog
from recsys_cli.rerank.base import Reranker


@dataclass(frozen=True)
class CoCountParams:
    alpha: float = 0.5


class CoCount(Recommender):
    """score(u, j) = sum over the user's items i of co(i, j) / pop(j)^alpha."""

    Params = CoCountParams

    def _fit(self, train):
        binary = (train > 0).astype(np.float32)
        co = (binary.T @ binary).toarray()
        np.fill_diagonal(co, 0.0)
        popularity = np.maximum(np.asarray(binary.sum(axis=0)).ravel(), 1.0)
        self.weights_ = co / popularity[None, :] ** self.params.alpha

    def _scores(self, users, history):
        return history @ self.weights_


@dataclass(frozen=True)
class EpochPopParams:
    epochs: int = 6
    patience: int = 2


class EpochPop(Recommender):
    """Popularity "trained by epochs" on a fixed validation curve: stops early, keeps a best
    epoch, writes a file in the folder fit gives it."""

    Params = EpochPopParams
    CURVE = (0.1, 0.3, 0.2, 0.1, 0.4, 0.5)

    def _fit_with(self, train, context):
        log = self.training_log_ = TrainingLog()
        context.progress.total(self.params.epochs, "epochs")
        for epoch in range(self.params.epochs):
            validation = self.CURVE[epoch]
            if log.best_epoch is None or validation > log.epochs[log.best_epoch].validation:
                log.best_epoch = epoch
            context.epoch_done(log, Epoch(1.0 / (epoch + 1), 0.0, validation))
            if epoch - log.best_epoch >= self.params.patience:
                break
        if context.work_dir is not None:
            context.work_dir.mkdir(parents=True, exist_ok=True)
            (context.work_dir / "epochs.txt").write_text(str(len(log.epochs)))
        self.popularity_ = np.asarray((train > 0).sum(axis=0), dtype=np.float32).ravel()

    def _scores(self, users, history):
        return np.broadcast_to(self.popularity_, (len(users), self.n_items_))


@pydantic.dataclasses.dataclass(frozen=True, config=pydantic.ConfigDict(extra="forbid"))
class ShiftParams:
    alpha: float = pydantic.Field(default=0.5, ge=0.0)
    shift: float = pydantic.Field(default=0.0, ge=0.0)


class Shifted(CoCount):
    """CoCount plus a constant, its params a pydantic dataclass."""

    Params = ShiftParams

    def _scores(self, users, history):
        return super()._scores(users, history) + self.params.shift


class Keep(Reranker):
    """Keeps the model's order: lists equal the model's own."""

    @dataclass(frozen=True)
    class Params:
        pass

    def apply(self, ctx, candidates, scores, history, k):
        return np.ascontiguousarray(candidates[:, :k], dtype=np.int32)


def helper():
    pass
'''

RECIPE = """
name = "user-components"
seed = 5
[dataset]
name = "plays"
path = "{path}"
columns = {{ user = "uid", item = "track", timestamp = "ts", weight = "plays" }}
[split]
kind = "temporal"
test = 0.2
[[models]]
name = "popularity"
[[models]]
name = "{module}:CoCount"
params = {{ alpha = 0.5 }}
[[models]]
name = "{module}:EpochPop"
label = "epochs"
[[variants]]
name = "kept"
models = ["CoCount"]
chain = [{{ reranker = "{module}:Keep" }}]
[eval]
cutoffs = [5, 10]
candidates = 20
"""


@pytest.fixture
def module(tmp_path, monkeypatch) -> str:
    """A module of user components on sys.path (a name no other test imports)."""
    name = f"user_components_{tmp_path.name.replace('-', '_')}"
    folder = tmp_path / "site"
    folder.mkdir()
    (folder / f"{name}.py").write_text(textwrap.dedent(USER_MODULE))
    monkeypatch.syspath_prepend(str(folder))
    return name


@pytest.fixture
def recipe(tmp_path, interactions_csv, module) -> Path:
    path = tmp_path / "user.toml"
    path.write_text(RECIPE.format(path=interactions_csv, module=module))
    return path


def test_user_models_pass_the_contract(module):
    check_recommender(model_class(f"{module}:CoCount"))
    check_recommender(model_class(f"{module}:EpochPop"), personalised=False)
    check_recommender(model_class(f"{module}:Shifted"))


@pytest.mark.parametrize(
    "params, path, message",
    [
        ({"shft": 1.0}, "models[0].params.shft", "unknown key; did you mean 'shift'?"),
        ({"shift": -1.0}, "models[0].params.shift", "greater than or equal to 0"),
        ({"shift": True}, "models[0].params.shift", "expected a number, got a boolean"),
    ],
)
def test_pydantic_params_fail_with_key_paths(module, params, path, message):
    from recsys_cli.errors import RecipeError

    assert (
        recipe_from_dict(
            {"name": "x", "models": [{"name": f"{module}:Shifted", "params": {"shift": 0.5}}]}
        )
        .models[0]
        .params.shift
        == 0.5
    )
    with pytest.raises(RecipeError) as caught:
        recipe_from_dict({"name": "x", "models": [{"name": f"{module}:Shifted", "params": params}]})
    assert caught.value.path == path and message in str(caught.value), str(caught.value)


def test_rank_run_runs_user_components_end_to_end(tmp_path, recipe, module):
    result = runner.invoke(
        app, ["run", str(recipe), "--results-dir", str(tmp_path / "r"), "--json"]
    )
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert set(payload["models"]) == {"popularity", "CoCount", "epochs", "CoCount+kept"}
    run_dir = Path(payload["run_dir"])
    manifest = json.loads((run_dir / "manifest.json").read_text())
    # the curve peaks at epoch 2 (0.3), and two epochs without a better one stop it
    assert manifest["timings"]["models"]["epochs"]["epochs_run"] == 4
    assert manifest["timings"]["models"]["epochs"]["best_epoch"] == 2
    assert (run_dir / "models" / "epochs" / "epochs.txt").read_text() == "4"
    lists = pl.read_parquet(run_dir / "recommendations.parquet")

    def ranked(model: str) -> pl.DataFrame:
        return lists.filter(pl.col("model") == model).select("user", "rank", "item")

    assert ranked("CoCount+kept").equals(ranked("CoCount"))
    assert not ranked("CoCount").equals(ranked("popularity"))
    # the users' taste clusters: co-occurrence finds them, popularity cannot
    ndcg = {m: payload["models"][m]["ndcg@10"]["mean"] for m in ("CoCount", "popularity")}
    assert ndcg["CoCount"] > ndcg["popularity"]
    # the stored recipe names the classes and loads again
    stored = (run_dir / "recipe.toml").read_text()
    assert f'name = "{module}:CoCount"' in stored


def test_a_class_path_recipe_round_trips(module):
    import tomllib

    raw = {"name": "x", "models": [{"name": f"{module}:CoCount", "params": {"alpha": 1.0}}]}
    loaded = recipe_from_dict(raw)
    assert loaded.models[0].label == "CoCount" and loaded.models[0].params.alpha == 1.0
    assert recipe_from_dict(tomllib.loads(recipe_to_toml(loaded))) == loaded


@pytest.mark.parametrize(
    "name, params, path, message",
    [
        ("{m}:CoCont", {}, "models[1].name", "has no 'CoCont'; did you mean 'CoCount'?"),
        ("no_such_package_xyz.models:M", {}, "models[1].name", "cannot import"),
        ("{m}:helper", {}, "models[1].name", "is not a Recommender subclass"),
        ("{m}:Keep", {}, "models[1].name", "is not a Recommender subclass"),
        ("{m}:", {}, "models[1].name", "is not a 'module:Class' path"),
        ("{m}:CoCount", {"alpa": 1}, "models[1].params.alpa", "unknown key; did you mean"),
        ("{m}:CoCount", {"alpha": "x"}, "models[1].params.alpha", "expected a number"),
    ],
)
def test_a_bad_class_path_is_one_line_and_exit_code_2(
    tmp_path, interactions_csv, module, name, params, path, message
):
    table = ", ".join(f"{k} = {json.dumps(v)}" for k, v in params.items())
    text = RECIPE.format(path=interactions_csv, module=module).replace(
        f'name = "{module}:CoCount"\nparams = {{ alpha = 0.5 }}',
        f'name = "{name.format(m=module)}"\nparams = {{ {table} }}',
    )
    recipe = tmp_path / "bad.toml"
    recipe.write_text(text)
    result = runner.invoke(app, ["run", str(recipe), "--results-dir", str(tmp_path / "r")])
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.output, result.output
    assert f"{path}: " in lines[0] and message in lines[0], lines[0]
    assert not (tmp_path / "r").exists()


def readme_section(title: str) -> str:
    text = README.read_text(encoding="utf-8")
    start = text.index(f"### {title}\n")
    return text[start : text.index("\n## ", start)]


@pytest.fixture
def readme_package(tmp_path, monkeypatch) -> None:
    """The README's `mypkg/models.py`, on sys.path for one test (its modules forgotten after)."""
    section = readme_section("Your own model")
    code = re.search(r"```python\n# mypkg/models.py.*?\n(.*?)```", section, re.DOTALL).group(1)
    package = tmp_path / "readme" / "mypkg"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "models.py").write_text(code)
    monkeypatch.syspath_prepend(str(package.parent))
    yield
    for name in [m for m in sys.modules if m == "mypkg" or m.startswith("mypkg.")]:
        del sys.modules[name]


def test_the_readme_model_passes_its_contract_test_and_runs(
    readme_package, tmp_path, interactions_csv
):
    section = readme_section("Your own model")
    test_code = re.search(r"```python\n(from mypkg.models import.*?)```", section, re.DOTALL)
    namespace: dict = {}
    exec(test_code.group(1), namespace)  # the README's contract test, as written
    namespace["test_cocount_keeps_the_contract"]()
    models = re.search(r"```toml\n(\[\[models\]\]\n.*?)```", section, re.DOTALL).group(1)
    readme_recipe = tmp_path / "readme.toml"
    readme_recipe.write_text(
        f'name = "readme"\n{models}[dataset]\nname = "plays"\npath = "{interactions_csv}"\n'
        'columns = { user = "uid", item = "track", timestamp = "ts", weight = "plays" }\n'
        "[eval]\ncutoffs = [5, 10]\ncandidates = 20\n"
    )
    result = runner.invoke(
        app, ["run", str(readme_recipe), "--results-dir", str(tmp_path / "r"), "--json"]
    )
    assert result.exit_code == 0, result.output
    assert "CoCount" in json.loads(result.stdout)["models"]


@pytest.mark.parametrize(
    "step, path, message",
    [
        ({"reranker": "{m}:Kep"}, "reranker", "has no 'Kep'; did you mean 'Keep'?"),
        ({"reranker": "{m}:CoCount"}, "reranker", "is not a Reranker subclass"),
        ({"reranker": "{m}:Keep", "k": 1}, "k", "unknown key"),
        ({"reranker": "no_such_package_xyz:R"}, "reranker", "cannot import"),
    ],
)
def test_a_bad_reranker_class_path_names_its_step(module, step, path, message):
    from recsys_cli.errors import RecipeError

    step = {k: v.format(m=module) if k == "reranker" else v for k, v in step.items()}
    raw = {
        "name": "x",
        "models": [{"name": "popularity"}],
        "variants": [{"name": "v", "chain": [{"reranker": "mmr"}, step]}],
    }
    with pytest.raises(RecipeError) as caught:
        recipe_from_dict(raw)
    assert caught.value.path == f"variants[0].chain[1].{path}"
    assert message in str(caught.value)
