import json

import numpy as np
import pytest

from mnistgen_tf.errors import MnistgenError
from mnistgen_tf.metrics.latent import latent_report


def mixed_latents(rng, n=4000, steps=4, z=6):
    """Latents where the variables in `collapsed` follow the prior for every image."""
    collapsed = rng.random((steps, z)) < 0.4
    mu = np.where(collapsed, 0.01, 1.0) * rng.standard_normal((n, steps, z))
    log_var = np.where(collapsed, 0.05 * rng.standard_normal((n, steps, z)), -6.0)
    return mu, log_var, collapsed


def test_inactive_variables_found_exactly():
    rng = np.random.default_rng(0)
    mu, log_var, collapsed = mixed_latents(rng)
    assert 0 < collapsed.sum() < collapsed.size
    report = latent_report(mu, log_var)
    np.testing.assert_array_equal(report.inactive, collapsed)
    assert report.inactive_count == collapsed.sum()
    assert report.inactive_fraction == collapsed.sum() / 24
    # Collapsed variables: no spread of the means, prior-sized noise.
    assert np.all(report.var_of_means[collapsed] < 1e-3)
    assert np.all(np.abs(report.mean_of_vars[collapsed] - 1) < 0.01)
    assert np.all(report.mean_of_vars[~collapsed] < 0.01)


def test_matches_thesis_formula_per_step():
    rng = np.random.default_rng(1)
    mu, log_var, _ = mixed_latents(rng, n=500, steps=3, z=5)
    report = latent_report(mu, log_var)
    for i in range(3):
        zvar = np.var(mu[:, i], axis=0)
        mean_v = np.mean(np.exp(log_var[:, i]), axis=0)
        np.testing.assert_allclose(report.var_of_means[i], zvar, rtol=1e-12)
        np.testing.assert_allclose(report.mean_of_vars[i], mean_v, rtol=1e-12)
        assert report.variance_law[i] == pytest.approx(np.mean(zvar + mean_v), rel=1e-12)
        np.testing.assert_array_equal(report.inactive[i], mean_v > 0.9)
    assert report.overall_variance_law == pytest.approx(report.variance_law.mean(), rel=1e-12)


def test_variance_law_is_one_when_posterior_matches_prior():
    # mu ~ N(0, 1 - s2) and sigma^2 = s2: the aggregate posterior is N(0, 1).
    rng = np.random.default_rng(2)
    s2 = 0.3
    mu = np.sqrt(1 - s2) * rng.standard_normal((20000, 5, 8))
    log_var = np.full(mu.shape, np.log(s2))
    report = latent_report(mu, log_var)
    assert report.overall_variance_law == pytest.approx(1.0, abs=0.01)
    np.testing.assert_allclose(report.variance_law, 1.0, atol=0.02)
    assert report.inactive_count == 0
    # A squeezed posterior breaks the law: Var(mu) + E[sigma^2] = 0.5.
    assert latent_report(np.sqrt(0.5) * mu, log_var - np.log(2)).overall_variance_law == pytest.approx(0.5, abs=0.01)


def test_single_step_latents():
    rng = np.random.default_rng(3)
    mu, log_var, collapsed = mixed_latents(rng, n=1000, steps=1, z=10)
    flat = latent_report(mu[:, 0], log_var[:, 0])
    stepped = latent_report(mu, log_var)
    assert flat.variance_law.shape == (1,)
    assert flat.inactive.shape == flat.var_of_means.shape == (1, 10)
    np.testing.assert_array_equal(flat.inactive, collapsed)
    assert flat.overall_variance_law == stepped.overall_variance_law
    assert flat.inactive_fraction == collapsed.sum() / 10


def test_threshold_and_to_dict():
    rng = np.random.default_rng(4)
    mu, log_var, collapsed = mixed_latents(rng, n=1000, steps=2, z=4)
    assert latent_report(mu, log_var, threshold=2.0).inactive_count == 0
    summary = latent_report(mu, log_var).to_dict()
    json.dumps(summary)
    assert summary["inactive_per_step"] == collapsed.sum(axis=1).tolist()
    assert summary["inactive_count"] == collapsed.sum()


@pytest.mark.parametrize(
    "mu_shape, log_var_shape, words",
    [
        ((10, 3, 4), (10, 3, 5), "must match"),
        ((10,), (10,), "(n, z) or (n, T, z)"),
        ((10, 2, 3, 4), (10, 2, 3, 4), "(n, z) or (n, T, z)"),
        ((1, 4), (1, 4), "at least 2 images"),
    ],
)
def test_bad_shapes_raise(mu_shape, log_var_shape, words):
    with pytest.raises(MnistgenError) as excinfo:
        latent_report(np.zeros(mu_shape), np.zeros(log_var_shape))
    message = str(excinfo.value)
    assert words in message and "\n" not in message


def test_nan_raises():
    log_var = np.zeros((10, 2, 3))
    log_var[4, 1, 2] = np.nan
    with pytest.raises(MnistgenError) as excinfo:
        latent_report(np.zeros((10, 2, 3)), log_var)
    assert "NaN" in str(excinfo.value) and "\n" not in str(excinfo.value)
