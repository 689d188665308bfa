"""Fréchet distance between two Gaussians fitted to features (FID).

    d^2 = ||mu1 - mu2||^2 + Tr(S1) + Tr(S2) - 2 Tr((S1 S2)^{1/2})

`FeatureStats` accumulates the mean and covariance of features batch by
batch in float64, so the features of 50,000 images never sit in memory at
once. `frechet_distance` computes the trace term exactly from symmetric
eigenvalues, without complex arithmetic; `frechet_distance_sqrtm` is the
textbook `scipy.linalg.sqrtm` formula (as in pytorch-fid), kept as a
reference for tests and benchmarks.
"""

import os
import warnings
import zipfile

import numpy as np
import scipy.linalg
from scipy.linalg.blas import dtrmm

from mnistgen_tf.errors import MnistgenError
from mnistgen_tf.files import atomic_path


class RankDeficientCovarianceWarning(UserWarning):
    """No more samples than feature dimensions (n <= d): the covariance is singular.

    The centred samples span at most n - 1 dimensions, so the covariance of
    n samples has rank at most n - 1 < d whenever n <= d.
    """


class FeatureStats:
    """Running mean and covariance (ddof=1) of feature batches of shape (n, d).

    Batches are merged with Chan et al.'s pairwise update of the centred
    scatter matrix, which avoids the cancellation of the naive
    sum(x x^T) - n mu mu^T formula when the mean is large compared with the
    spread.
    """

    def __init__(self):
        self._count = 0
        self._mean = None
        self._scatter = None  # sum over samples of (x - mean)(x - mean)^T
        self.tolerance = 1e-9  # rounding room of the covariance (wider when loaded from float32)

    @property
    def count(self):
        return self._count

    @property
    def dim(self):
        return None if self._mean is None else self._mean.shape[0]

    def update(self, features):
        """Add a batch of features of shape (n, d); returns self."""
        x = np.asarray(features, dtype=np.float64)
        if x.ndim != 2:
            raise MnistgenError(f"features must have shape (n, d); got shape {x.shape}")
        if self.dim is not None and x.shape[1] != self.dim:
            raise MnistgenError(f"features have dimension {x.shape[1]}, but earlier batches had {self.dim}")
        if not np.isfinite(x).all():
            raise MnistgenError("features contain NaN or inf")
        n = x.shape[0]
        if n == 0:
            return self
        batch_mean = x.mean(axis=0)
        centred = x - batch_mean
        batch_scatter = centred.T @ centred
        if self._count == 0:
            self._count, self._mean, self._scatter = n, batch_mean, batch_scatter
            return self
        total = self._count + n
        delta = batch_mean - self._mean
        self._scatter += batch_scatter + np.outer(delta, delta) * (self._count * n / total)
        self._mean = self._mean + delta * (n / total)
        self._count = total
        return self

    @property
    def mean(self):
        if self._count == 0:
            raise MnistgenError("no features were added, so there is no mean")
        return self._mean.copy()

    @property
    def cov(self):
        """Unbiased covariance (ddof=1), like numpy.cov and pytorch-fid."""
        if self._count < 2:
            raise MnistgenError(f"a covariance needs at least 2 samples; got {self._count}")
        if self._count <= self.dim:  # rank <= n - 1 < d
            warnings.warn(
                f"covariance of n={self._count} samples of d={self.dim} features is rank-deficient "
                f"(n <= d); an FID computed from it is biased",
                RankDeficientCovarianceWarning,
                stacklevel=2,
            )
        return self._scatter / (self._count - 1)

    def save(self, path):
        """Write mu, sigma and n to an .npz file, atomically."""
        mu, sigma, n = self.mean, self.cov, self._count
        with atomic_path(str(path)) as tmp, open(tmp, "wb") as f:
            np.savez(f, mu=mu, sigma=sigma, n=np.int64(n))

    @classmethod
    def load(cls, path):
        """Statistics saved by `save`; further batches can still be added."""
        if not os.path.isfile(path):
            raise MnistgenError(f"no statistics file {path}")
        try:
            data = np.load(path, allow_pickle=False)
            if not isinstance(data, np.lib.npyio.NpzFile):
                raise MnistgenError(f"{path} is not an .npz statistics file")
            with data:
                missing = sorted({"mu", "sigma", "n"} - set(data.files))
                if missing:
                    raise MnistgenError(f"statistics file {path} lacks {', '.join(missing)}")
                stored = data["sigma"]
                mu, sigma = _real_array(data["mu"], f"mu in {path}"), _real_array(stored, f"sigma in {path}")
                n = data["n"]
                if n.shape != () or n.dtype.kind not in "iu":
                    raise MnistgenError(f"statistics file {path}: n must be one integer, got {n!r}")
                n = int(n)
        except (OSError, ValueError, EOFError, zipfile.BadZipFile) as e:
            raise MnistgenError(f"corrupt statistics file {path}: {e}".replace("\n", " ")) from None
        _check_gaussian(mu, sigma, f"statistics in {path}", _tolerance(stored.dtype))
        if n < 2:
            raise MnistgenError(f"statistics file {path} has n={n}; at least 2 samples are needed")
        stats = cls()
        stats._count, stats._mean, stats._scatter = n, mu, sigma * (n - 1)
        stats.tolerance = _tolerance(stored.dtype)
        return stats


def stats_of(features, batch_size=10_000):
    """FeatureStats of an (n, d) array, added batch_size rows at a time."""
    stats = FeatureStats()
    x = np.asarray(features)
    if x.ndim != 2:
        raise MnistgenError(f"features must have shape (n, d); got shape {x.shape}")
    for start in range(0, len(x), batch_size):
        stats.update(x[start:start + batch_size])
    return stats


def save_stats(stats, path):
    stats.save(path)


def load_stats(path):
    return FeatureStats.load(path)


def _tolerance(dtype):
    """Relative room for rounding in a covariance stored as `dtype`: 1e-9 for float64, about 1e-5 for float32."""
    return max(1e-9, 100 * np.finfo(dtype).eps) if np.issubdtype(dtype, np.floating) else 1e-9


def _check_gaussian(mu, sigma, name, tolerance=1e-9):
    """A mean (d,) and a symmetric positive semi-definite covariance (d, d), within rounding.

    A covariance that is not (e.g. -I, or a matrix with a typo) has no
    Fréchet distance; the clamp in `frechet_distance` would hide it as 0.
    """
    if mu.ndim != 1 or sigma.shape != (mu.shape[0], mu.shape[0]):
        raise MnistgenError(f"{name}: mean has shape {mu.shape} and covariance {sigma.shape}; expected (d,) and (d, d)")
    if not (np.isfinite(mu).all() and np.isfinite(sigma).all()):
        raise MnistgenError(f"{name}: mean or covariance contains NaN or inf")
    scale = max(np.abs(sigma).max(initial=0.0), np.finfo(np.float64).tiny)
    if np.abs(sigma - sigma.T).max(initial=0.0) > tolerance * scale:
        raise MnistgenError(f"{name}: the covariance is not symmetric, so it is no covariance")
    lowest = scipy.linalg.eigvalsh((sigma + sigma.T) / 2, subset_by_index=[0, 0], check_finite=False)[0]
    if lowest < -tolerance * scale:
        raise MnistgenError(f"{name}: the covariance has a negative eigenvalue ({lowest:.3g}), so it is not "
                            "positive semi-definite and no covariance")


def _real_array(value, name):
    array = np.asarray(value)
    if array.dtype.kind not in "biuf":
        raise MnistgenError(f"{name}: expected real numbers, got an array of dtype {array.dtype}")
    return array.astype(np.float64)


def _checked_pairs(mu1, sigma1, mu2, sigma2, tolerance=None):
    """The four arrays as float64, checked; `tolerance` defaults to what the covariances' dtypes allow."""
    if tolerance is None:
        tolerance = max(_tolerance(np.asarray(sigma1).dtype), _tolerance(np.asarray(sigma2).dtype))
    arrays = [_real_array(a, name) for a, name in ((mu1, "first mean"), (sigma1, "first covariance"),
                                                   (mu2, "second mean"), (sigma2, "second covariance"))]
    _check_gaussian(arrays[0], arrays[1], "first distribution", tolerance)
    _check_gaussian(arrays[2], arrays[3], "second distribution", tolerance)
    if arrays[0].shape != arrays[2].shape:
        raise MnistgenError(
            f"feature dimensions differ: {arrays[0].shape[0]} and {arrays[2].shape[0]}; both sets need the same features"
        )
    return arrays


def trace_sqrt_product(sigma1, sigma2):
    """Tr((S1 S2)^{1/2}) for symmetric positive semi-definite S1, S2.

    The eigenvalues of S1 S2 are those of the symmetric matrix B^T S2 B for
    any factor S1 = B B^T, so the trace is a sum of square roots of
    symmetric eigenvalues: real, exact and cheap (no Schur form, no complex
    square root). B is the Cholesky factor when S1 is positive definite, and
    V W^{1/2} from eigh(S1) when it is singular (fewer samples than
    dimensions, linearly dependent features).
    """
    # A feature with zero variance in either set has a zero row and column,
    # so it only adds zero eigenvalues to S1 S2. Dropping it is exact, and
    # it keeps the square roots of rounding noise (about 1e-8 each, from
    # eigenvalues that should be 0) out of the sum: with MNIST's constant
    # border pixels that noise added 4e-7 to a trace of 50.
    keep = (np.diag(sigma1) > 0) & (np.diag(sigma2) > 0)
    if not keep.any():
        return 0.0
    s1 = sigma1[np.ix_(keep, keep)]
    s2 = sigma2[np.ix_(keep, keep)]
    s1 = (s1 + s1.T) / 2
    try:
        chol = scipy.linalg.cholesky(s1, lower=True, check_finite=False)
    except np.linalg.LinAlgError:
        w, v = np.linalg.eigh(s1)
        # Eigenvalues below the rank tolerance of numpy.linalg.matrix_rank
        # are rounding noise of exact zeros; keeping them would add their
        # square roots to the trace.
        positive = w > len(w) * np.finfo(np.float64).eps * w.max()
        factor = v[:, positive] * np.sqrt(w[positive])
        m = factor.T @ s2 @ factor
    else:
        # L^T S2 L as two triangular products: half the flops of two matmuls.
        m = dtrmm(1.0, chol, dtrmm(1.0, chol, s2, side=1, lower=1), lower=1, trans_a=1)
    m = (m + m.T) / 2
    # Eigenvalues only: scipy's default driver (syevr) skips the eigenvectors.
    eigenvalues = scipy.linalg.eigvalsh(m, check_finite=False)
    return float(np.sqrt(np.clip(eigenvalues, 0, None)).sum())


def frechet_distance(mu1, sigma1, mu2, sigma2, tolerance=None):
    """Squared Fréchet distance between N(mu1, sigma1) and N(mu2, sigma2).

    The covariances must be symmetric and positive semi-definite within
    `tolerance`, relative to their largest entry (default: what their dtype's
    rounding allows).
    """
    mu1, sigma1, mu2, sigma2 = _checked_pairs(mu1, sigma1, mu2, sigma2, tolerance)
    diff = mu1 - mu2
    value = diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2 * trace_sqrt_product(sigma1, sigma2)
    # The distance is a sum of squares; a negative value is rounding only.
    return max(float(value), 0.0)


def fid_from_stats(stats1, stats2):
    """Fréchet distance between two FeatureStats."""
    return frechet_distance(stats1.mean, stats1.cov, stats2.mean, stats2.cov,
                            max(stats1.tolerance, stats2.tolerance))


def frechet_distance_sqrtm(mu1, sigma1, mu2, sigma2):
    """Reference: the same distance through scipy.linalg.sqrtm(S1 S2).

    S1 S2 is not symmetric, so sqrtm goes through a Schur form and may
    return tiny imaginary parts, which are dropped as in pytorch-fid.
    """
    mu1, sigma1, mu2, sigma2 = _checked_pairs(mu1, sigma1, mu2, sigma2)
    diff = mu1 - mu2
    covmean = np.real(scipy.linalg.sqrtm(sigma1 @ sigma2))
    return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2 * np.trace(covmean))
