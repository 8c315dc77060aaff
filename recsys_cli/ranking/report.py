"""The ranker's part of the run report: its timeline, training counts and feature importances."""

from __future__ import annotations

# Feature importances shown under the table (all of them are in manifest.json).
SHOWN_FEATURES = 12


def ranker_lines(section: dict) -> list[str]:
    """Lines for the manifest's `ranker` section: the three windows, who was trained on, how
    much of the test truth the pools hold, and gain importances (largest first)."""
    windows = section["timeline"]
    training, test = section["training"], section["test"]

    def span(window: dict) -> str:
        dates = f", {window['from']} .. {window['to']}" if "from" in window else ""
        return f"{window['interactions']:,} interactions{dates}"

    label = section["label"]
    lines = [
        f"{label} timeline: generators fitted on {span(windows['generators'])}; labels from "
        f"{span(windows['labels'])} ({windows['labels']['pairs_labelled']:,} pairs of "
        f"{windows['labels']['users_labelled']:,} users); refitted on "
        f"{span(windows['refit'])}; test {span(windows['test'])}",
        f"{label} training: {training['users_trained']:,} users, {training['rows']:,} pooled "
        f"rows ({training['relevant_rows']:,} relevant; "
        f"{training['users_without_gradient']:,} users left out: equal gains); pools hold "
        f"{100 * training['label_pairs_in_pool']:.1f}% of the label pairs and "
        f"{100 * test['test_pairs_in_pool']:.1f}% of the test pairs (mean pool "
        f"{test['mean_pool']:.0f})",
    ]
    shown = section["importance_gain"][:SHOWN_FEATURES]
    total = sum(entry["gain"] for entry in section["importance_gain"]) or 1.0
    lines.append(
        f"{label} feature importance (gain share): "
        + ", ".join(f"{e['feature']} {100 * e['gain'] / total:.1f}%" for e in shown)
    )
    return lines
