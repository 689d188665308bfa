"""Thesis Figures 4.1 and 4.2: conditional against unconditional DRAW on MNIST.

Grid: timesteps T in {1, 2, 4, 8, 16, 32} at a total latent size T*z = 64,
LSTM 256, each with and without the digit label fed to the encoder and the
decoder.  Per cell: the test-split reconstruction error (BCE per pixel, as
the thesis, and -ELBO in nats), FID[mnist-cnn] of 10,000 samples against the
test split and, for conditional models, how often the shipped MNIST
classifier reads the asked-for digit in those samples (digits cycle 0-9).

The unconditional cells are the T*z = 64 cells of `thesis_timesteps`: when
that sweep has finished them in the same results folder they are copied,
not retrained (run it first).

Figures (`mnistgen figures`): 4.1, reconstruction error and FID against T,
conditional and not; 4.2, 64 samples conditioned on 9 from T=8, z=8.
"""

from mnistgen_tf.sweep import Experiment, Profile, fid_baseline
from mnistgen_tf.sweeps.draw_cells import (COLUMNS, FULL_SETTINGS, ID_LABELS, QUICK_SETTINGS, by_loss,
                                           converged_variant, epochs_text, featured_samples, run_draw_cell,
                                           total_latent)
from mnistgen_tf.sweeps.thesis_timesteps import NAME as TIMESTEPS

NAME = "thesis_conditional"

FULL = Profile(
    settings=dict(FULL_SETTINGS),
    grids=({("timesteps", "z_dim"): total_latent(64, (1, 2, 4, 8, 16, 32)), "conditional": (False, True),
            "seed": (0,)},),
    featured={"digit": {"timesteps": 8, "z_dim": 8, "conditional": True}},
)

QUICK = Profile(
    settings=dict(QUICK_SETTINGS),
    grids=({("timesteps", "z_dim"): total_latent(4, (1, 2)), "conditional": (False, True), "seed": (0,)},),
    featured={"digit": {"timesteps": 2, "z_dim": 2, "conditional": True}},
)


def draw_conditional_vs_not(results, path):
    """Figure 4.1: test BCE per pixel and FID against T, with and without the label."""
    from mnistgen_tf.figures import save_line_panels

    if not results.records:
        return False
    settings = results.profile.settings

    def series(key):
        out = {}
        for loss, group in by_loss(results.records).items():
            for conditional, label in ((False, "unconditional"), (True, "conditional")):
                records = [r for r in group if r["settings"]["conditional"] == conditional]
                if records:
                    out[f"{label}, {loss}" if loss else label] = (
                        [r["settings"]["timesteps"] for r in records], [r["metrics"][key] for r in records])
        return out

    total = {r["settings"]["timesteps"] * r["settings"]["z_dim"] for r in results.records}
    save_line_panels(path, "timesteps T", [
        ("test BCE per pixel", series("bce_per_pixel")),
        (f"FID[{settings['features']}-cnn], {settings['fid_samples']} samples", series("fid")),
    ], title=f"DRAW on MNIST, T·z = {', '.join(map(str, sorted(total)))}, LSTM {settings['units']}, "
             f"{epochs_text(settings)}")
    return True


# Figure 4.2: 64 samples of the conditional model asked for one digit (9).
draw_digit_samples = featured_samples("digit")


EXPERIMENT = Experiment(
    name=NAME,
    title="Thesis Figure 4.1 on MNIST: conditional against unconditional DRAW",
    profiles={"full": FULL, "quick": QUICK},
    run_cell=run_draw_cell,
    columns=tuple(COLUMNS[k] for k in ("T", "z", "cond", "seed", "params", "bce", "elbo", "kl", "fid",
                                       "accuracy", "variance_law", "inactive", "inactive_per_step",
                                       "variance_law_per_step")),
    id_labels=ID_LABELS,
    figures=(
        ("thesis_fig4_1_conditional.png", draw_conditional_vs_not),
        ("thesis_fig4_2_digit9.png", draw_digit_samples),
    ),
    shares_cells_with=(TIMESTEPS,),
    baseline=fid_baseline,
    notes=(
        "BCE per pixel: binary cross-entropy of the final canvas averaged over pixels and test images (the "
        "thesis's reconstruction error); -ELBO: per image, summed cross-entropy plus KL, in nats.",
        "FID: {fid_samples} samples against the whole test split with the shipped MNIST CNN's features "
        "({features}-cnn), not InceptionV3; conditional samples cycle the digits 0-9.",
        "Label accuracy: fraction of those samples the same CNN classifies as the digit asked for.",
        "Variance law and inactive variables (E[sigma^2] > 0.9) over all T·z variables, then per step, "
        "steps 1 to T, as the thesis's variance-law code counts them.",
        "Trained with loss_scaling={loss_scaling} for {epochs} epochs (batch {batch_size}, Adam {learning_rate}).",
    ),
)

# The same grid under the thesis's loss and the ELBO, each cell trained until its -ELBO settles.
CONVERGED = converged_variant(EXPERIMENT)
