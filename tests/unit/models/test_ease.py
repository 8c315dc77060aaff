"""EASE against a from-scratch closed form, by inversion and through the shared spectrum."""

import numpy as np
import pytest
import scipy.sparse as sp

from recsys_cli.models import ease as ease_module
from recsys_cli.models.ease import EASE, shared_gram_spectrum


def naive_ease(x: np.ndarray, l2: float) -> np.ndarray:
    """B_ij = -P_ij / P_jj for i != j, B_jj = 0, with P = (X^T X + l2 I)^-1 (Steck, 2019)."""
    n = x.shape[1]
    p = np.linalg.inv(x.T @ x + l2 * np.eye(n))
    b = np.zeros((n, n))
    for i in range(n):
        for j in range(n):
            if i != j:
                b[i, j] = -p[i, j] / p[j, j]
    return b


def _binary(users: int, items: int, density: float, seed: int) -> sp.csr_matrix:
    rng = np.random.default_rng(seed)
    x = (rng.random((users, items)) < density).astype(np.float32)
    x[:, -1] = 0.0  # an item nobody played: a zero row and column of the Gram matrix
    return sp.csr_matrix(x)


@pytest.mark.parametrize("l2", [0.5, 30.0, 2e4])
def test_both_paths_match_the_closed_form(l2):
    x = _binary(40, 25, 0.3, seed=1)
    expected = naive_ease(x.toarray().astype(np.float64), l2)
    direct = EASE(EASE.Params(l2=l2)).fit(x).weights_
    with shared_gram_spectrum({}):
        spectral = EASE(EASE.Params(l2=l2)).fit(x).weights_
    scale = np.abs(expected).max()
    np.testing.assert_allclose(direct, expected, atol=1e-6 * scale)
    np.testing.assert_allclose(spectral, expected, atol=1e-5 * scale)
    assert np.all(np.diag(spectral) == 0)


def test_rank_deficient_gram_with_fewer_users_than_items():
    x = _binary(6, 30, 0.4, seed=2)  # rank <= 6 of 30: most eigenvalues are (numerically) zero
    expected = naive_ease(x.toarray().astype(np.float64), 1.0)
    with shared_gram_spectrum({}):
        spectral = EASE(EASE.Params(l2=1.0)).fit(x).weights_
    np.testing.assert_allclose(spectral, expected, atol=1e-5 * np.abs(expected).max())


def test_one_eigendecomposition_per_training_matrix(monkeypatch):
    calls = []
    real = np.linalg.eigh

    def counting(matrix):
        calls.append(matrix.shape)
        return real(matrix)

    monkeypatch.setattr(ease_module.np.linalg, "eigh", counting)
    x, other = _binary(30, 12, 0.3, seed=3), _binary(30, 12, 0.3, seed=4)
    spectra = {}
    with shared_gram_spectrum(spectra):
        for l2 in (1.0, 10.0, 100.0):
            EASE(EASE.Params(l2=l2)).fit(x)
        assert len(calls) == 1
        EASE(EASE.Params(l2=5.0)).fit(other)  # another matrix: decomposed, replaces the first
        EASE(EASE.Params(l2=5.0)).fit(x)
        assert len(calls) == 3
    EASE(EASE.Params(l2=5.0)).fit(x)  # outside the block: inversion, no spectrum
    assert len(calls) == 3
    assert ease_module._SPECTRA.get() is None
    with shared_gram_spectrum(spectra):  # the caller's store outlives its blocks
        EASE(EASE.Params(l2=7.0)).fit(x)
    assert len(calls) == 3


def test_scores_and_lists_agree_between_paths():
    x = _binary(50, 40, 0.1, seed=5)  # sparse: many tied scores
    users = np.arange(50)
    direct = EASE(EASE.Params(l2=20.0)).fit(x)
    with shared_gram_spectrum({}):
        spectral = EASE(EASE.Params(l2=20.0)).fit(x)
    items_a, scores_a = direct.recommend(users, x, k=5)
    items_b, scores_b = spectral.recommend(users, x, k=5)
    np.testing.assert_allclose(scores_a, scores_b, atol=1e-5 * np.abs(scores_a).max())
    # A list differs only where scores are within float32 noise of a tie: each user's k-th
    # score is the same, and a swapped item scores that close to the one it replaced.
    np.testing.assert_allclose(scores_a[:, -1], scores_b[:, -1], atol=1e-5)
    swapped = items_a != items_b
    assert swapped.mean() < 0.2
    np.testing.assert_allclose(scores_a[swapped], scores_b[swapped], atol=1e-5)
