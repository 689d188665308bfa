"""Which loss did the thesis train on, and does its own LSTM matter?  Measured on MNIST.

The thesis never prints its ``kl_loss``.  Two readings (`mnistgen_tf.models.draw.Draw`):
``thesis``, the KL summed over latent units and averaged over steps (weight
784/T against the ELBO), and ``thesis_kl_mean``, the KL averaged over units
and steps as in the Keras VAE tutorial whose names the thesis uses (weight
784/(T·z), about 12 at T·z = 64).  What the thesis shows, and each grid here
tests:

- Figure 4.2, varied samples of one digit from conditional DRAW T = 8, z = 8:
  the conditional cells under each reading (and the ELBO), with the spread of
  64 samples of a 9 (the standard deviation across samples, averaged over
  pixels) beside that of 64 real 9s;
- Figure 3.3, inactive variables that fall as T grows at T·z = 64: the
  unconditional cells T = 2, 8, 32 under each reading;
- the thesis's own LSTM (``cell="thesis"``) against Keras's on the
  conditional T = 8 model, trained on the ELBO for the same epochs.
"""

import numpy as np

from mnistgen_tf import data
from mnistgen_tf.sweep import Column, Experiment, Profile
from mnistgen_tf.sweeps.draw_cells import COLUMNS, FULL_SETTINGS, QUICK_SETTINGS, run_draw_cell, total_latent

NAME = "thesis_fidelity"
READINGS = ("thesis", "thesis_kl_mean")


def _grids(timesteps, conditional_t):
    """The three questions' cells for the T values `timesteps` (T·z = 64 for each) and the conditional T."""
    z = 64 // conditional_t
    return (
        {"loss_scaling": READINGS + ("elbo",), "cell": ("keras",), ("timesteps", "z_dim"): ((conditional_t, z),),
         "conditional": (True,)},
        {"loss_scaling": READINGS, "cell": ("keras",), ("timesteps", "z_dim"): total_latent(64, timesteps),
         "conditional": (False,)},
        {"loss_scaling": ("elbo",), "cell": ("thesis",), ("timesteps", "z_dim"): ((conditional_t, z),),
         "conditional": (True,)},
    )


FULL = Profile(settings={**FULL_SETTINGS, "cell": "keras", "seed": 0}, grids=_grids((2, 8, 32), 8))
QUICK = Profile(settings={**QUICK_SETTINGS, "cell": "keras", "seed": 0},
                grids=tuple({**g, ("timesteps", "z_dim"): ((2, 2),)} for g in _grids((2,), 2)))


def sample_spread(images):
    """Standard deviation across images, averaged over pixels: how much samples of one digit vary."""
    return float(np.asarray(images, np.float64).std(axis=0).mean())


def run_fidelity_cell(cell_dir, settings, verbose=0):
    record, arrays = run_draw_cell(cell_dir, settings, verbose)
    if settings["conditional"]:  # samples of one digit, beside as many real ones
        digit, n = int(arrays["samples_digit"]), len(arrays["samples"])
        images, labels = data.load(settings["dataset"], "test")
        record["metrics"]["digit_sample_spread"] = sample_spread(arrays["samples"] / 255.0)
        record["metrics"]["digit_real_spread"] = sample_spread(data.to_float(images[labels == digit][:n]))
    return record, arrays


EXPERIMENT = Experiment(
    name=NAME,
    title="Thesis fidelity: two readings of its KL term, and its own LSTM (MNIST)",
    profiles={"full": FULL, "quick": QUICK},
    run_cell=run_fidelity_cell,
    columns=(COLUMNS["loss"], Column("cell", "settings.cell"), COLUMNS["T"], COLUMNS["z"],
             COLUMNS["cond"], COLUMNS["elbo"], COLUMNS["kl"], COLUMNS["inactive"],
             COLUMNS["inactive_per_step"],
             COLUMNS["fid"], COLUMNS["accuracy"],
             Column("spread of 64 samples of a 9", "metrics.digit_sample_spread", ".4f"),
             Column("of 64 real 9s", "metrics.digit_real_spread", ".4f")),
    id_labels=(("", "loss_scaling"), ("", "cell"), ("T", "timesteps"), ("z", "z_dim"), ("cond", "conditional")),
    notes=(
        "Every cell: DRAW, LSTM {units}, {epochs} epochs on the 55,000 training images, Adam {learning_rate}; "
        "evaluated on the test split (-ELBO and KL in nats whatever the training loss; inactive: E[σ²] > 0.9, "
        "of T·z = 64 variables, and per step) and with {fid_samples} samples.",
        "Losses: elbo = BCE summed over pixels + KL; thesis = BCE averaged over pixels + KL summed over units "
        "/ T; thesis_kl_mean = BCE averaged over pixels + KL averaged over units and steps.",
        "Spread: standard deviation across the samples conditioned on the digit, averaged over pixels (0 when "
        "every sample is the same picture), beside the same for as many real test images of that digit.",
    ),
)
