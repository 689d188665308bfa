"""One DRAW cell of a sweep: train (resuming), evaluate, keep the figures' arrays.

A cell's settings are `registry.DrawOptions` options plus the evaluation
settings in `EVAL_DEFAULTS`.  Training goes to ``CELL/run/`` with
``resume`` when it holds a run, so a cell interrupted after some epochs continues from its
last checkpoint.  Evaluation is `mnistgen_tf.evaluate` on the test split.
"""

import dataclasses
import logging
import time

import keras

from mnistgen_tf import data
from mnistgen_tf.evaluate import figure_samples, sample_metrics, test_split_metrics, to_uint8
from mnistgen_tf.metrics.features import get_extractor
from mnistgen_tf.metrics.fid import stats_of_split
from mnistgen_tf.sweep import Column, train_cell
from mnistgen_tf.registry import DrawOptions

DRAW_OPTIONS = {field.name for field in dataclasses.fields(DrawOptions)}

EVAL_DEFAULTS = {
    "test_images": None,  # None: the whole test split
    "fid_samples": 10_000,
    "features": "mnist",  # the FID's feature extractor (and the label classifier)
    "figure_images": 8,  # test images whose canvases after every step are kept
    "figure_samples": 64,
    "figure_digit": 9,  # digit of the kept samples of a conditional model (thesis Figure 4.2)
}
# Evaluation settings only some experiments set (so the others' saved cells keep their settings).
OPTIONAL_EVAL = {"feature_weights": "imagenet"}  # Inception's weights: None = random (plumbing tests)

# The paper's settings for the thesis's MNIST sweeps (chapters 3-4).  The
# thesis's loss scaling collapses the posterior on MNIST (every latent
# variable inactive), so the sweeps train on the ELBO; loss_scaling="thesis"
# is one setting away.  4 epochs of the training split (55,000 images; the
# last 5,000 are held out for validation) fit both sweeps (9 + 6 cells
# trained) in about 90 minutes on a shared 2-core CPU, where an epoch takes
# roughly 6 s per timestep at LSTM 256 (timing.csv records every cell's).
FULL_SETTINGS = {
    "dataset": "mnist", "units": 256, "shared_weights": True, "reconstruction": "bce",
    "loss_scaling": "elbo", "binarize": False, "epochs": 4, "batch_size": 100, "learning_rate": 1e-3,
    "subset": None, **EVAL_DEFAULTS,
}
# Tiny: 270 training images, one epoch, LSTM 32, 300 test images, 200 samples
# (above the 128 features of mnist-cnn, so the FID's covariance is full rank).
QUICK_SETTINGS = {**FULL_SETTINGS, "units": 32, "epochs": 1, "subset": 300, "test_images": 300,
                  "fid_samples": 200}

ID_LABELS = (("T", "timesteps"), ("z", "z_dim"), ("cond", "conditional"), ("seed", "seed"))


def total_latent(size, timesteps):
    """(T, z) points with T * z = size, for a tuple axis ("timesteps", "z_dim")."""
    return tuple((t, size // t) for t in timesteps if size % t == 0)


def epochs_text(settings):
    if settings.get("convergence_delta"):
        return f"until converged (at most {settings['epochs']} epochs)"
    return f"{settings['epochs']} epoch" + "s" * (settings["epochs"] != 1)


def by_loss(records):
    """``{label: records}``: one group per loss scaling when the records have several, else ``{"": records}``."""
    losses = list(dict.fromkeys(r["settings"]["loss_scaling"] for r in records))
    if len(losses) <= 1:
        return {"": records}
    return {loss: [r for r in records if r["settings"]["loss_scaling"] == loss] for loss in losses}


def latent_size(record):
    return record["settings"]["timesteps"] * record["settings"]["z_dim"]


# Columns every DRAW table shows; experiments pick and extend them.
COLUMNS = {
    "T": Column("T", "settings.timesteps"),
    "z": Column("z", "settings.z_dim"),
    "Tz": Column("T·z", latent_size),
    "cond": Column("conditional", "settings.conditional"),
    "seed": Column("seed", "settings.seed"),
    "loss": Column("loss", "settings.loss_scaling"),
    "epochs": Column("epochs", "epochs"),  # trained (fewer than the profile's when the run converged)
    "params": Column("parameters", "parameters"),
    "bce": Column("BCE per pixel", "metrics.bce_per_pixel", ".5f"),
    "elbo": Column("-ELBO (nats)", "metrics.neg_elbo_nats", ".2f"),
    "kl": Column("KL (nats)", "metrics.kl_nats", ".2f"),
    "fid": Column("FID[{features}-cnn], {fid_samples} samples", "metrics.fid", ".3f"),
    "accuracy": Column("label accuracy", "metrics.label_accuracy", ".4f"),
    "variance_law": Column("variance law", "metrics.variance_law", ".4f"),
    "inactive": Column("inactive", "metrics.inactive_count"),
    "inactive_fraction": Column("inactive fraction", "metrics.inactive_fraction", ".4f"),
    # Per step, as the thesis's variance-law code counts (its loop resets the count each step).
    "inactive_per_step": Column("inactive per step", lambda r: _per_step(r, "inactive_per_step", "{}")),
    "variance_law_per_step": Column("variance law per step", lambda r: _per_step(r, "variance_law", "{:.3f}")),
}


def _per_step(record, key, fmt):
    """A cell's per-step latent statistic `key`, steps 1 to T, as one string (None when not recorded)."""
    values = record.get("latent", {}).get(key)
    return None if values is None else " ".join(fmt.format(v) for v in values)


def featured_samples(role):
    """A figure (``draw(results, path)``): the kept samples of the cell featured as `role`, 8 per row."""
    def draw(results, path):
        from mnistgen_tf.figures import save_grid_png

        record = results.featured(role)
        if record is None:
            return False
        save_grid_png(results.arrays(record)["samples"] / 255.0, path, ncols=8)
        return True

    return draw


class _NoRetracingWarnings(logging.Filter):
    """Every cell builds new models, so TensorFlow's warnings about retracing say nothing here."""

    def filter(self, record):
        return "triggered tf.function retracing" not in record.getMessage()


def _quiet_retracing():
    logger = logging.getLogger("tensorflow")
    if not any(isinstance(f, _NoRetracingWarnings) for f in logger.filters):
        logger.addFilter(_NoRetracingWarnings())




def run_draw_cell(cell_dir, settings, verbose=0):
    """Train and evaluate one DRAW cell; returns ``(record, arrays)`` for `sweep.run`."""
    unknown = set(settings) - DRAW_OPTIONS - set(EVAL_DEFAULTS) - set(OPTIONAL_EVAL)
    if unknown:
        raise ValueError(f"unknown DRAW cell settings: {sorted(unknown)}")
    _quiet_retracing()
    train_options = {k: v for k, v in settings.items() if k in DRAW_OPTIONS}
    evaluation = {**EVAL_DEFAULTS, **OPTIONAL_EVAL,
                  **{k: v for k, v in settings.items() if k in EVAL_DEFAULTS or k in OPTIONAL_EVAL}}
    # Before training: a missing extractor (no Inception weights here) fails now, not after hours.
    extractor = get_extractor(evaluation["features"], weights=evaluation["feature_weights"])
    cell = train_cell("draw", cell_dir, train_options, verbose)
    trainer, generator, config, run_info = cell.trainer, cell.generator, cell.config, cell.run_info

    started = time.perf_counter()
    seed = config["seed"]
    images, labels = data.load(config["dataset"], "test")
    n_test = evaluation["test_images"] or len(images)
    x = data.for_evaluation(images[:n_test], config)
    metrics, latent, canvases = test_split_metrics(trainer, x, labels[:n_test], seed, evaluation["figure_images"])
    reference = stats_of_split(config["dataset"], "test", extractor)  # cached after the first cell
    metrics.update(sample_metrics(generator, extractor, reference, evaluation["fid_samples"], seed))
    samples, digit = figure_samples(generator, evaluation["figure_samples"], evaluation["figure_digit"], seed)
    eval_seconds = time.perf_counter() - started

    kl_per_step = metrics.pop("kl_per_step_nats")
    per_digit = metrics.pop("label_accuracy_per_digit", None)
    metrics.update(variance_law=latent.overall_variance_law, inactive_count=latent.inactive_count,
                   inactive_fraction=latent.inactive_fraction)
    shape = x.shape[1:]  # (H, W, C)
    record = {
        "metrics": metrics,
        "label_accuracy_per_digit": per_digit,
        "latent": {**latent.to_dict(), "kl_per_step_nats": kl_per_step},
        "samples": {"test_split": f"{config['dataset']}:test", "test_images": n_test,
                    "fid_samples": evaluation["fid_samples"], "fid_reference": f"{config['dataset']}:test",
                    "fid_reference_images": reference.count, "label_samples": evaluation["fid_samples"]
                    if per_digit is not None else None},
        "extractor": extractor.name,
        "epochs": len(cell.history),  # trained: fewer than config["epochs"] when the run converged
        "converged": run_info.get("converged", False),
        "train_images": run_info["train_images"],
        "val_images": run_info["val_images"],
        "parameters": trainer.count_params(),
        "generator_parameters": generator.count_params(),
        "timing": {**cell.timing, "eval_seconds": round(eval_seconds, 1)},
    }
    arrays = {
        "test_images": to_uint8(x[:evaluation["figure_images"]]),
        "reconstruction_steps": to_uint8(canvases.reshape(len(canvases), trainer.timesteps, *shape)),
        "samples": to_uint8(samples),
        "samples_digit": digit,
    }
    keras.backend.clear_session()  # the next cell builds new models; free this one's graphs
    return record, arrays


# Trained to convergence (the thesis-fidelity issue): until the validation
# -ELBO moves by less than 0.5 nats over two epochs, at most 30 epochs, under
# the thesis's loss in the reading `thesis_fidelity` found consistent with its
# figures (KL averaged over units and steps) and under the ELBO.
CONVERGED_SETTINGS = {"epochs": 30, "convergence_delta": 0.5}
CONVERGED_LOSSES = ("thesis_kl_mean", "elbo")
# Quick: any change counts as converged, so each tiny cell stops after 3 of 4 epochs.
QUICK_CONVERGED_SETTINGS = {"epochs": 4, "convergence_delta": 1e9}
CONVERGED_NOTE = (
    "Trained until the validation -ELBO moved by less than {convergence_delta} nats over 2 epochs, at most "
    "{epochs} (column epochs: the epochs trained; batch {batch_size}, Adam {learning_rate}; the epoch kept has "
    "the lowest validation loss of the cell's own training loss); loss "
    "thesis_kl_mean: BCE averaged over pixels + KL averaged over units and steps (the thesis's loss in the "
    "reading consistent with its figures, see thesis_fidelity); elbo: the negative ELBO.")


def converged_variant(experiment):
    """`experiment` trained to convergence under each of `CONVERGED_LOSSES`, named ``<name>_converged``.

    Its cells are the experiment's with a loss axis in front; its figures draw
    one line per loss, to files named ``*_converged.png``; its last note, the
    training budget's, is replaced.
    """
    if "{epochs}" not in experiment.notes[-1]:
        raise ValueError(f"{experiment.name}: the last note should state the training budget, to be replaced")
    def profile(base, settings):
        return dataclasses.replace(
            base, settings={**base.settings, **settings},
            grids=tuple({"loss_scaling": CONVERGED_LOSSES, **grid} for grid in base.grids),
            featured={role: {"loss_scaling": CONVERGED_LOSSES[0], **chosen} for role, chosen in base.featured.items()})

    return dataclasses.replace(
        experiment, name=experiment.name + "_converged", title=experiment.title + ", trained to convergence",
        profiles={"full": profile(experiment.profiles["full"], CONVERGED_SETTINGS),
                  "quick": profile(experiment.profiles["quick"], QUICK_CONVERGED_SETTINGS)},
        columns=(COLUMNS["loss"], COLUMNS["epochs"], *experiment.columns),
        id_labels=(("", "loss_scaling"), *experiment.id_labels),
        shares_cells_with=tuple(name + "_converged" for name in experiment.shares_cells_with),
        figures=tuple((name.replace(".png", "_converged.png"), draw) for name, draw in experiment.figures),
        notes=(*experiment.notes[:-1], CONVERGED_NOTE))
