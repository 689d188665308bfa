import json
import os
import warnings

import numpy as np
import pytest
import scipy.linalg

from mnistgen_tf.errors import MnistgenError
from mnistgen_tf.metrics import frechet
from mnistgen_tf.metrics.frechet import (
    FeatureStats,
    RankDeficientCovarianceWarning,
    fid_from_stats,
    frechet_distance,
    frechet_distance_sqrtm,
    load_stats,
    save_stats,
    stats_of,
)


def relative_difference(a, b):
    return abs(a - b) / abs(b)


def random_gaussian(rng, d, rank=None, jitter=0.0):
    """A random mean and a covariance A A^T / d with a decaying spectrum."""
    rank = rank or d
    a = rng.standard_normal((d, rank)) * (1.0 + np.arange(rank)) ** -0.5
    return rng.standard_normal(d), a @ a.T / d + jitter * np.eye(d)


def exact_trace_sqrt(x1, x2):
    """Tr((S1 S2)^{1/2}) straight from the data, with no square root of rounding noise.

    With S = Xc^T Xc / (n - 1) and Xc = Q R, the eigenvalues of S1 S2 are the
    squared singular values of R1 R2^T / sqrt((n1 - 1)(n2 - 1)).
    """
    r1 = np.linalg.qr(x1 - x1.mean(axis=0), mode="r")
    r2 = np.linalg.qr(x2 - x2.mean(axis=0), mode="r")
    return scipy.linalg.svdvals(r1 @ r2.T).sum() / np.sqrt((len(x1) - 1) * (len(x2) - 1))


def one_line_error(excinfo):
    message = str(excinfo.value)
    assert message and "\n" not in message
    return message


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_matches_sqrtm_on_random_spd(seed):
    rng = np.random.default_rng(seed)
    mu1, sigma1 = random_gaussian(rng, 64)
    mu2, sigma2 = random_gaussian(rng, 64)
    ours = frechet_distance(mu1, sigma1, mu2, sigma2)
    assert ours > 1.0
    assert relative_difference(ours, frechet_distance_sqrtm(mu1, sigma1, mu2, sigma2)) < 1e-6


def test_matches_sqrtm_when_nearly_singular():
    rng = np.random.default_rng(7)
    mu1, sigma1 = random_gaussian(rng, 64)
    mu2, sigma2 = random_gaussian(rng, 64, rank=16, jitter=1e-10)  # condition number ~1e9
    assert np.linalg.cond(sigma2) > 1e8
    for args in [(mu1, sigma1, mu2, sigma2), (mu2, sigma2, mu1, sigma1)]:
        assert relative_difference(frechet_distance(*args), frechet_distance_sqrtm(*args)) < 1e-6


def test_singular_covariances_match_exact_trace():
    # 30 samples in 64 dimensions: S1 has rank 29, Cholesky fails, eigh takes over.
    rng = np.random.default_rng(3)
    x1 = rng.standard_normal((30, 64)) @ rng.standard_normal((64, 64))
    x2 = rng.standard_normal((500, 64)) @ rng.standard_normal((64, 64))
    s1, s2 = np.cov(x1.T), np.cov(x2.T)
    exact = exact_trace_sqrt(x1, x2)
    assert relative_difference(frechet.trace_sqrt_product(s1, s2), exact) < 1e-9
    assert relative_difference(frechet.trace_sqrt_product(s2, s1), exact) < 1e-6


@pytest.fixture(scope="module")
def mnist_pixels(mnist_available):
    from mnistgen_tf.data import load

    images, labels = load("mnist", "test")
    # 2x2 average pooling: 196 pixel features keep the linear algebra fast on a busy machine.
    pooled = images.reshape(-1, 14, 2, 14, 2).mean(axis=(2, 4), dtype=np.float64) / 255.0
    return pooled.reshape(len(images), -1), labels


def test_matches_sqrtm_and_exact_trace_on_mnist_pixels(mnist_pixels):
    pixels, labels = mnist_pixels
    # The border pixels are constant, so both covariances are singular.
    x1, x2 = pixels[labels < 5][:2000], pixels[labels >= 5][:2000]
    s1, s2 = stats_of(x1), stats_of(x2)
    assert np.sum(np.diag(s1.cov) == 0) > 10
    ours = fid_from_stats(s1, s2)
    with pytest.warns(scipy.linalg.LinAlgWarning):  # sqrtm of a singular matrix
        reference = frechet_distance_sqrtm(s1.mean, s1.cov, s2.mean, s2.cov)
    assert relative_difference(ours, reference) < 1e-6
    diff = s1.mean - s2.mean
    exact = diff @ diff + np.trace(s1.cov) + np.trace(s2.cov) - 2 * exact_trace_sqrt(x1, x2)
    assert relative_difference(ours, exact) < 1e-6
    # Two samples of the same distribution: a small FID, where cancellation is worst.
    x1, x2 = pixels[:2000], pixels[2000:4000]
    s1, s2 = stats_of(x1), stats_of(x2)
    diff = s1.mean - s2.mean
    exact = diff @ diff + np.trace(s1.cov) + np.trace(s2.cov) - 2 * exact_trace_sqrt(x1, x2)
    assert relative_difference(fid_from_stats(s1, s2), exact) < 1e-6


def test_identical_statistics_give_zero():
    rng = np.random.default_rng(0)
    mu, sigma = random_gaussian(rng, 64)
    assert abs(frechet_distance(mu, sigma, mu, sigma)) < 1e-8
    mu, sigma = random_gaussian(rng, 64, rank=10)  # singular
    assert abs(frechet_distance(mu, sigma, mu, sigma)) < 1e-8


def test_diagonal_covariances_closed_form():
    rng = np.random.default_rng(1)
    a, b = rng.uniform(0.01, 5.0, 32), rng.uniform(0.01, 5.0, 32)
    mu1, mu2 = rng.standard_normal(32), rng.standard_normal(32)
    expected = np.sum((mu1 - mu2) ** 2) + np.sum((np.sqrt(a) - np.sqrt(b)) ** 2)
    assert relative_difference(frechet_distance(mu1, np.diag(a), mu2, np.diag(b)), expected) < 1e-12


def test_one_dimension_closed_form():
    value = frechet_distance([1.0], [[4.0]], [-2.0], [[9.0]])
    assert value == pytest.approx((1.0 + 2.0) ** 2 + (2.0 - 3.0) ** 2, rel=1e-12)


def test_constant_features_change_nothing():
    rng = np.random.default_rng(2)
    x1, x2 = rng.standard_normal((400, 16)), rng.standard_normal((300, 16)) * 1.5 + 0.2
    base = fid_from_stats(stats_of(x1), stats_of(x2))
    # Three features constant in both sets: zero rows and columns in both covariances.
    pad = lambda x: np.hstack([x, np.full((len(x), 3), 0.5)])  # noqa: E731
    assert relative_difference(fid_from_stats(stats_of(pad(x1)), stats_of(pad(x2))), base) < 1e-12


def test_streaming_stats_equal_numpy():
    rng = np.random.default_rng(4)
    # A mean far from zero is where the naive sum-of-squares formula cancels.
    x = rng.standard_normal((3001, 12)) @ rng.standard_normal((12, 12)) + 1e4
    stats = FeatureStats()
    for batch in np.split(x, [1, 500, 500, 1777, 2900]):  # includes an empty batch and a single row
        stats.update(batch)
    assert stats.count == 3001 and stats.dim == 12
    np.testing.assert_allclose(stats.mean, x.mean(axis=0), rtol=1e-10, atol=0)
    np.testing.assert_allclose(stats.cov, np.cov(x, rowvar=False), rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(stats_of(x, batch_size=64).cov, np.cov(x, rowvar=False), rtol=1e-10, atol=1e-10)


def test_save_load_roundtrip_and_resume(tmp_path):
    rng = np.random.default_rng(5)
    x = rng.standard_normal((900, 8))
    path = tmp_path / "stats.npz"
    save_stats(stats_of(x[:600]), path)
    loaded = load_stats(path)
    assert loaded.count == 600
    np.testing.assert_array_equal(loaded.mean, x[:600].mean(axis=0))
    np.testing.assert_allclose(loaded.cov, np.cov(x[:600], rowvar=False), rtol=1e-12)
    # The scatter matrix is rebuilt from sigma and n, so more batches can follow.
    loaded.update(x[600:])
    np.testing.assert_allclose(loaded.cov, np.cov(x, rowvar=False), rtol=1e-10)
    with np.load(path) as data:
        assert sorted(data.files) == ["mu", "n", "sigma"]


def test_save_is_atomic(tmp_path, monkeypatch):
    path = tmp_path / "ref.npz"
    stats_of(np.arange(20.0).reshape(10, 2) ** 2).save(path)
    assert os.listdir(tmp_path) == ["ref.npz"]
    before = path.read_bytes()

    def fail(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez", fail)
    with pytest.raises(MnistgenError) as excinfo:
        stats_of(np.ones((5, 2)) + np.eye(5, 2)).save(path)
    assert "disk full" in one_line_error(excinfo)
    # The old file is intact and the partial temporary file is gone.
    assert os.listdir(tmp_path) == ["ref.npz"]
    assert path.read_bytes() == before


def test_save_to_missing_folder(tmp_path):
    with pytest.raises(MnistgenError) as excinfo:
        stats_of(np.eye(3)).save(tmp_path / "nowhere" / "s.npz")
    assert "does not exist" in one_line_error(excinfo)


def test_load_errors(tmp_path):
    with pytest.raises(MnistgenError) as excinfo:
        load_stats(tmp_path / "missing.npz")
    assert "missing.npz" in one_line_error(excinfo)
    bad = tmp_path / "bad.npz"
    bad.write_text("not a zip file\n")
    with pytest.raises(MnistgenError) as excinfo:
        load_stats(bad)
    one_line_error(excinfo)
    partial = tmp_path / "partial.npz"
    np.savez(partial, mu=np.zeros(3))
    with pytest.raises(MnistgenError) as excinfo:
        load_stats(partial)
    assert "n, sigma" in one_line_error(excinfo)


def test_mismatched_dimensions_raise():
    rng = np.random.default_rng(6)
    mu1, sigma1 = random_gaussian(rng, 8)
    mu2, sigma2 = random_gaussian(rng, 6)
    for fn in (frechet_distance, frechet_distance_sqrtm):
        with pytest.raises(MnistgenError) as excinfo:
            fn(mu1, sigma1, mu2, sigma2)
        assert "8 and 6" in one_line_error(excinfo)
    with pytest.raises(MnistgenError) as excinfo:
        frechet_distance(mu1, sigma2, mu1, sigma1)  # mean and covariance disagree
    assert "(8,)" in one_line_error(excinfo)
    stats = stats_of(rng.standard_normal((10, 8)))
    with pytest.raises(MnistgenError) as excinfo:
        stats.update(rng.standard_normal((10, 6)))
    assert "dimension 6" in one_line_error(excinfo)
    with pytest.raises(MnistgenError) as excinfo:
        stats.update(rng.standard_normal(8))
    assert "(n, d)" in one_line_error(excinfo)


def test_nan_raises():
    rng = np.random.default_rng(8)
    mu, sigma = random_gaussian(rng, 4)
    bad_sigma = sigma.copy()
    bad_sigma[1, 2] = np.nan
    with pytest.raises(MnistgenError) as excinfo:
        frechet_distance(mu, sigma, mu, bad_sigma)
    assert "NaN" in one_line_error(excinfo)
    with pytest.raises(MnistgenError) as excinfo:
        frechet_distance(mu + np.inf, sigma, mu, sigma)
    assert "NaN" in one_line_error(excinfo)
    features = rng.standard_normal((10, 4))
    features[3, 1] = np.nan
    stats = FeatureStats()
    with pytest.raises(MnistgenError) as excinfo:
        stats.update(features)
    assert "NaN" in one_line_error(excinfo)
    assert stats.count == 0  # the bad batch was not half-added


def test_fewer_than_two_samples_raise():
    stats = FeatureStats()
    with pytest.raises(MnistgenError) as excinfo:
        _ = stats.mean
    one_line_error(excinfo)
    stats.update(np.ones((1, 3)))
    with pytest.raises(MnistgenError) as excinfo:
        fid_from_stats(stats, stats)
    assert "at least 2 samples" in one_line_error(excinfo)


def test_fewer_samples_than_dimensions_warns():
    rng = np.random.default_rng(9)
    small, large = stats_of(rng.standard_normal((10, 20))), stats_of(rng.standard_normal((100, 20)))
    with pytest.warns(RankDeficientCovarianceWarning, match=r"n=10 .*d=20.*biased"):
        value = fid_from_stats(small, large)
    assert np.isfinite(value) and value > 0


def test_as_many_samples_as_dimensions_warns():
    # n = d centred samples span d - 1 dimensions: the covariance is singular already.
    rng = np.random.default_rng(11)
    x = rng.standard_normal((20, 20))
    square, large = stats_of(x), stats_of(rng.standard_normal((100, 20)))
    assert np.linalg.matrix_rank(np.cov(x.T)) == 19
    with pytest.warns(RankDeficientCovarianceWarning, match=r"n=20 .*d=20.*n <= d"):
        fid_from_stats(square, large)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RankDeficientCovarianceWarning)
        fid_from_stats(stats_of(rng.standard_normal((21, 20))), large)  # n = d + 1 can be full rank


def test_fid_is_a_plain_float():
    rng = np.random.default_rng(10)
    mu, sigma = random_gaussian(rng, 5)
    value = frechet_distance(mu, sigma, mu + 1, sigma)
    assert type(value) is float and value == pytest.approx(5.0, rel=1e-9)
    json.dumps(value)
