"""The thesis's CIFAR-10 experiments, ready to run where CIFAR-10 and the Inception weights exist.

- Figure 3.3 on CIFAR-10: DRAW against T at a total latent size T·z = 128,
  LSTM 128 (reconstruction BCE, FID, inactive variables against T);
- Figure 3.4: samples of DRAW with T = 16, z = 24, LSTM 1024 on the colour
  canvas, FID with the Inception features the thesis used.

Neither CIFAR-10 nor ImageNet weights for InceptionV3 can be fetched on the
machines the kit's results come from, so no result of this sweep is
committed: ``mnistgen sweep thesis_cifar10`` stops with a one-line message
naming what is missing (before any training), and the quick profile runs the
whole path on a 32×32×3 stand-in (a prepared tensorflow-datasets copy, see
`mnistgen_tf.data`) with random Inception weights.
"""

from mnistgen_tf.sweep import Experiment, Profile
from mnistgen_tf.sweeps.draw_cells import (COLUMNS, FULL_SETTINGS, QUICK_SETTINGS, featured_samples, run_draw_cell,
                                           total_latent)

NAME = "thesis_cifar10"

FULL = Profile(
    settings={**FULL_SETTINGS, "dataset": "cifar10", "features": "inception", "units": 128, "epochs": 10,
              "conditional": False, "seed": 0},
    grids=({("timesteps", "z_dim"): total_latent(128, (1, 2, 4, 8, 16, 32)), "units": (128,)},
           {("timesteps", "z_dim"): ((16, 24),), "units": (1024,)}),
    featured={"samples": {"timesteps": 16, "z_dim": 24}},
)
QUICK = Profile(
    settings={**QUICK_SETTINGS, "dataset": "cifar10", "features": "inception", "feature_weights": None,
              "units": 8, "subset": 40, "test_images": 6, "fid_samples": 6, "figure_images": 2,
              "figure_samples": 4, "conditional": False, "seed": 0},
    grids=({("timesteps", "z_dim"): total_latent(4, (1, 2)), "units": (8,)},
           {("timesteps", "z_dim"): ((2, 3),), "units": (16,)}),
    featured={"samples": {"timesteps": 2, "z_dim": 3}},
)


EXPERIMENT = Experiment(
    name=NAME,
    title="Thesis Figures 3.3 and 3.4 on CIFAR-10: DRAW against T, and its samples",
    profiles={"full": FULL, "quick": QUICK},
    run_cell=run_draw_cell,
    columns=(COLUMNS["T"], COLUMNS["z"], COLUMNS["Tz"], COLUMNS["params"], COLUMNS["bce"],
             COLUMNS["elbo"], COLUMNS["kl"], COLUMNS["fid"], COLUMNS["variance_law"], COLUMNS["inactive"],
             COLUMNS["inactive_fraction"], COLUMNS["inactive_per_step"], COLUMNS["variance_law_per_step"]),
    id_labels=(("T", "timesteps"), ("z", "z_dim"), ("lstm", "units"), ("seed", "seed")),
    figures=(("thesis_fig3_4_cifar10_samples.png", featured_samples("samples")),),  # Figure 3.4
    notes=(
        "DRAW on CIFAR-10 (32x32x3 canvas, BCE on colour pixels), {epochs} epochs; FID[inception] of "
        "{fid_samples} samples against the test split.",
    ),
)
