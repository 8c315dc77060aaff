"""The Open Bandit Dataset sample read in place from the obp wheel (skipped without obp)."""

import importlib.metadata
import shutil

import numpy as np
import pytest

from recsys_cli.errors import DataError
from recsys_cli.ope import obd

try:
    ROOT = obd.obp_folder()
except DataError:
    ROOT = None
needs_obp = pytest.mark.skipif(
    ROOT is None, reason="obp==0.4.1 (the Open Bandit Dataset) is not installed"
)


@needs_obp
def test_files_are_found_through_metadata_without_importing_obp():
    import sys

    assert "obp" not in sys.modules
    assert ROOT.name == "obp" and (ROOT / "dataset" / "obd").is_dir()


@needs_obp
@pytest.mark.parametrize(
    ("behavior", "clicks", "low", "high"),
    [("random", 38, 1 / 80, 1 / 80), ("bts", 42, 4.5e-05, 0.95424)],
)
def test_all_campaign_counts(behavior, clicks, low, high):
    logs = obd.load_obd(behavior, "all")
    assert logs.n_rounds == 10_000 and logs.n_positions == 3 and logs.n_candidates == 80
    assert logs.mask.sum() == 10_000 and (logs.mask.sum(axis=1) == 1).all()  # one slot a row
    assert logs.reward.sum() == clicks and logs.on_policy_value() == clicks / 10_000
    logged = logs.propensity[logs.mask]
    assert logged.min() == pytest.approx(low) and logged.max() == pytest.approx(high)
    np.testing.assert_array_equal(logs.item_ids, np.arange(80))
    assert logs.checksum.startswith("sha256:") and "obp 0.4.1" in logs.source


@needs_obp
def test_campaigns_have_their_own_candidates():
    assert obd.load_obd("random", "men").n_candidates == 34
    assert obd.load_obd("bts", "women").n_candidates == 46


@needs_obp
def test_zozotown_prior():
    alpha, beta = obd.zozotown_prior("all")
    assert len(alpha) == len(beta) == 80
    np.testing.assert_array_equal(alpha[:3], [47.0, 8.0, 62.0])
    np.testing.assert_array_equal(beta[:3], [12198.0, 3566.0, 15993.0])
    assert [len(obd.zozotown_prior(c)[0]) for c in ("men", "women")] == [34, 46]


@needs_obp
def test_a_modified_file_fails_its_checksum(tmp_path):
    copy = tmp_path / "obp"
    shutil.copytree(ROOT / "dataset" / "obd" / "random" / "all", copy / "dataset/obd/random/all")
    data = copy / "dataset/obd/random/all/all.csv"
    data.write_bytes(data.read_bytes().replace(b",1,0.0125,", b",0,0.0125,", 1))
    with pytest.raises(DataError, match="sha256 .* does not match obp 0.4.1's"):
        obd.load_obd("random", "all", root=copy)
    (copy / "dataset/obd/random/all/item_context.csv").unlink()
    with pytest.raises(DataError, match="missing from the installed obp package"):
        obd.verified("dataset/obd/random/all/item_context.csv", copy)


def test_without_obp_the_error_says_how_to_install_it(monkeypatch):
    def missing(name):
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(importlib.metadata, "distribution", missing)
    with pytest.raises(DataError, match="pip install --no-deps obp==0.4.1"):
        obd.obp_folder()


def test_another_obp_version_is_refused(monkeypatch):
    class Other:
        version = "0.5.0"

    monkeypatch.setattr(importlib.metadata, "distribution", lambda name: Other())
    with pytest.raises(
        DataError, match="obp 0.5.0 is installed; the checksums here are those of obp 0.4.1"
    ):
        obd.obp_folder()
