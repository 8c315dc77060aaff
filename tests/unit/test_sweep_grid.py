"""Sweep grids: each distinct row (its variant's resolved settings and the groups it or a metric
names) is run once, at the first combination that has it."""

import itertools

from recsys_cli.experiment import grid_points, row_dependencies

LAMBDA = "variants[0].chain[0].lambda"
P = "variants[1].chain[0].p"
EMERGING = "groups.emerging.popularity_below"
TAIL = "groups.tail.popularity_below"


def recipe(metrics=("ndcg", "ild")) -> dict:
    return {
        "name": "toy",
        "dataset": {"name": "toy", "path": "plays.csv"},
        "models": [{"name": "popularity"}, {"name": "ease"}],
        "groups": {
            "tail": {"popularity_below": 0.5},
            "emerging": {"popularity_below": 0.5, "by": "artist"},
        },
        "variants": [
            {
                "name": "mmr",
                "models": ["ease"],
                "chain": [{"reranker": "mmr", "lambda": 0.5, "similarity": "genres"}],
            },
            {"name": "fair", "chain": [{"reranker": "fair_exposure", "group": "tail", "p": 0.9}]},
            {
                "name": "radio",
                "models": ["ease"],
                "chain": [
                    {"reranker": "blend", "weights": {"relevance": 1.0, "group:emerging": 0.5}}
                ],
            },
        ],
        "eval": {"cutoffs": [10], "metrics": list(metrics)},
    }


ALL_ROWS = ["popularity", "ease", "ease+mmr", "ease+fair", "popularity+fair", "ease+radio"]


def test_a_product_of_independent_variants_runs_each_distinct_row_once():
    grid = [(LAMBDA, [0.0, 0.5, 1.0]), (P, [0.5, 0.9])]
    points = grid_points(recipe(), grid)
    # naive reference: every combination's rows, deduplicated by their dependencies
    first_seen = {}
    for combination in itertools.product(*(values for _, values in grid)):
        values = dict(zip([key for key, _ in grid], combination, strict=True))
        for row in ALL_ROWS:
            changed = {LAMBDA: values[LAMBDA]} if row == "ease+mmr" else {}
            if row.endswith("+fair"):
                changed = {P: values[P]}
            first_seen.setdefault((row, tuple(changed.items())), values)
    ran = [(row, tuple((k, p.values[k]) for k in p.rows[row])) for p in points for row in p.rows]
    assert sorted(ran) == sorted(first_seen)  # each distinct row once: 1+1+3+2+2+1 = 10
    assert len(ran) == 10 and len(points) == 4  # 6 combinations x 6 rows = 36 without dedup
    assert [p.values for p in points] == [
        {LAMBDA: 0.0, P: 0.5},
        {LAMBDA: 0.0, P: 0.9},
        {LAMBDA: 0.5, P: 0.5},
        {LAMBDA: 1.0, P: 0.5},
    ]
    assert sorted(points[0].rows) == sorted(ALL_ROWS)
    assert points[1].rows == {"ease+fair": (P,), "popularity+fair": (P,)}
    assert points[2].rows == {"ease+mmr": (LAMBDA,)}
    # each point's recipe carries its grid values (the run's recipe.toml is that point's)
    assert points[1].recipe.variants[1].chain[0].params.p == 0.9


def test_groups_change_the_rows_that_name_them_in_a_step_or_a_metric():
    points = grid_points(recipe(), [(TAIL, [0.3, 0.6]), (EMERGING, [0.4, 0.8])])
    assert [sorted(p.rows) for p in points] == [
        sorted(ALL_ROWS),
        ["ease+radio"],  # blend weight group:emerging
        ["ease+fair", "popularity+fair"],  # fair_exposure group = tail
    ]
    assert points[1].rows["ease+radio"] == (EMERGING,)
    # a metric that names a group (exposure_share[tail]) changes every row with it
    points = grid_points(recipe(("ndcg", "exposure_share[tail]")), [(TAIL, [0.3, 0.6])])
    assert [sorted(p.rows) for p in points] == [sorted(ALL_ROWS)] * 2
    assert points[1].rows["ease"] == (TAIL,)


def test_values_that_resolve_alike_run_once_and_dependencies_are_canonical():
    points = grid_points(recipe(), [(LAMBDA, [0.5, 0.5, 0.7])])
    assert [p.values[LAMBDA] for p in points] == [0.5, 0.7]
    assert points[1].rows == {"ease+mmr": (LAMBDA,)}
    # an unrelated edit (another variant's setting) leaves a row's dependencies alone
    before = row_dependencies(points[0].recipe)
    after = row_dependencies(points[1].recipe)
    assert {row for row in ALL_ROWS if before[row] != after[row]} == {"ease+mmr"}
