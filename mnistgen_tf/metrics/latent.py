"""Asperti's variance law and inactive latent variables of a VAE.

For a VAE whose aggregate posterior matches the N(0, 1) prior, every
latent variable z_j satisfies the variance law

    Var(mu_j) + E[sigma_j^2] = 1,

where the variance and the mean are taken over the data (the test images).
The first term is how much the posterior means move from image to image,
the second is how much noise the encoder adds around them. A variable the
decoder ignores collapses onto the prior: its posterior is N(0, 1) for every
image, so E[sigma_j^2] ~ 1 and Var(mu_j) ~ 0. Such a variable is called
inactive, detected here by E[sigma_j^2] > threshold (0.9, as in the thesis).

For sequential models (DRAW) the same statistics are taken per time step on
latents of shape (n, T, z), with the thesis's estimators: np.var (ddof=0) of
the means and np.mean of exp(log_var).
"""

from dataclasses import dataclass

import numpy as np

from mnistgen_tf.errors import MnistgenError


@dataclass(frozen=True)
class LatentReport:
    """Variance-law statistics of T steps of z latent variables."""

    var_of_means: np.ndarray  # (T, z): Var over images of mu
    mean_of_vars: np.ndarray  # (T, z): mean over images of exp(log_var)
    variance_law: np.ndarray  # (T,): mean over the z variables of var_of_means + mean_of_vars
    overall_variance_law: float  # the same, over all T*z variables
    inactive: np.ndarray  # (T, z) bool: mean_of_vars > threshold
    inactive_count: int
    inactive_fraction: float  # of all T*z variables
    threshold: float

    def to_dict(self):
        """Plain Python types, ready for json.dump."""
        return {
            "variance_law": self.variance_law.tolist(),
            "overall_variance_law": self.overall_variance_law,
            "inactive_count": self.inactive_count,
            "inactive_fraction": self.inactive_fraction,
            "inactive_per_step": self.inactive.sum(axis=1).tolist(),
            "threshold": self.threshold,
        }


def latent_report(mu, log_var, threshold=0.9):
    """Variance law and inactive variables from encoder outputs.

    mu, log_var: posterior means and log-variances on n images, shape
    (n, T, z) for T steps, or (n, z) for a single-step VAE (T = 1).
    """
    mu = np.asarray(mu, dtype=np.float64)
    log_var = np.asarray(log_var, dtype=np.float64)
    if mu.shape != log_var.shape:
        raise MnistgenError(f"mu has shape {mu.shape} but log_var has shape {log_var.shape}; they must match")
    if mu.ndim == 2:
        mu, log_var = mu[:, None, :], log_var[:, None, :]
    elif mu.ndim != 3:
        raise MnistgenError(f"latents must have shape (n, z) or (n, T, z); got shape {mu.shape}")
    if mu.shape[0] < 2:
        raise MnistgenError(f"the variance over images needs at least 2 images; got {mu.shape[0]}")
    if mu.shape[2] == 0:
        raise MnistgenError("latents have no variables (z = 0)")
    if not (np.isfinite(mu).all() and np.isfinite(log_var).all()):
        raise MnistgenError("mu or log_var contains NaN or inf")
    if not np.isfinite(threshold):
        raise MnistgenError(f"threshold must be a finite number; got {threshold}")

    var_of_means = np.var(mu, axis=0)
    mean_of_vars = np.mean(np.exp(log_var), axis=0)
    total = var_of_means + mean_of_vars
    inactive = mean_of_vars > threshold
    count = int(inactive.sum())
    return LatentReport(
        var_of_means=var_of_means,
        mean_of_vars=mean_of_vars,
        variance_law=total.mean(axis=1),
        overall_variance_law=float(total.mean()),
        inactive=inactive,
        inactive_count=count,
        inactive_fraction=count / inactive.size,
        threshold=float(threshold),
    )
