"""The docs/ pages: complete for every metric, reranker, model and dataset; links that resolve;
no citation of a file the repository does not hold."""

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from recsys_cli.config.schema import RERANKER_PARAMS
from recsys_cli.data.catalog import CATALOG
from recsys_cli.metrics import KINDS
from recsys_cli.models.registry import model_names

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
PAGES = sorted(DOCS.glob("*.md"))
LINK = re.compile(r"\]\(([^)\s]+)\)")


def page(name: str) -> str:
    return (DOCS / name).read_text(encoding="utf-8")


def anchors(text: str) -> set[str]:
    """GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens."""
    headings = re.findall(r"^#+ (.+)$", text, flags=re.MULTILINE)
    return {re.sub(r"[^\w\- ]", "", h.strip().lower()).replace(" ", "-") for h in headings}


def test_no_tracked_file_cites_a_file_outside_the_repository():
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    missing = "REFERENCES" + ".md"  # spelled in two parts so this file does not match itself
    files = subprocess.run(
        ["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.splitlines()
    citing = [
        f for f in files if (ROOT / f).is_file() and missing in (ROOT / f).read_text("latin-1")
    ]
    assert citing == []


@pytest.mark.parametrize("source", [ROOT / "README.md", *PAGES], ids=lambda p: p.name)
def test_links_to_docs_resolve_to_a_page_and_heading(source):
    for target in LINK.findall(source.read_text(encoding="utf-8")):
        if target.startswith(("http://", "https://")):
            continue
        path, _, anchor = target.partition("#")
        linked = (source.parent / path).resolve() if path else source
        assert linked.is_file(), f"{source.name}: {target}"
        if anchor:
            assert anchor in anchors(linked.read_text(encoding="utf-8")), f"{source.name}: {target}"


def test_readme_links_every_docs_page():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert {f"docs/{p.name}" for p in PAGES} <= set(LINK.findall(readme))


def test_every_metric_reranker_and_model_is_documented():
    metrics, rerankers, models = page("metrics.md"), page("rerankers.md"), page("models.md")
    for name in (m for names in KINDS.values() for m in names):
        assert f"`{name}" in metrics, name
    for name in RERANKER_PARAMS:
        assert f"`{name}`" in rerankers, name
    for name in model_names():
        assert f"`{name}`" in models, name


def test_every_catalog_dataset_is_listed_with_its_citation():
    datasets = page("datasets.md")
    for entry in CATALOG.values():
        assert f"`{entry.name}`" in datasets and entry.citation in datasets, entry.name
