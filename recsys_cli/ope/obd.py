"""The Open Bandit Dataset sample, read in place from the installed `obp==0.4.1` wheel.

ZOZOTOWN fashion e-commerce, three recommendation slots: 10,000 logged rows per logging policy
(uniform `random`, Bernoulli Thompson sampling `bts`) and campaign (`all`, `men`, `women`), each
row one impression (item, position 1-3, click, propensity, four hashed user features). Saito,
Aihara, Matsutani & Narita, "Open Bandit Dataset and Pipeline", NeurIPS 2021 Datasets track;
data license CC BY 4.0. The files are located through the package metadata; obp itself (which
imports torch and scikit-learn) is never imported, and nothing is copied.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import re
from pathlib import Path

import numpy as np
import polars as pl

from recsys_cli.errors import DataError
from recsys_cli.ope.logs import LoggedFeedback, context_keys, from_rows

OBP = "obp"
OBP_VERSION = "0.4.1"
BEHAVIORS = ("random", "bts")
CAMPAIGNS = ("all", "men", "women")
USER_FEATURES = ("user_feature_0", "user_feature_1", "user_feature_2", "user_feature_3")
PRIOR_FILE = "policy/conf/prior_bts.yaml"
# sha256 of each file of the obp 0.4.1 wheel read here, relative to the obp package folder
CHECKSUMS = {
    "dataset/obd/bts/all/all.csv": "0ad874e4dbf6902f0845dd478ad8dde5ef6903583d3ffaace78411bdad064106",
    "dataset/obd/bts/all/item_context.csv": "5d4359ba1cfa3ae88f0f1bae66bd633859fe6323817183632ee57b83539d9153",
    "dataset/obd/bts/men/item_context.csv": "3b411ed6b0471316321a6b93f4f756bb25888eac6218cd71d0b603d41d85732d",
    "dataset/obd/bts/men/men.csv": "db6d1f7ed2d591ba521533e45286d4c1fba7fe57a8ad2e80342210335f43c527",
    "dataset/obd/bts/women/item_context.csv": "a56295bad066a558eb783055afd9279f5f4e209a4776eafc22151c53f0ac89d4",
    "dataset/obd/bts/women/women.csv": "e5d1b49a39b608585a2f3014a3f54970430cd37a495c1b73fceb85cdf428a5b8",
    "dataset/obd/random/all/all.csv": "7168295b6e0a9eabcf3392320a5dd434e542b68e705d5cd9491499af589812f1",
    "dataset/obd/random/all/item_context.csv": "eba04cc23d5f130a93ff174c5392986882b94c3839433cb8143870eaa6221358",
    "dataset/obd/random/men/item_context.csv": "6d855c2b7e917d0448d71bbe62c023147495882c0fdc8c41e86fef86abf9fe09",
    "dataset/obd/random/men/men.csv": "ede6d08c6877f99cd3770f7d09e26c738e6aa6de4445ccccfb1356ba5d06b1eb",
    "dataset/obd/random/women/item_context.csv": "b1ca4905f97703d196004f2ad4552c1e90c2afad8b50688d333b0d2dc0b33147",
    "dataset/obd/random/women/women.csv": "e65f3bd3beb17664fa69cc129bf7bf852a775f8ffa630506e505fc905315bb34",
    PRIOR_FILE: "81a54fbdc184021ccc62ab97de81ec35461c032e3d7f99ccaa0a9745f732d251",
}  # fmt: skip
INSTALL_HINT = f"pip install --no-deps {OBP}=={OBP_VERSION}"


def obp_folder() -> Path:
    """The installed obp package folder, found through its distribution metadata (no import)."""
    try:
        distribution = importlib.metadata.distribution(OBP)
    except importlib.metadata.PackageNotFoundError:
        raise DataError(
            "the Open Bandit Dataset sample is read from the obp wheel, which is not installed: "
            + INSTALL_HINT
        ) from None
    if distribution.version != OBP_VERSION:
        raise DataError(
            f"obp {distribution.version} is installed; the checksums here are those of obp "
            f"{OBP_VERSION}: {INSTALL_HINT}"
        )
    return Path(str(distribution.locate_file(OBP)))


def verified(relative: str, root: Path | None = None) -> Path:
    """The path of one obp file after checking its sha256 against the wheel's."""
    path = (root or obp_folder()) / relative
    if not path.is_file():
        raise DataError(f"{path}: missing from the installed obp package ({INSTALL_HINT})")
    from recsys_cli.data.embedded import sha256_of

    actual = sha256_of(path)
    if actual != CHECKSUMS[relative]:
        raise DataError(
            f"{path}: sha256 {actual} does not match obp {OBP_VERSION}'s {CHECKSUMS[relative]}"
        )
    return path


def load_obd(
    behavior: str, campaign: str, root: Path | None = None, positions: int | None = None
) -> LoggedFeedback:
    """The logs of one logging policy and campaign: each row its own round, logging one of the
    three positions; contexts are the four user features; candidates the campaign's items.
    `positions` is the slate length asked for (default 3; fewer is an error)."""
    folder = f"dataset/obd/{behavior}/{campaign}"
    logs = verified(f"{folder}/{campaign}.csv", root)
    items = verified(f"{folder}/item_context.csv", root)
    table = pl.read_csv(
        logs, columns=["item_id", "position", "click", "propensity_score", *USER_FEATURES]
    )
    item_ids = np.sort(pl.read_csv(items, columns=["item_id"])["item_id"].to_numpy())
    frame = pl.DataFrame(
        {
            "round": pl.int_range(table.height, eager=True),
            "position": table["position"],
            "item": np.searchsorted(item_ids, table["item_id"].to_numpy()).astype(np.int32),
            "propensity": table["propensity_score"].cast(pl.Float64),
            "reward": table["click"].cast(pl.Float64),
            "context": context_keys(table, USER_FEATURES),
        }
    )
    digest = hashlib.sha256(
        (CHECKSUMS[f"{folder}/{campaign}.csv"] + CHECKSUMS[f"{folder}/item_context.csv"]).encode()
    )
    return from_rows(
        frame,
        item_ids=item_ids,
        positions=positions,
        name=f"obd-{behavior}-{campaign}",
        source=f"obp {OBP_VERSION} package ({logs.parent})",
        checksum="sha256:" + digest.hexdigest(),
        where=str(logs),
    )


def zozotown_prior(campaign: str, root: Path | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The Beta(alpha_i, beta_i) parameters of ZOZOTOWN's Bernoulli TS for `campaign`, one pair
    per item id, from obp's `prior_bts.yaml` (a campaign: alpha: [...] beta: [...] mapping; read
    here without a YAML library)."""
    path = verified(PRIOR_FILE, root)
    section: dict[str, list[float]] = {}
    current, key = None, None
    for line in path.read_text(encoding="utf-8").splitlines():
        if re.fullmatch(r"\w+:", line):
            current = line[:-1]
        elif current == campaign and re.fullmatch(r"  (alpha|beta):", line):
            key = line.strip()[:-1]
            section[key] = []
        elif current == campaign and key and (match := re.fullmatch(r"\s+- ([0-9.eE+-]+)", line)):
            section[key].append(float(match.group(1)))
    if set(section) != {"alpha", "beta"} or len(section["alpha"]) != len(section["beta"]):
        raise DataError(f"{path}: no alpha and beta lists of one length for campaign {campaign!r}")
    return np.array(section["alpha"]), np.array(section["beta"])
