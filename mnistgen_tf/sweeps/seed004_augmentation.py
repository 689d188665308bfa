"""Seed 004's application "synthetic data", measured: does D ∪ {G(z_i)} train a better classifier?

Cells: N real training images (a seeded draw) × source of generated images
(none; the zoo's CVAE; the conditional DRAW of ``draw_conditional_t8_z8/``)
× ``ratio`` generated images per real one (real : generated = 1:1, 1:5) × seed.  Every cell trains the kit's
CNN for the same number of steps (`mnistgen_tf.augment`) and reports its
accuracy on the test split; the summary gives mean ± standard deviation over
the seeds, and the figure accuracy against N, one line per source and ratio.
"""

import time

import keras
import numpy as np

from mnistgen_tf import data
from mnistgen_tf.augment import generated_examples, mixed, test_accuracy, train_classifier
from mnistgen_tf.sampling import load_generator
from mnistgen_tf.sweep import Column, Experiment, Profile

NAME = "seed004_applications/augmentation"
SOURCES = {"cvae": ("seed004_zoo", "cvae_seed0"), "draw": "draw_conditional_t8_z8"}  # what `uses` reads
SIZES = (100, 300, 1000, 60_000)
SEEDS = (0, 1, 2)

FULL = Profile(
    settings={"n_real": 100, "source": "none", "ratio": 0, "steps": 1000, "batch_size": 64, "test_images": None,
              "seed": 0},
    # One grid per source: a sweep started before the CVAE is trained gets through the others first.
    grids=({"source": ("none",), "n_real": SIZES, "ratio": (0,), "seed": SEEDS},
           {"source": ("draw",), "n_real": SIZES, "ratio": (1, 5), "seed": SEEDS},
           {"source": ("cvae",), "n_real": SIZES, "ratio": (1, 5), "seed": SEEDS}),
)
QUICK = Profile(
    settings={**FULL.settings, "steps": 20, "test_images": 500},
    grids=({"n_real": (100,), "source": ("none",), "ratio": (0,), "seed": (0, 1)},
           {"n_real": (100,), "source": ("cvae",), "ratio": (1,), "seed": (0, 1)}),
)


def real_examples(n, seed):
    """`n` labelled training images (uint8, with a channel axis), a seeded draw."""
    images, labels = data.seeded_draw("mnist", "train", n, seed, as_float=False)
    return images[..., None], labels.astype(np.int32)


def run_augmentation_cell(cell_dir, settings, verbose, used):
    images, labels = real_examples(settings["n_real"], settings["seed"])
    n_generated = settings["ratio"] * settings["n_real"]
    started = time.perf_counter()
    if n_generated:
        generator = load_generator(f"{used['generator']}/run/generator.keras")
        fake, fake_labels = generated_examples(generator, n_generated, seed=settings["seed"] + 100)
        images, labels = mixed(images, labels, fake, fake_labels)
    sampled = time.perf_counter()
    model = train_classifier(images, labels, settings["steps"], settings["batch_size"], seed=settings["seed"],
                             verbose=verbose)
    trained = time.perf_counter()
    record = {
        "metrics": {"test_accuracy": test_accuracy(model, settings["test_images"])},
        "train_images": len(images), "generated_images": n_generated,
        "generated_label_counts": np.bincount(labels[settings["n_real"]:], minlength=10).tolist(),
        "timing": {"sampling_seconds": round(sampled - started, 1), "train_seconds": round(trained - sampled, 1)},
    }
    keras.backend.clear_session()
    return record, {}


COLUMNS = (
    Column("N real", "settings.n_real"),
    Column("source", "settings.source"),
    Column("generated : real", "settings.ratio"),
    Column("seed", "settings.seed"),
    Column("training images", "train_images"),
    Column("test accuracy", "metrics.test_accuracy", ".4f"),
)


def _groups(results):
    """{(n_real, source, ratio): [test accuracies over seeds]}, in the order of the cells."""
    groups = {}
    for record in results.records:
        s = record["settings"]
        groups.setdefault((s["n_real"], s["source"], s["ratio"]), []).append(record["metrics"]["test_accuracy"])
    return groups


def summarise(results):
    """Mean ± standard deviation (over seeds) of the test accuracy per N, source and ratio, and the change
    against no generated images at the same N."""
    groups = _groups(results)
    rows = []
    for (n, source, ratio), accuracies in sorted(groups.items()):
        base = groups.get((n, "none", 0))
        change = f"{np.mean(accuracies) - np.mean(base):+.4f}" if base and source != "none" else ""
        std = f"{np.std(accuracies, ddof=1):.4f}" if len(accuracies) > 1 else ""
        rows.append([n, source, f"1:{ratio}" if ratio else "", len(accuracies), f"{np.mean(accuracies):.4f}", std,
                     change])
    return ["N real", "source", "real : generated", "seeds", "mean accuracy", "std", "change vs real only"], rows


def draw_accuracy(results, path):
    """Test accuracy against N (log scale), one line per source and ratio, error bars one std."""
    from mnistgen_tf.figures import plt, write_png

    groups = _groups(results)
    if not groups:
        return False
    fig, ax = plt.subplots(figsize=(6, 4))
    for source, ratio in sorted({(s, r) for _, s, r in groups}):
        sizes = sorted(n for n, s, r in groups if (s, r) == (source, ratio))
        values = [groups[(n, source, ratio)] for n in sizes]
        label = "real only" if source == "none" else f"+ {source}, 1:{ratio}"
        spread = [np.std(v, ddof=1) if len(v) > 1 else 0.0 for v in values]
        ax.errorbar(sizes, [np.mean(v) for v in values], yerr=spread, marker="o", capsize=3, label=label)
    ax.set(xscale="log", xlabel="N real training images", ylabel="test accuracy",
           title="Classifier trained on real + generated digits")
    ax.legend(fontsize=8)
    write_png(fig, path)
    return True


EXPERIMENT = Experiment(
    name=NAME,
    title="Seed 004 applications: augmenting a small MNIST training set with generated digits",
    profiles={"full": FULL, "quick": QUICK},
    run_cell=run_augmentation_cell,
    columns=COLUMNS,
    id_labels=(("n", "n_real"), ("", "source"), ("r", "ratio"), ("seed", "seed")),
    figures=(("seed004_augmentation.png", draw_accuracy),),
    uses=lambda settings: {"generator": SOURCES[settings["source"]]} if settings["ratio"] else {},
    summary=summarise,
    notes=(
        "Each cell trains the kit's CNN (`build_classifier`, no shift augmentation) for {steps} steps of "
        "{batch_size} images drawn from the N real images (a seeded draw of the training split) plus ratio x N "
        "generated ones, labelled with the digit asked for (0-9 in turn); test accuracy on the test split.",
        "Sources: cvae = the zoo's CVAE (`seed004_zoo/cells/cvae_seed0`), draw = the conditional DRAW of "
        "`draw_conditional_t8_z8/` (T 8, z 8, 15 epochs). Mean ± std over seeds: `summary.md`.",
        "Both generators were trained on the 55,000 labelled training images: at small N their digits carry "
        "label knowledge the N real ones lack, so a gain there measures what a generator trained on a large "
        "labelled set teaches a small-data classifier, not augmentation from the N images alone.",
    ),
)
