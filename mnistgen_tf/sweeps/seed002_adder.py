"""Seed 002, Parts III-IV: learning to add a number to the digit in an image, measured.

Grids (`registry.AdderOptions`, code size 7, convtranspose decoder):

- kind in {ae, vae, generative} with the seed's working loss weights
  (image 0.1, sum 1, KL encoder 1e-5, KL adder 1e-5: the last row of its
  Table 1);
- the same three kinds with the sum's L2 taken between codes instead of
  images (``sum_loss="code"``, not in the seed; see `models.adder`);
- the generative kind with three other rows of Table 1: (0.1, 0.5, 1e-5,
  1e-5) and (1, 1, 5e-4, 5e-4), which gave "only fuzzy nines", and (1, 0.2,
  1e-4, 1e-4), which "generates numbers different from the target";
- the ae kind aimed at the running mean code of the target digit
  (``sum_loss="class_code"``, not in the seed), with a 16-unit code and 20
  epochs: a 7-unit code carries the digit too faintly for P to read it
  reliably (the code's 10-NN digit accuracy bounds what P can do); once
  trained jointly, once in two stages (E and D frozen after 6 epochs, then P
  alone, ``freeze_autoencoder_after``), so P chases codes that stay put; and
  once with a larger P (three hidden layers of 512 instead of two of 128).

The table's reference (`class_mean_baseline`) is the output an image L2
rewards: the mean training image of the target digit.

Per cell, on the MNIST test split, every image with every b such that
a + b <= 9 (about 55,000 pairs): the **sum accuracy**, how often the
shipped `mnist-cnn` classifier reads the produced image as a + b, overall
and per (a, b); the L2 between produced and target images; FID[mnist-cnn] of
the produced images against real test images of the same target digits;
and the seed's probes, the first test 7 plus 1, 2, 1.5, 1.4 and 1.6, with
the classifier's probabilities of the neighbouring sums (mean over 100
draws, which matters only for the generative kind).
"""

import time

import keras
import numpy as np

from mnistgen_tf import data
from mnistgen_tf.evaluate import class_means, to_uint8
from mnistgen_tf.metrics.features import ClassifierFeatures
from mnistgen_tf.metrics.fid import stats_of_images
from mnistgen_tf.metrics.frechet import FeatureStats, fid_from_stats
from mnistgen_tf.sampling import add
from mnistgen_tf.sweep import Column, Experiment, Profile, train_cell

NAME = "seed002_adder"
WEIGHTS = ("image_weight", "sum_weight", "kl_encoder_weight", "kl_adder_weight")
WORKING = (0.1, 1.0, 1e-5, 1e-5)  # the seed's Table 1, last row: "correct"
# Other rows of the seed's Table 1, with what the seed saw.
SEED_TABLE_1 = {WORKING: "correct", (0.1, 0.5, 1e-5, 1e-5): "only fuzzy nines",
                (1.0, 1.0, 5e-4, 5e-4): "only fuzzy nines",
                (1.0, 0.2, 1e-4, 1e-4): "generates numbers different from the target"}
PROBES = (1.0, 2.0, 1.5, 1.4, 1.6)  # added to the first 7 of the test split
PROBE_DRAWS = 100

# 10 epochs (the seed: 100) of 55,000 pairs, batch 128: about a minute an
# epoch on a shared 2-core CPU.
FULL = Profile(
    settings={"dataset": "mnist", "latent_dim": 7, "decoder": "convtranspose", "sum_loss": "image",
              "balanced": False, "epochs": 10, "freeze_autoencoder_after": 0, "adder_units": 128, "adder_layers": 2,
              "batch_size": 128, "learning_rate": 1e-3, "subset": None, "seed": 0, "test_images": None},
    grids=(
        {"kind": ("ae", "vae", "generative"), WEIGHTS: (WORKING,)},
        {"kind": ("ae", "vae", "generative"), "sum_loss": ("code",), WEIGHTS: (WORKING,)},
        {"kind": ("generative",), WEIGHTS: tuple(row for row in SEED_TABLE_1 if row != WORKING)},
        {"kind": ("ae",), ("sum_loss", "latent_dim", "epochs", "freeze_autoencoder_after", "adder_units",
                           "adder_layers"): (
            ("class_code", 16, 20, 0, 128, 2), ("class_code", 16, 20, 6, 128, 2), ("class_code", 16, 20, 0, 512, 3)),
         WEIGHTS: (WORKING,)},
    ),
    featured={"working": dict(zip(WEIGHTS, WORKING))},
)
QUICK = Profile(
    settings={**FULL.settings, "latent_dim": 3, "epochs": 1, "subset": 600, "test_images": 300},
    grids=FULL.grids[:-1] + (
        {"kind": ("ae",), ("sum_loss", "latent_dim", "epochs", "freeze_autoencoder_after", "adder_units",
                           "adder_layers"): (("class_code", 4, 2, 0, 128, 2),), WEIGHTS: (WORKING,)},),
    featured=FULL.featured,
)


def test_pairs(labels):
    """Every test image index with every b such that a + b <= 9: ``(index, b)`` arrays."""
    index = np.concatenate([np.flatnonzero(labels <= 9 - b) for b in range(10)])
    b = np.concatenate([np.full(np.sum(labels <= 9 - b), b) for b in range(10)])
    return index, b


def _test_split(n_test):
    """The first `n_test` test images (None: all) as floats, and their labels."""
    images, labels = data.load("mnist", "test")
    return data.to_float(images[:n_test or len(images)]), labels[:n_test or len(images)]


def measure_sums(produced, x, labels, index, b, seed, classifier):
    """Sum accuracy (overall and per (a, b)), L2 and FID of `produced`, the outputs for pairs ``(x[index], b)``.

    The reference for each output is a real test image of its target digit,
    drawn with `seed`: the L2 is taken against it and the FID against all of them.
    """
    a, total = labels[index], labels[index] + b
    features, read = classifier.features_and_labels(produced)
    correct = read == total
    counts, hits = np.zeros((10, 10)), np.zeros((10, 10))  # [a, b]
    np.add.at(counts, (a, b), 1)
    np.add.at(hits, (a, b), correct)
    accuracy = np.where(counts > 0, hits / np.maximum(counts, 1), np.nan)
    rng = np.random.default_rng(seed)
    real = np.array([rng.choice(np.flatnonzero(labels == s)) for s in total])
    return {
        "metrics": {"sum_accuracy": float(correct.mean()), "test_pairs": int(len(index)),
                    "l2_sum_test": float(np.mean((produced - x[real]) ** 2)),
                    "fid_vs_target_digits": fid_from_stats(FeatureStats().update(features),
                                                           stats_of_images(x[real], classifier)),
                    "read_as_nine": float(np.mean(read == 9)), "target_nine": float(np.mean(total == 9))},
        "per_a_b": [[None if np.isnan(v) else float(v) for v in row] for row in accuracy],
        "accuracy": accuracy.astype(np.float32),
    }


def class_mean_baseline(settings):
    """What an image L2 rewards: the training mean image of digit a + b, measured like the cells.

    The target of a pair is a random image of digit a + b, so the output that
    minimises the expected L2 is that digit's mean image; this is the table's
    reference row, with how mnist-cnn reads each mean.
    """
    images, labels = data.load("mnist", "train")
    (x_train, y_train), _ = data.split_train_val(images, labels, settings["subset"])
    means = class_means(x_train, y_train)
    x, labels = _test_split(settings["test_images"])
    index, b = test_pairs(labels)
    classifier = ClassifierFeatures("mnist")
    measured = measure_sums(means[labels[index] + b], x, labels, index, b, settings["seed"], classifier)
    read = classifier.features_and_labels(means)[1]
    record = {"predictor": "mean training image of digit a + b", "train_images": len(x_train),
              **measured["metrics"], "class_means_read_as": [int(d) for d in read],
              "sum_accuracy_per_a_b": measured["per_a_b"], "extractor": classifier.name}
    wrong = ", ".join(f"{k} as {d}" for k, d in enumerate(read) if d != k) or "none"
    note = (f"Reference (`baseline.json`): outputting the mean training image of digit a + b, the minimiser of "
            f"the expected image L2, scores test L2 {record['l2_sum_test']:.4f}, sum accuracy "
            f"{record['sum_accuracy']:.4f} and FID {record['fid_vs_target_digits']:.2f}; mnist-cnn misreads the "
            f"mean images of these digits: {wrong}.")
    return record, note


def run_adder_cell(cell_dir, settings, verbose=0):
    """Train (resuming) and measure one adder; returns ``(record, arrays)`` for `sweep.run`."""
    settings = dict(settings)
    n_test = settings.pop("test_images")
    cell = train_cell("adder", cell_dir, settings, verbose)
    adder, config, run_info, history = cell.generator, cell.config, cell.run_info, cell.history

    started = time.perf_counter()
    x, labels = _test_split(n_test)
    index, b = test_pairs(labels)
    produced = add(adder, x[index], b)
    classifier = ClassifierFeatures("mnist")
    measured = measure_sums(produced, x, labels, index, b, config["seed"], classifier)

    seven = int(np.flatnonzero(labels == 7)[0])
    probe_images, probe_probabilities = [], []
    for number in PROBES:
        draws = add(adder, np.repeat(x[seven:seven + 1], PROBE_DRAWS, axis=0), number)
        probe_images.append(draws[0])
        probe_probabilities.append(classifier.probabilities(draws).mean(axis=0))
    probes = [{"number": number, "shown": int(np.argmax(p)),
               "p_floor": float(p[7 + int(np.floor(number))]), "p_ceil": float(p[7 + int(np.ceil(number))])}
              for number, p in zip(PROBES, probe_probabilities)]
    weights = tuple(config[w] for w in WEIGHTS)
    record = {
        "metrics": {**measured["metrics"], "best_epoch": run_info["selected_epoch"],
                    "best_val_l2_sum": min(r["val_l2_sum"] for r in history)},
        "sum_accuracy_per_a_b": measured["per_a_b"],
        "probes": probes,
        "seed_table_1": SEED_TABLE_1.get(weights) if config["sum_loss"] == "image" else None,
        "extractor": classifier.name,
        "epochs": config["epochs"], "train_images": run_info["train_images"], "test_images": len(x),
        "parameters": run_info["parameters"], "generator_parameters": run_info["generator_parameters"],
        "timing": {**cell.timing, "eval_seconds": round(time.perf_counter() - started, 1)},
    }
    shown = np.array([np.flatnonzero(b == k)[0] for k in range(10)])  # the first pair with each b
    arrays = {
        "history_val_l2_sum": np.array([r["val_l2_sum"] for r in history], np.float32),
        "history_l2_sum": np.array([r["l2_sum"] for r in history], np.float32),
        "accuracy": measured["accuracy"],
        "probe_images": to_uint8(np.array(probe_images)),
        "probe_probabilities": np.array(probe_probabilities, np.float32),
        "example_inputs": to_uint8(x[index[shown]]), "example_numbers": b[shown].astype(np.int32),
        "example_outputs": to_uint8(produced[shown]),
    }
    keras.backend.clear_session()
    return record, arrays


def _weights(record):
    return ", ".join(f"{record['settings'][w]:g}" for w in WEIGHTS)


COLUMNS = (
    Column("kind", "settings.kind"),
    Column("sum's L2 on", "settings.sum_loss"),
    Column("code", "settings.latent_dim"),
    Column("epochs", "epochs"),
    Column("E, D frozen after", lambda r: r["settings"].get("freeze_autoencoder_after") or ""),
    Column("P", lambda r: f"{r['settings'].get('adder_layers', 2)} x {r['settings'].get('adder_units', 128)}"),
    Column("weights (image, sum, KL enc, KL adder)", _weights),
    Column("seed's Table 1 says", lambda r: r["seed_table_1"] or ""),
    Column("sum accuracy", "metrics.sum_accuracy", ".4f"),
    Column("read as 9", "metrics.read_as_nine", ".3f"),
    Column("test L2 (sum)", "metrics.l2_sum_test", ".4f"),
    Column("FID[mnist-cnn] vs target digits", "metrics.fid_vs_target_digits", ".2f"),
    Column("7+1.5: P(8) / P(9)", lambda r: f"{r['probes'][2]['p_floor']:.2f} / {r['probes'][2]['p_ceil']:.2f}"),
    Column("7+1.4: P(8) / P(9)", lambda r: f"{r['probes'][3]['p_floor']:.2f} / {r['probes'][3]['p_ceil']:.2f}"),
    Column("7+1.6: P(8) / P(9)", lambda r: f"{r['probes'][4]['p_floor']:.2f} / {r['probes'][4]['p_ceil']:.2f}"),
    Column("best epoch", "metrics.best_epoch"),
)


# ---------------------------------------------------------------- figures

def draw_data(results, path):
    """Seed Figures 20-21: input/target examples and the distribution of sums, unbalanced and balanced."""
    from mnistgen_tf.figures import plt, write_png

    settings = results.profile.settings
    images, labels = data.load("mnist", "train")
    (x, y), _ = data.split_train_val(images, labels, settings["subset"])
    fig, axes = plt.subplots(2, 6, figsize=(12, 4.6), gridspec_kw={"width_ratios": [1, 1, 1, 1, 0.2, 4]})
    for row, balanced in enumerate((False, True)):
        ex = data.examples("addition", x, y, settings["seed"], balanced=balanced)
        for col in range(4):
            pair = np.concatenate([ex["image"][col, ..., 0], ex["target"][col, ..., 0]], axis=1)
            axes[row, col].imshow(pair, cmap="gray")
            axes[row, col].set_title(f"{ex['a'][col]} + {ex['number'][col]:g} -> {ex['sum'][col]}", fontsize=8)
            axes[row, col].axis("off")
        axes[row, 4].axis("off")
        counts = np.bincount(ex["sum"], minlength=10)
        axes[row, 5].bar(range(10), counts, color="C1" if balanced else "C0")
        axes[row, 5].set(xticks=range(10), xlabel="sum a + b", ylabel="pairs",
                         title="balanced: sum uniform over 0-9" if balanced else
                         "one pair per image, b uniform over 0..9-a")
        axes[row, 5].title.set_fontsize(9)
    fig.suptitle(f"Addition pairs of {len(x)} MNIST training images: input | target", fontsize=10)
    write_png(fig, path)
    return True


def draw_probes(results, path):
    """Seed Figures 24, 28, 31: the first test 7 plus 1, 2, 1.5, 1.4, 1.6, one row per kind and sum loss."""
    from mnistgen_tf.figures import plt, write_png

    records = results.in_grid(0) + results.in_grid(1)  # the working weights, the sum's L2 on images, on codes
    if not records:
        return False
    fig, axes = plt.subplots(len(records), len(PROBES), figsize=(1.9 * len(PROBES), 2.1 * len(records)),
                             squeeze=False)
    for ax_row, record in zip(axes, records):
        arrays = results.arrays(record)
        for ax, image, probe in zip(ax_row, arrays["probe_images"], record["probes"]):
            ax.imshow(image[..., 0], cmap="gray", vmin=0, vmax=255)
            ax.set_title(f"7 + {probe['number']:g}: P({7 + int(np.floor(probe['number']))})={probe['p_floor']:.2f}"
                         + (f"\nP({7 + int(np.ceil(probe['number']))})={probe['p_ceil']:.2f}"
                            if probe["number"] % 1 else ""), fontsize=7)
            ax.set_xticks([])
            ax.set_yticks([])
        ax_row[0].set_ylabel(f"{record['settings']['kind']}, L2 on {record['settings']['sum_loss']}s", fontsize=8)
    fig.suptitle(f"Probes, {results.profile.settings['epochs']} epochs; P: mnist-cnn, mean over {PROBE_DRAWS} "
                 "draws", fontsize=9)
    write_png(fig, path)
    return True


def draw_accuracy(results, path):
    """Sum accuracy per (a, b) on the test split, one panel per cell."""
    from mnistgen_tf.figures import plt, write_png

    records = results.records
    if not records:
        return False
    fig, axes = plt.subplots(1, len(records), figsize=(3.2 * len(records), 3.4), squeeze=False)
    for ax, record in zip(axes[0], records):
        shown = ax.imshow(results.arrays(record)["accuracy"], vmin=0, vmax=1, cmap="viridis")
        ax.set(xlabel="b", ylabel="a", xticks=range(10), yticks=range(10),
               title=f"{record['settings']['kind']}, L2 on {record['settings']['sum_loss']}s ({_weights(record)})\n"
                     f"accuracy {record['metrics']['sum_accuracy']:.3f}")
        ax.title.set_fontsize(7)
    fig.colorbar(shown, ax=axes[0].tolist(), label="read as a + b")
    fig.suptitle(f"Sum accuracy per (a, b) on the MNIST test split, {results.profile.settings['epochs']} epochs",
                 fontsize=9)
    write_png(fig, path, tight=False)
    return True


EXPERIMENT = Experiment(
    name=NAME,
    title="Seed 002 Parts III-IV on MNIST: adding a number to the digit in an image (E, P, D)",
    profiles={"full": FULL, "quick": QUICK},
    run_cell=run_adder_cell,
    columns=COLUMNS,
    id_labels=(("", "kind"), ("", "sum_loss"), ("z", "latent_dim"), ("ep", "epochs"),
               ("frozen", "freeze_autoencoder_after"), ("P", "adder_units"), ("x", "adder_layers"),
               ("img", "image_weight"),
               ("sum", "sum_weight"), ("kle", "kl_encoder_weight"), ("kla", "kl_adder_weight"), ("seed", "seed")),
    figures=(
        ("seed002_fig20_21_addition_data.png", draw_data),
        ("seed002_fig24_28_31_probes.png", draw_probes),
        ("seed002_sum_accuracy.png", draw_accuracy),
    ),
    # The first cells were made before sum_loss existed, and before code size and epochs were axes:
    # ids name these only where they differ from those cells' values.
    settings_added={"sum_loss": "image", "latent_dim": 7, "epochs": 10, "freeze_autoencoder_after": 0,
                    "adder_units": 128, "adder_layers": 2},
    baseline=class_mean_baseline,
    notes=(
        "Sum accuracy: the fraction of produced images that the shipped mnist-cnn classifier reads as a + b, "
        "over every test image with every b such that a + b <= 9 (test_images={test_images}, None: all "
        "10,000); read as 9: the fraction read as 9 (the seed's 'fuzzy nines'), against the fraction of "
        "targets that are 9 in the same pairs (`cell.json`).",
        "FID[mnist-cnn] of the produced images against, for each, a real test image of its target digit; "
        "test L2: mean squared error per pixel between the two.",
        "Probes: the first 7 of the test split plus b; P(d): mnist-cnn's probability of digit d, mean over "
        "100 draws (identical draws except for the generative kind).",
        "Epochs and code size as in their columns (the seed: 100 epochs, code 7) of one pair per training "
        "image (balanced={balanced}), batch {batch_size}, Adam {learning_rate}, {decoder} decoder; the saved "
        "adder is the epoch with the lowest validation L2 of the sum (between codes where the sum's L2 is "
        "on codes).",
    ),
)
