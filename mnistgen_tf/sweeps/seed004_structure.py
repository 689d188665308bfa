"""Seed 004's VAE structure study: latent size, depth, width and learning rate, one at a time.

The seed lists "liczba warstw, liczba neuronów" (layers, units) and the
latent size among a VAE's choices.  Around a base VAE (the seed's loss
‖x − x̂‖² + KL, code 8, one convolution per resolution, 32/64 filters and
256 hidden units, Adam 1e-3) each grid changes one thing: code 2, 8 or 32;
two convolutions per resolution; twice the filters and units; Adam 3e-4.
Every cell is measured as in the β study (`seed004_beta.run_vae_study_cell`):
distortion, rate, test MSE, inactive variables, FID and classifier score.
"""

from mnistgen_tf.sweep import Column, Experiment, Profile
from mnistgen_tf.sweeps.seed004_beta import run_vae_study_cell

NAME = "seed004_structure"

FULL = Profile(
    settings={"dataset": "mnist", "latent_dim": 8, "reconstruction": "l2", "beta": 1.0, "depth": 1, "width": 1,
              "learning_rate": 1e-3, "epochs": 10, "subset": None, "seed": 0, "eval_samples": 10_000},
    grids=({"latent_dim": (2, 8, 32)}, {"depth": (2,)}, {"width": (2,)}, {"learning_rate": (3e-4,)}),
)
QUICK = Profile(settings={**FULL.settings, "epochs": 1, "subset": 300, "eval_samples": 300},
                grids=({"latent_dim": (2,)}, {"depth": (2,)}, {"width": (2,)}))

COLUMNS = (
    Column("code", "settings.latent_dim"),
    Column("depth", "settings.depth"),
    Column("width", "settings.width"),
    Column("Adam lr", "settings.learning_rate", "g"),
    Column("parameters", "parameters"),
    Column("distortion ‖x − x̂‖²", "metrics.distortion", ".2f"),
    Column("rate KL (nats)", "metrics.rate", ".2f"),
    Column("test MSE", "metrics.test_mse", ".4f"),
    Column("inactive", "metrics.inactive"),
    Column("FID, {eval_samples} samples", "metrics.fid", ".2f"),
    Column("real vs real", "metrics.fid_real_vs_real", ".2f"),
    Column("classifier score", "metrics.classifier_score", ".2f"),
    Column("s / epoch", "timing.seconds_per_epoch", ".1f"),
)

EXPERIMENT = Experiment(
    name=NAME,
    title="Seed 004: the VAE's latent size, depth, width and learning rate on MNIST",
    profiles={"full": FULL, "quick": QUICK},
    run_cell=run_vae_study_cell,
    columns=COLUMNS,
    id_labels=(("z", "latent_dim"), ("depth", "depth"), ("width", "width"), ("lr", "learning_rate"),
               ("seed", "seed")),
    notes=(
        "The seed's loss, ‖x − x̂‖² summed over pixels + KL, {epochs} epochs; one setting changed per row from "
        "the base (code 8, depth 1, width 1, Adam 0.001). Distortion and rate on the 10,000 test images with "
        "one sampled code each; test MSE per pixel through the posterior mean; inactive: E[σ²] > 0.9.",
        "FID[mnist-cnn] and classifier score of {eval_samples} samples of N(0, I), against the test split; "
        "real vs real: as many real training images against the same reference. s / epoch: shared 2-core CPU.",
    ),
)
