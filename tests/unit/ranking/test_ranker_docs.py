"""docs/ranker.md names every feature, label term and LightGBM setting the loader admits."""

import dataclasses
from pathlib import Path

from recsys_cli.config.schema import (
    RANKER_FEATURES,
    RANKER_LABEL_TERMS,
    RankerConfig,
    RankerLabels,
    RankerParams,
)

PAGE = Path(__file__).resolve().parents[3] / "docs" / "ranker.md"


def test_every_ranker_name_is_documented():
    text = PAGE.read_text(encoding="utf-8")
    names = [*RANKER_FEATURES, *RANKER_LABEL_TERMS, "group:NAME"]
    for cls in (RankerConfig, RankerLabels, RankerParams):
        names += [field.name for field in dataclasses.fields(cls)]
    missing = [name for name in names if f"`{name}`" not in text and f"{name} =" not in text]
    assert missing == []
