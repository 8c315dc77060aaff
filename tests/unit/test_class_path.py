"""`module:Class` names: what they resolve to, and the one-line reason when they do not."""

import dataclasses

import pydantic
import pytest

from recsys_cli.class_path import ClassPathError, is_class_path, load_class, params_problem
from recsys_cli.models.base import Recommender
from recsys_cli.models.ease import EASE


def test_a_class_path_names_the_class_it_points_to():
    assert load_class("recsys_cli.models.ease:EASE", Recommender) is EASE
    assert load_class("recsys_cli.models.ease:EASE.Params", object) is EASE.Params  # nested
    assert is_class_path("a.b:C") and not is_class_path("ease") and not is_class_path(3)


@pytest.fixture
def package(tmp_path, monkeypatch):
    (tmp_path / "cp_fixture_pkg.py").write_text(
        "from recsys_cli.models.ease import EASE\nclass Mine(EASE):\n    pass\nvalue = 3\n"
    )
    (tmp_path / "cp_fixture_broken.py").write_text("import cp_missing_dependency_xyz\n")
    monkeypatch.syspath_prepend(str(tmp_path))


@pytest.mark.parametrize(
    "path, message",
    [
        ("cp_fixture_pkg:Mien", "module 'cp_fixture_pkg' has no 'Mien'; did you mean 'Mine'?"),
        ("cp_fixture_pkg:Zzz", "has no 'Zzz'; its Recommender classes: EASE, Mine"),
        (
            "cp_fixture_pkg:value",
            "'cp_fixture_pkg:value' is not a Recommender subclass (it is int)",
        ),
        ("cp_fixture_pkg.sub:Mine", "cannot import 'cp_fixture_pkg.sub'"),
        ("cp_fixture_broken:X", "No module named 'cp_missing_dependency_xyz'"),
        ("cp_fixture_pkg:Mine:X", "is not a 'module:Class' path"),
        ("cp fixture:Mine", "is not a 'module:Class' path"),
    ],
)
def test_a_path_that_names_no_usable_class_says_why(package, path, message):
    with pytest.raises(ClassPathError) as caught:
        load_class(path, Recommender)
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


@dataclasses.dataclass(frozen=True)
class Plain:
    a: int = 1


@dataclasses.dataclass
class Loose:
    a: int = 1


@dataclasses.dataclass(frozen=True)
class Required:
    a: int
    b: int = 2


@pydantic.dataclasses.dataclass(frozen=True, config=pydantic.ConfigDict(extra="forbid"))
class Strict:
    a: int = pydantic.Field(default=1, ge=0)


@pydantic.dataclasses.dataclass(frozen=True)
class Ignoring:
    a: int = 1


@pytest.mark.parametrize(
    "params, defaults, problem",
    [
        (Plain, True, None),
        (Strict, True, None),
        (Required, False, None),
        (Required, True, "Holder.Params needs a default for a"),
        (Loose, True, "must be a frozen dataclass"),
        (Ignoring, True, "ignores unknown keys: give it config=ConfigDict(extra='forbid')"),
        (dict, True, "must be a dataclass (plain or pydantic)"),
    ],
)
def test_params_a_recipe_can_fill(params, defaults, problem):
    holder = type("Holder", (), {"Params": params})
    found = params_problem(holder, defaults)
    assert found == problem if problem is None else problem in found
