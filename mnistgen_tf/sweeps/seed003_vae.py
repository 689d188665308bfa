"""Seed 003's VAE on Fashion-MNIST: its loss analysis, reconstructions and latent map, measured.

Cells (`registry.VaeOptions`, BCE + KL, β = 1): codes of 2 units (the
seed's latent-map figure) and 16 units, on Fashion-MNIST, and the 16-unit one
on MNIST for the comparison with the GAN.

Per cell, on the test split: the negative ELBO (BCE summed over pixels plus
KL, nats per image) and its two parts; the reconstruction error per class
(BCE per image, its excess over the images' own entropy, and mean squared
error per pixel, from the posterior mean), which tests the seed's "footwear
and bags lose the most detail"; the class
structure of the code space as the accuracy of a 10-nearest-neighbour vote
among training codes, per class (its "orange and light blue separate, red and
pink overlap" in numbers, with class names); and FID[dataset-cnn] of 10,000
samples from N(0, I) beside the real-vs-real FID at that size.
"""

import keras
import numpy as np

from mnistgen_tf import data
from mnistgen_tf.evaluate import to_uint8
from mnistgen_tf.metrics.features import ClassifierFeatures
from mnistgen_tf.metrics.fid import real_baseline, stats_of_generator
from mnistgen_tf.metrics.frechet import fid_from_stats
from mnistgen_tf.sampling import sample
from mnistgen_tf.sweep import Column, Experiment, Profile, train_cell
from mnistgen_tf.sweeps.seed003_gan import CLASSES

NAME = "seed003_vae"
HISTORY_KEYS = ("loss", "reconstruction", "kl", "val_loss", "val_reconstruction", "val_kl")
NEIGHBOURS = 10
REFERENCE_CODES = 10_000  # training images whose codes the nearest-neighbour vote uses

# 30 epochs of 55,000 images, batch 128: about 20-40 s an epoch on a shared 2-core CPU.
FULL = Profile(
    settings={"dataset": "fashion_mnist", "latent_dim": 16, "beta": 1.0, "reconstruction": "bce",
              "conditional": False, "epochs": 30, "batch_size": 128, "learning_rate": 1e-3, "subset": None,
              "seed": 0, "test_images": None, "eval_samples": 10_000},
    grids=({"dataset": ("fashion_mnist",), "latent_dim": (2, 16)}, {"dataset": ("mnist",), "latent_dim": (16,)}),
)
QUICK = Profile(
    settings={**FULL.settings, "epochs": 2, "subset": 300, "test_images": 300, "eval_samples": 300},
    grids=FULL.grids,
)


def nearest_neighbour_accuracy(codes, labels, reference_codes, reference_labels, k=NEIGHBOURS, chunk=1000):
    """Per class, how often the majority label of a code's `k` nearest reference codes is its own label."""
    votes = np.empty(len(codes), np.int64)
    squared = np.sum(reference_codes ** 2, axis=1)
    for start in range(0, len(codes), chunk):
        block = codes[start:start + chunk]
        distances = squared[None, :] - 2 * block @ reference_codes.T  # + |block|², the same along each row
        nearest = np.argpartition(distances, k - 1, axis=1)[:, :k]
        counts = np.apply_along_axis(np.bincount, 1, reference_labels[nearest], minlength=10)
        votes[start:start + chunk] = np.argmax(counts, axis=1)
    right = votes == labels
    return float(right.mean()), [float(right[labels == c].mean()) for c in range(10)]


def pca_2d(codes):
    """The codes projected on their first two principal axes (NumPy SVD)."""
    centred = codes - codes.mean(axis=0)
    _, _, axes = np.linalg.svd(centred, full_matrices=False)
    return centred @ axes[:2].T


def run_vae_cell(cell_dir, settings, verbose=0):
    """Train (resuming) and measure one VAE; returns ``(record, arrays)`` for `sweep.run`."""
    settings = dict(settings)
    n_test, n_eval = settings.pop("test_images"), settings.pop("eval_samples")
    cell = train_cell("vae", cell_dir, settings, verbose)
    vae, config, history = cell.trainer, cell.config, cell.history
    dataset, seed = config["dataset"], config["seed"]

    images, labels = data.load(dataset, "test")
    x, labels = data.to_float(images[:n_test or len(images)]), labels[:n_test or len(images)]
    batches = {"image": x, "label": labels.astype("int32")}
    elbo = vae.evaluate(data.batches(batches), verbose=0, return_dict=True)
    reconstructions, means, _ = (np.asarray(t) for t in vae.predict(data.batches(batches), verbose=0))
    p = np.clip(reconstructions, 1e-7, 1 - 1e-7)
    bce = -np.sum(x * np.log(p) + (1 - x) * np.log(1 - p), axis=(1, 2, 3))
    # Grey targets give BCE a floor, the targets' own entropy, which differs between classes
    # (more ink, more grey): the excess over it is what the reconstruction loses.
    q = np.clip(x, 1e-7, 1 - 1e-7)
    excess = bce + np.sum(x * np.log(q) + (1 - x) * np.log(1 - q), axis=(1, 2, 3))
    mse = np.mean((x - reconstructions) ** 2, axis=(1, 2, 3))
    train_images, train_labels = data.load(dataset, "train")
    reference_images = {"image": data.to_float(train_images[:REFERENCE_CODES]),
                        "label": train_labels[:REFERENCE_CODES].astype("int32")}
    reference = vae.predict(data.batches(reference_images), verbose=0)[1]  # posterior means
    knn, knn_per_class = nearest_neighbour_accuracy(means, labels, reference, train_labels[:REFERENCE_CODES])

    classifier = ClassifierFeatures(dataset)
    distance, _, real = real_baseline(dataset, classifier, n_eval, "test")
    fid = fid_from_stats(stats_of_generator(cell.generator, classifier, n_eval, seed=seed + 2), real)
    samples = sample(cell.generator, n_eval, seed=seed + 3)
    names = CLASSES[dataset]
    record = {
        "metrics": {
            "test_neg_elbo": elbo["loss"], "test_bce": elbo["reconstruction"], "test_kl": elbo["kl"],
            "knn_accuracy": knn, "fid": fid, "fid_real_vs_real": distance,
            "classifier_score": classifier.score(samples), "best_epoch": cell.run_info["selected_epoch"],
        },
        "per_class": {name: {"bce": float(bce[labels == c].mean()), "bce_excess": float(excess[labels == c].mean()),
                             "mse": float(mse[labels == c].mean()),
                             "knn_accuracy": knn_per_class[c]} for c, name in enumerate(names)},
        "extractor": classifier.name, "eval_samples": n_eval, "test_images": len(x), "neighbours": NEIGHBOURS,
        "reference_codes": REFERENCE_CODES, "epochs": config["epochs"],
        "train_images": cell.run_info["train_images"], "parameters": cell.run_info["parameters"],
        "timing": cell.timing,
    }
    two_per_class = np.concatenate([np.flatnonzero(labels == c)[:2] for c in range(10)])
    arrays = {
        "history": np.array([[row[key] for key in HISTORY_KEYS] for row in history], np.float32),
        "originals": to_uint8(x[two_per_class]), "reconstructions": to_uint8(reconstructions[two_per_class]),
        "codes_2d": (means if means.shape[1] == 2 else pca_2d(means)).astype(np.float32),
        "code_labels": labels.astype(np.uint8), "samples": to_uint8(samples[:64]),
    }
    keras.backend.clear_session()
    return record, arrays


COLUMNS = (
    Column("data", "settings.dataset"),
    Column("code", "settings.latent_dim"),
    Column("test -ELBO (nats)", "metrics.test_neg_elbo", ".2f"),
    Column("BCE", "metrics.test_bce", ".2f"),
    Column("KL", "metrics.test_kl", ".2f"),
    Column("10-NN class accuracy", "metrics.knn_accuracy", ".3f"),
    Column("FID, {eval_samples} samples", "metrics.fid", ".2f"),
    Column("real vs real", "metrics.fid_real_vs_real", ".2f"),
    Column("classifier score", "metrics.classifier_score", ".2f"),
    Column("best epoch", "metrics.best_epoch"),
)


# ---------------------------------------------------------------- figures

def draw_curves(results, path):
    """The seed's loss analysis: total, BCE and KL per epoch, training (solid) and validation (dashed)."""
    from mnistgen_tf.figures import plt, write_png

    records = results.records
    if not records:
        return False
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.8))
    for colour, record in zip(("C0", "C1", "C2", "C3"), records):
        history = results.arrays(record)["history"]
        epochs = np.arange(1, len(history) + 1)
        label = f"{record['settings']['dataset']}, code {record['settings']['latent_dim']}"
        for ax, key, title in zip(axes, ("loss", "reconstruction", "kl"), ("total (-ELBO)", "BCE", "KL")):
            ax.plot(epochs, history[:, HISTORY_KEYS.index(key)], "-", color=colour, label=label)
            ax.plot(epochs, history[:, HISTORY_KEYS.index("val_" + key)], "--", color=colour)
            ax.set(xlabel="epoch", ylabel="nats per image", title=title)
    axes[0].legend(fontsize=7)
    fig.suptitle(f"Seed 003 VAE: loss per epoch ({results.profile.settings['epochs']} epochs; dashed: "
                 "validation)", fontsize=10)
    write_png(fig, path)
    return True


def draw_reconstructions(results, path):
    """Originals over reconstructions, two per class, for every cell."""
    from mnistgen_tf.figures import plt, write_png

    records = results.records
    if not records:
        return False
    fig, axes = plt.subplots(2 * len(records), 20, figsize=(14, 1.5 * len(records)), squeeze=False)
    for r, record in enumerate(records):
        arrays = results.arrays(record)
        for row, key in enumerate(("originals", "reconstructions")):
            for col, ax in enumerate(axes[2 * r + row]):
                ax.imshow(arrays[key][col, ..., 0], cmap="gray", vmin=0, vmax=255)
                ax.set_xticks([])
                ax.set_yticks([])
        names = list(record["per_class"])
        for c in range(10):
            axes[2 * r][2 * c].set_title(names[c], fontsize=6, loc="left")
        axes[2 * r][0].set_ylabel(f"code {record['settings']['latent_dim']}\n{record['settings']['dataset']}",
                                  fontsize=6)
    fig.suptitle("Originals (upper row) and reconstructions from the posterior mean (lower row)", fontsize=9)
    write_png(fig, path)
    return True


def draw_latent_map(results, path):
    """Test codes coloured by class: the 2-unit code as it is, larger codes by PCA."""
    from mnistgen_tf.figures import plt, write_png

    records = results.records
    if not records:
        return False
    fig, axes = plt.subplots(1, len(records), figsize=(5.4 * len(records), 4.8), squeeze=False)
    for ax, record in zip(axes[0], records):
        arrays = results.arrays(record)
        names = list(record["per_class"])
        for c in range(10):
            points = arrays["codes_2d"][arrays["code_labels"] == c]
            accuracy = record["per_class"][names[c]]["knn_accuracy"]
            ax.scatter(points[:, 0], points[:, 1], s=2, color=plt.cm.tab10(c), label=f"{names[c]} ({accuracy:.2f})")
        size = record["settings"]["latent_dim"]
        ax.set_title(f"{record['settings']['dataset']}, code {size}" + ("" if size == 2 else " (PCA)"), fontsize=9)
        ax.legend(fontsize=6, markerscale=4, title="class (10-NN accuracy)", title_fontsize=6)
    write_png(fig, path)
    return True


EXPERIMENT = Experiment(
    name=NAME,
    title="Seed 003: a convolutional VAE on Fashion-MNIST (and MNIST)",
    profiles={"full": FULL, "quick": QUICK},
    run_cell=run_vae_cell,
    columns=COLUMNS,
    id_labels=(("", "dataset"), ("z", "latent_dim"), ("seed", "seed")),
    figures=(
        ("seed003_vae_losses.png", draw_curves),
        ("seed003_vae_reconstructions.png", draw_reconstructions),
        ("seed003_vae_latent_map.png", draw_latent_map),
    ),
    notes=(
        "Test -ELBO: BCE summed over the 784 pixels plus KL, nats per image, one sampled code per image; the "
        "per-class reconstruction errors (`cells/<cell>/cell.json`, `per_class`) use the posterior mean; "
        "with grey images BCE cannot fall below the images' own entropy, so `bce_excess` (BCE minus it) and "
        "the MSE are the comparable ones across classes, and the -ELBO is not a bound on -log p(x).",
        "10-NN class accuracy: the majority class of each test code's 10 nearest codes of the first "
        "10,000 training images, Euclidean, on posterior means.",
        "FID[dataset-cnn] of {eval_samples} samples from N(0, I) against the test split, beside "
        "{eval_samples} real training images against the same reference.",
        "{epochs} epochs, batch {batch_size}, Adam {learning_rate}; the saved model is the epoch with the "
        "lowest validation loss.",
    ),
)
