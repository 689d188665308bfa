"""Thesis Figures 3.1, 3.3 and 3.5, on MNIST: DRAW against the number of timesteps.

Grid (LSTM 256, shared LSTM weights, BCE reconstruction):

- timesteps T in {1, 2, 4, 8, 16, 32} at a fixed total latent size T*z = 64
  (Figure 3.3: reconstruction BCE, FID and inactive variables against T);
- z per step in {4, 8, 16, 32} at T = 16 (T=16, z=4 is shared with the
  first grid), which includes Figure 3.5's model (T=16, z=16).

The thesis draws Figure 3.3 on CIFAR-10 with a total latent size of 128;
this sweep is its MNIST counterpart with the total latent size of its MNIST
experiments (Figure 4.1).  Per cell: test-split BCE per pixel and -ELBO in
nats, FID[mnist-cnn] of 10,000 samples against the 10,000 test images,
variance law, inactive variables (count and fraction of T*z), parameters
and training time.

Figures (`mnistgen figures`): 3.1, iterative reconstruction of 8 test images
(first column the image, then the canvas after each step), 3.3, and 3.5,
test images over their reconstructions, both from the T=16, z=16 cell.
"""

import numpy as np

from mnistgen_tf.sweep import Experiment, Profile, fid_baseline
from mnistgen_tf.sweeps.draw_cells import (COLUMNS, FULL_SETTINGS, ID_LABELS, QUICK_SETTINGS, by_loss,
                                           converged_variant, epochs_text, run_draw_cell, total_latent)

NAME = "thesis_timesteps"

FULL = Profile(
    settings={**FULL_SETTINGS, "conditional": False},
    grids=(
        {("timesteps", "z_dim"): total_latent(64, (1, 2, 4, 8, 16, 32)), "seed": (0,)},
        {"timesteps": (16,), "z_dim": (4, 8, 16, 32), "seed": (0,)},
    ),
    featured={"reconstruction": {"timesteps": 16, "z_dim": 16}},
)

# The same two grids in miniature: T in {1, 2} at T*z = 4, and z in {2, 4} at T = 2.
QUICK = Profile(
    settings={**QUICK_SETTINGS, "conditional": False},
    grids=(
        {("timesteps", "z_dim"): total_latent(4, (1, 2)), "seed": (0,)},
        {"timesteps": (2,), "z_dim": (2, 4), "seed": (0,)},
    ),
    featured={"reconstruction": {"timesteps": 2, "z_dim": 4}},
)


def draw_iterative_reconstruction(results, path):
    """Figure 3.1: one row per test image: the image, then the canvas after each step."""
    from mnistgen_tf.figures import save_grid_png

    record = results.featured("reconstruction")
    if record is None:
        return False
    arrays = results.arrays(record)
    rows = _with_originals(arrays)  # (n, 1 + T, H, W, C)
    save_grid_png(rows.reshape(-1, *rows.shape[2:]) / 255.0, path, ncols=rows.shape[1])
    return True


def draw_reconstructions(results, path):
    """Figure 3.5: test images (first row) over their reconstructions (second row)."""
    from mnistgen_tf.figures import save_grid_png

    record = results.featured("reconstruction")
    if record is None:
        return False
    rows = _with_originals(results.arrays(record))
    images = np.swapaxes(rows[:, [0, -1]], 0, 1)  # (2, n, H, W, C)
    save_grid_png(images.reshape(-1, *rows.shape[2:]) / 255.0, path, ncols=rows.shape[0])
    return True


def _with_originals(arrays):
    originals, steps = arrays["test_images"], arrays["reconstruction_steps"]
    return np.concatenate([originals[:, None], steps], axis=1)


def draw_against_timesteps(results, path):
    """Figure 3.3: test BCE, FID and inactive variables against T at a fixed T*z."""
    from mnistgen_tf.figures import save_line_panels

    records = results.in_grid(0)
    if not records:
        return False
    settings = results.profile.settings
    total = records[0]["settings"]["timesteps"] * records[0]["settings"]["z_dim"]

    def series(key):
        return {loss: ([r["settings"]["timesteps"] for r in group], [r["metrics"][key] for r in group])
                for loss, group in by_loss(records).items()}

    save_line_panels(path, "timesteps T", [
        ("test BCE per pixel", series("bce_per_pixel")),
        (f"FID[{settings['features']}-cnn], {settings['fid_samples']} samples", series("fid")),
        (f"inactive latent variables (of {total})", series("inactive_count")),
    ], title=f"DRAW on MNIST, T·z = {total}, LSTM {settings['units']}, {epochs_text(settings)}")
    return True


EXPERIMENT = Experiment(
    name=NAME,
    title="Thesis Figures 3.3 and 3.5 on MNIST: DRAW against the number of timesteps",
    profiles={"full": FULL, "quick": QUICK},
    run_cell=run_draw_cell,
    columns=tuple(COLUMNS[k] for k in ("T", "z", "Tz", "seed", "params", "bce", "elbo", "kl", "fid",
                                       "variance_law", "inactive", "inactive_fraction", "inactive_per_step",
                                       "variance_law_per_step")),
    id_labels=ID_LABELS,
    baseline=fid_baseline,
    figures=(
        ("thesis_fig3_1_iterative_reconstruction.png", draw_iterative_reconstruction),
        ("thesis_fig3_3_timesteps.png", draw_against_timesteps),
        ("thesis_fig3_5_reconstructions.png", draw_reconstructions),
    ),
    notes=(
        "BCE per pixel: the thesis's reconstruction error, binary cross-entropy of the final canvas averaged "
        "over pixels and test images; -ELBO: per image, the cross-entropy summed over pixels plus the KL "
        "summed over steps and latent variables, in nats (one posterior sample per image; test images: "
        "the first {test_images}, None meaning all 10,000).",
        "FID: {fid_samples} samples against the whole test split, features of the shipped MNIST CNN "
        "({features}-cnn, 128 dimensions), not InceptionV3: compare trends, not values, with the thesis.",
        "Variance law: mean over all T·z variables of Var(mu) + E[sigma^2] on the test split (1 when the "
        "aggregate posterior matches the prior); inactive: variables with E[sigma^2] > 0.9.  Per step: the "
        "same over the z variables of each step, steps 1 to T, as the thesis's variance-law code counts them.",
        "Trained with loss_scaling={loss_scaling} for {epochs} epochs (batch {batch_size}, Adam "
        "{learning_rate}); the thesis's scaling (loss_scaling=thesis) collapses the posterior on MNIST.",
    ),
)

# The same grids under the thesis's loss and the ELBO, each cell trained until its -ELBO settles.
CONVERGED = converged_variant(EXPERIMENT)
