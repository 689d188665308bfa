"""Seed 003's DCGAN on Fashion-MNIST (and MNIST), run as stated and then varied.

Cells (`registry.GanOptions`, 100-d noise, batch 245):

- the seed's settings on Fashion-MNIST, 50 epochs as stated: Adam 0.001
  (β1 0.9), real labels 0.9;

and, 25 epochs each (sized to a shared 2-core CPU, 1.5-2 minutes an epoch;
the table compares every cell at epoch 25 too):

- the DCGAN paper's optimiser instead (Adam 2e-4, β1 0.5);
- the seed's settings without label smoothing (real labels 1);
- the seed's settings with a learning-rate schedule (its future work):
  cosine decay of both rates over the run's epochs;
- the seed's settings on MNIST (the seed's title).

Every epoch the run logs the discriminator and generator losses and the
FID[dataset-cnn] of 5,000 samples, and keeps a grid from fixed noise.  Per
cell, at the end: FID of 10,000 samples against the test split beside the
real-vs-real FID at the same size, the classifier score, the class histogram
of the samples under the shipped classifier (mode collapse shows as a skew),
and the numbers behind the seed's claims: how often each loss fell from one
epoch to the next, the FID trend over the last 10 epochs, and the correlation
of the discriminator's loss with the FID across epochs.
"""

import os

import keras
import numpy as np

from mnistgen_tf.metrics.features import ClassifierFeatures
from mnistgen_tf.metrics.fid import real_baseline, stats_of_generator
from mnistgen_tf.metrics.frechet import fid_from_stats
from mnistgen_tf.sampling import sample
from mnistgen_tf.sweep import RUN_DIR, Column, Experiment, Profile, train_cell

NAME = "seed003_gan"
STRIP_EPOCHS = (1, 5, 10, 25, 50)  # the strip of epochs; those past the run's end are left out
ABLATION_EPOCHS = 25
HISTORY_KEYS = ("d_loss", "g_loss", "fid", "d_real", "d_fake")
CLASSES = {
    "mnist": tuple(str(d) for d in range(10)),
    "fashion_mnist": ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
                      "Ankle boot"),
}

# 50 epochs of 55,000 images at batch 245 (the seed's): about 1-3 minutes an
# epoch on a shared 2-core CPU, FID of 5,000 samples included.
FULL = Profile(
    settings={"dataset": "fashion_mnist", "latent_dim": 100, "epochs": 50, "batch_size": 245,
              "learning_rate": 1e-3, "beta_1": 0.9, "real_label": 0.9, "lr_schedule": "constant",
              "fid_samples": 5000, "subset": None, "seed": 0, "eval_samples": 10_000,
              "compare_at_epoch": ABLATION_EPOCHS},  # every cell reaches it: its epoch FID compares them all
    grids=(
        {"dataset": ("fashion_mnist",)},
        {("learning_rate", "beta_1", "epochs"): ((2e-4, 0.5, ABLATION_EPOCHS),)},
        {("real_label", "epochs"): ((1.0, ABLATION_EPOCHS),)},
        {("lr_schedule", "epochs"): (("cosine", ABLATION_EPOCHS),)},
        {("dataset", "epochs"): (("mnist", ABLATION_EPOCHS),)},
    ),
)
QUICK = Profile(
    settings={**FULL.settings, "latent_dim": 16, "epochs": 2, "batch_size": 50, "fid_samples": 200, "subset": 300,
              "eval_samples": 300, "compare_at_epoch": 1},
    grids=({"dataset": ("fashion_mnist",)}, {("real_label", "epochs"): ((1.0, 1),)}),
)


def _share(falls):
    return float(np.mean(falls)) if len(falls) else None


def run_gan_cell(cell_dir, settings, verbose=0):
    """Train (resuming) and measure one DCGAN; returns ``(record, arrays)`` for `sweep.run`."""
    settings = dict(settings)
    n_eval, common = settings.pop("eval_samples"), settings.pop("compare_at_epoch")
    cell = train_cell("gan", cell_dir, settings, verbose)
    generator, config, history = cell.generator, cell.config, cell.history
    dataset, seed = config["dataset"], config["seed"]

    classifier = ClassifierFeatures(dataset)
    distance, _, reference = real_baseline(dataset, classifier, n_eval, "test")
    fid = fid_from_stats(stats_of_generator(generator, classifier, n_eval, seed=seed + 2), reference)
    images = sample(generator, n_eval, seed=seed + 3)
    histogram = np.bincount(classifier.classify(images), minlength=10)
    curves = {key: np.array([row[key] for row in history], np.float64) for key in HISTORY_KEYS}
    last = curves["fid"][-10:]
    record = {
        "metrics": {
            "fid": fid, "fid_real_vs_real": distance, "classifier_score": classifier.score(images),
            "final_d_loss": curves["d_loss"][-1], "final_g_loss": curves["g_loss"][-1],
            "best_epoch_fid": float(curves["fid"].min()), "best_epoch": int(np.argmin(curves["fid"])) + 1,
            "fid_at_compare_epoch": float(curves["fid"][common - 1]),
            "d_loss_fell": _share(np.diff(curves["d_loss"]) < 0), "g_loss_fell": _share(np.diff(curves["g_loss"]) < 0),
            "fid_slope_last_10": float(np.polyfit(np.arange(len(last)), last, 1)[0]) if len(last) > 1 else None,
            "corr_d_loss_fid": (float(np.corrcoef(curves["d_loss"], curves["fid"])[0, 1])
                                if len(history) > 2 else None),
            "rarest_class_share": float(histogram.min() / histogram.sum()),
        },
        "class_histogram": dict(zip(CLASSES[dataset], histogram.tolist())),
        "extractor": classifier.name, "eval_samples": n_eval, "fid_samples_per_epoch": config["fid_samples"],
        "epochs": config["epochs"], "train_images": cell.run_info["train_images"],
        "parameters": cell.run_info["parameters"], "generator_parameters": cell.run_info["generator_parameters"],
        "timing": cell.timing,
    }
    arrays = {f"history_{key}": values.astype(np.float32) for key, values in curves.items()}
    arrays["class_histogram"] = histogram.astype(np.int64)
    keras.backend.clear_session()
    return record, arrays


def _settings_text(record):
    s = record["settings"]
    return (f"{s['dataset']}, Adam {s['learning_rate']:g} (β1 {s['beta_1']:g}), real label {s['real_label']:g}, "
            f"{s['lr_schedule']}")


COLUMNS = (
    Column("data", "settings.dataset"),
    Column("Adam lr", "settings.learning_rate", "g"),
    Column("β1", "settings.beta_1", "g"),
    Column("real label", "settings.real_label", "g"),
    Column("lr schedule", "settings.lr_schedule"),
    Column("FID, {eval_samples} samples", "metrics.fid", ".2f"),
    Column("real vs real", "metrics.fid_real_vs_real", ".2f"),
    Column("epochs", "epochs"),
    Column("epoch {compare_at_epoch} FID ({fid_samples})", "metrics.fid_at_compare_epoch", ".2f"),
    Column("lowest epoch FID ({fid_samples})", "metrics.best_epoch_fid", ".2f"),
    Column("at epoch", "metrics.best_epoch"),
    Column("classifier score", "metrics.classifier_score", ".2f"),
    Column("rarest class share", "metrics.rarest_class_share", ".3f"),
    Column("D loss fell", "metrics.d_loss_fell", ".2f"),
    Column("G loss fell", "metrics.g_loss_fell", ".2f"),
    Column("FID slope, last 10 epochs", "metrics.fid_slope_last_10", ".3f"),
    Column("corr(D loss, FID)", "metrics.corr_d_loss_fid", ".2f"),
)


# ---------------------------------------------------------------- figures

def draw_losses(results, path):
    """The seed's loss graph, one panel per cell: D and G loss per epoch, and the epoch FID."""
    from mnistgen_tf.figures import plt, write_png

    records = results.records
    if not records:
        return False
    fig, axes = plt.subplots(1, len(records), figsize=(4 * len(records), 3.6), squeeze=False)
    for ax, record in zip(axes[0], records):
        arrays = results.arrays(record)
        epochs = np.arange(1, len(arrays["history_d_loss"]) + 1)
        ax.plot(epochs, arrays["history_d_loss"], label="discriminator")
        ax.plot(epochs, arrays["history_g_loss"], label="generator")
        ax.set(xlabel="epoch", ylabel="loss")
        ax.set_title(_settings_text(record), fontsize=7)
        fid_ax = ax.twinx()
        fid_ax.plot(epochs, arrays["history_fid"], color="C2", ls=":", label="FID")
        fid_ax.set_ylabel(f"FID ({results.profile.settings['fid_samples']} samples)", color="C2")
        if ax is axes[0][0]:
            ax.legend(fontsize=7, loc="upper right")
    fig.suptitle("Seed 003 DCGAN: losses per epoch (solid) and FID (dotted)", fontsize=10)
    write_png(fig, path)
    return True


def draw_strip(results, path):
    """Samples from the fixed noise after epochs 1, 5, 10, 25 and 50, one row per cell."""
    import matplotlib.image

    from mnistgen_tf.figures import plt, write_png

    records = results.records
    if not records:
        return False
    epochs = [e for e in STRIP_EPOCHS if e <= max(record["epochs"] for record in records)]
    fig, axes = plt.subplots(len(records), len(epochs), figsize=(2.4 * len(epochs), 2.6 * len(records)),
                             squeeze=False)
    for row, record in zip(axes, records):
        folder = os.path.join(results.dir, "cells", record["cell"], RUN_DIR, "samples")
        for ax, epoch in zip(row, epochs):
            if epoch > record["epochs"]:  # a shorter run: its row ends early
                ax.axis("off")
                continue
            ax.imshow(matplotlib.image.imread(os.path.join(folder, f"epoch_{epoch:03d}.png")))
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_title(f"epoch {epoch}", fontsize=8)
        row[0].set_ylabel(_settings_text(record).replace(", ", "\n", 1), fontsize=6)
    write_png(fig, path)
    return True


def draw_histograms(results, path):
    """Classes of 10,000 samples under the shipped classifier, one panel per cell."""
    from mnistgen_tf.figures import plt, write_png

    records = results.records
    if not records:
        return False
    fig, axes = plt.subplots(1, len(records), figsize=(3.6 * len(records), 3.4), squeeze=False)
    for ax, record in zip(axes[0], records):
        names = list(record["class_histogram"])
        ax.bar(range(10), results.arrays(record)["class_histogram"])
        ax.axhline(record["eval_samples"] / 10, color="k", lw=0.8, ls="--")
        ax.set_xticks(range(10), names, rotation=90, fontsize=6)
        ax.set_title(_settings_text(record), fontsize=7)
    fig.suptitle("Classes of the samples (dashed: uniform); mode collapse shows as a skew", fontsize=10)
    write_png(fig, path)
    return True


EXPERIMENT = Experiment(
    name=NAME,
    title="Seed 003: DCGAN on Fashion-MNIST and MNIST, the seed's settings and variations",
    profiles={"full": FULL, "quick": QUICK},
    run_cell=run_gan_cell,
    columns=COLUMNS,
    id_labels=(("", "dataset"), ("lr", "learning_rate"), ("beta", "beta_1"), ("real", "real_label"),
               ("", "lr_schedule"), ("seed", "seed")),
    figures=(
        ("seed003_gan_losses.png", draw_losses),
        ("seed003_gan_epochs.png", draw_strip),
        ("seed003_gan_classes.png", draw_histograms),
    ),
    notes=(
        "FID[dataset-cnn] of {eval_samples} samples of the last epoch's generator against the test split, "
        "beside the FID of {eval_samples} real training images against the same reference (the bias floor "
        "at this size); lowest epoch FID: the best of the per-epoch FIDs of {fid_samples} samples "
        "(history.csv).",
        "Classifier score: exp E KL(p(y|x) || p(y)) with the shipped classifier (1 to 10); rarest class share: "
        "the smallest fraction of samples read as one class (0.1 when even).",
        "D/G loss fell: the fraction of epochs whose loss is below the previous epoch's (the seed: 'keep "
        "decreasing from each epoch'); FID slope: least-squares FID change per epoch over the last 10 epochs "
        "(negative: still improving, the seed's 'needs more epochs'); corr(D loss, FID): across epochs.",
        "{batch_size}-image batches, {latent_dim}-d noise, the last epoch's generator; the seed's run "
        "{epochs} epochs, the others as in the epochs column (sized to the machine); epoch {compare_at_epoch} "
        "FID: the per-epoch FID every cell reaches, the like-for-like comparison.",
    ),
)
