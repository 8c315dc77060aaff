"""Recipe models as scores over the logged candidates; policy distributions from recipe tables."""

import dataclasses

import numpy as np
import pytest
from ope_sim import make_logs

from recsys_cli.config.schema import ModelConfig
from recsys_cli.errors import UserError
from recsys_cli.models.base import NoParams
from recsys_cli.ope.config import BTSPolicy, ModelPolicy, UniformPolicy
from recsys_cli.ope.logs import LoggedFeedback
from recsys_cli.ope.pipeline import model_scores, policy_distribution

POPULARITY = ModelConfig(name="popularity", label="pop", params=NoParams())


def relabel(logs: LoggedFeedback, contexts, item_ids) -> LoggedFeedback:
    return dataclasses.replace(logs, contexts=tuple(contexts), item_ids=np.asarray(item_ids))


def test_popularity_scores_count_contexts_that_clicked_each_candidate():
    # fit logs: string ids; t9 is no candidate of the evaluated logs
    fit = relabel(
        make_logs(
            [[0, 1], [1, 2], [1, -1]], np.full((3, 2), 0.5), [[1, 1], [1, 1], [1, 0]], [0, 1, 1]
        ),
        ["de", "fr"],
        ["7", "8", "t9"],
    )
    # evaluated logs: integer ids 7, 8, 20; context "us" never seen in the fit logs
    logs = relabel(
        make_logs([[0, 1], [2, 0]], np.full((2, 2), 0.5), np.zeros((2, 2)), [0, 1]),
        ["fr", "us"],
        [7, 8, 20],
    )
    scores = model_scores(POPULARITY, fit, logs, seed=0)
    # item 7: clicked in context de; item 8: in de and fr; item 20: never
    np.testing.assert_array_equal(scores, [[1, 2, 0], [1, 2, 0]])


def test_policy_tables_checked_against_the_logs():
    logs = make_logs([[0, 1, 2]], [[0.5, 0.5, 0.5]], [[0, 0, 1]], m=3)
    rng = np.random.default_rng(0)
    bts = BTSPolicy(name="b", alpha=(1.0, 2.0), beta=(1.0, 1.0))
    with pytest.raises(
        UserError, match="the prior has 2 \\(alpha, beta\\) pairs but the logs have 3"
    ):
        policy_distribution(bts, "ope.policies[0]", logs, {}, "all", rng)
    short = make_logs([[0, 1, 0]], [[0.5, 0.5, 0.5]], [[0, 0, 1]], m=2)
    with pytest.raises(UserError, match="ope.policies\\[1\\]: 3 positions but only 2 candidates"):
        policy_distribution(UniformPolicy(name="u"), "ope.policies[1]", short, {}, "all", rng)
    greedy = ModelPolicy(name="g", model="pop", ranking="epsilon_greedy", epsilon=0.0)
    with pytest.raises(UserError, match="3 positions but only 2 candidates to rank"):
        policy_distribution(greedy, "p", short, {"pop": np.array([[0.0, 1.0]])}, "all", rng)
    softmax = ModelPolicy(name="s", model="pop", ranking="softmax")  # draws with repeats
    dist = policy_distribution(softmax, "p", short, {"pop": np.log([[1.0, 3.0]])}, "all", rng)
    np.testing.assert_allclose(dist.logged(short), [[0.25, 0.75, 0.25]])
