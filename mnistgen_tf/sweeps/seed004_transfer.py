"""Seed 004's application "handwriting style transfer", measured with the zoo's CVAE.

x̂ = g(f(x_style), y_content): test images of every digit are encoded with
their own label (the code's posterior mean) and decoded as each digit 0-9.
Per cell: the label accuracy of the transfers under `mnist-cnn` by target
digit (does the output show y_content?) and the consistency of style between
a source and its ten transfers (`mnistgen_tf.transfer.style_consistency`:
ink and slant, correlated across sources, against a shuffled reference).
"""

import keras
import numpy as np

from mnistgen_tf import data
from mnistgen_tf.evaluate import to_uint8
from mnistgen_tf.metrics.features import ClassifierFeatures
from mnistgen_tf.sampling import load_generator, load_model_file
from mnistgen_tf.sweep import Column, Experiment, Profile
from mnistgen_tf.transfer import style_consistency, transfer

NAME = "seed004_applications/transfer"
DIGITS = tuple(range(10))

FULL = Profile(settings={"cvae": "cvae_seed0", "sources": 1000, "seed": 0}, grids=({"cvae": ("cvae_seed0",)},))
QUICK = Profile(settings={**FULL.settings, "sources": 60}, grids=FULL.grids)


def figure_sources(labels):
    """Indices of one source image per digit 0-9 (the first of each), for the figure."""
    return np.array([np.flatnonzero(labels == d)[0] for d in DIGITS if (labels == d).any()])


def run_transfer_cell(cell_dir, settings, verbose, used):
    run = f"{used['cvae']}/run"
    decoder = load_generator(f"{run}/generator.keras")
    encoder = load_model_file(f"{run}/encoder.keras")
    images, labels = data.seeded_draw("mnist", "test", settings["sources"], settings["seed"])
    outputs = transfer(encoder, decoder, images, labels, DIGITS)
    read = ClassifierFeatures("mnist").classify(outputs.reshape(-1, 28, 28, 1)).reshape(len(images), len(DIGITS))
    per_digit = (read == np.array(DIGITS)).mean(axis=0)
    style = style_consistency(images, outputs, seed=settings["seed"])
    record = {
        "metrics": {"label_accuracy": float(per_digit.mean()),
                    **{f"{name}_{key}": value[key] for name, value in style.items()
                       for key in ("correlation", "shuffled_correlation", "source_share")}},
        "label_accuracy_per_digit": per_digit.tolist(), "style": style, "extractor": "mnist-cnn",
    }
    shown = figure_sources(labels)
    arrays = {"sources": to_uint8(images[shown]), "transfers": to_uint8(outputs[shown])}
    keras.backend.clear_session()
    return record, arrays


COLUMNS = (
    Column("CVAE", "settings.cvae"),
    Column("sources", "settings.sources"),
    Column("label accuracy", "metrics.label_accuracy", ".4f"),
    Column("ink r", "metrics.ink_correlation", ".3f"),
    Column("ink r, shuffled", "metrics.ink_shuffled_correlation", ".3f"),
    Column("ink source share", "metrics.ink_source_share", ".3f"),
    Column("slant r", "metrics.slant_correlation", ".3f"),
    Column("slant r, shuffled", "metrics.slant_shuffled_correlation", ".3f"),
    Column("slant source share", "metrics.slant_source_share", ".3f"),
)


def draw_transfers(results, path):
    """Rows: one style image per digit; columns: the style image, then its transfers to 0-9."""
    from mnistgen_tf.figures import plt, write_png

    if not results.records:
        return False
    record = results.records[0]
    arrays = results.arrays(record)
    sources, transfers = arrays["sources"][..., 0], arrays["transfers"][..., 0]
    fig, axes = plt.subplots(len(sources), 1 + len(DIGITS), figsize=(0.75 * (1 + len(DIGITS)), 0.8 * len(sources)),
                             squeeze=False)
    for row, source, outputs in zip(axes, sources, transfers):
        for ax, image in zip(row, [source, *outputs]):
            ax.imshow(image, cmap="gray", vmin=0, vmax=255)
            ax.set_xticks([]), ax.set_yticks([])
    for ax, title in zip(axes[0], ["style", *map(str, DIGITS)]):
        ax.set_title(title, fontsize=8)
    accuracy = record["metrics"]["label_accuracy"]
    fig.suptitle(f"Style transfer with the zoo's CVAE (label accuracy {accuracy:.3f})", fontsize=9)
    write_png(fig, path)
    return True


EXPERIMENT = Experiment(
    name=NAME,
    title="Seed 004 applications: handwriting style transfer with the CVAE",
    profiles={"full": FULL, "quick": QUICK},
    run_cell=run_transfer_cell,
    columns=COLUMNS,
    id_labels=(("", "cvae"),),  # the seed only draws the source images
    figures=(("seed004_transfer.png", draw_transfers),),
    uses=lambda settings: {"cvae": ("seed004_zoo", settings["cvae"])},
    notes=(
        "{sources} test images (a seeded draw, every digit), each encoded with its own label (posterior mean) "
        "and decoded as each digit 0-9. Label accuracy: transfers read by mnist-cnn as the asked digit, over all "
        "sources and digits (per digit in cell.json).",
        "Style: ink = mean intensity, slant = columns per row upward (intensity-weighted moments). r: Pearson "
        "correlation across sources between a source's value and the mean over its ten transfers; shuffled: "
        "the same with the transfers of other sources (no style kept: near 0). Source share: the share of the "
        "transfers' variance, each digit's mean removed, that lies between sources (1: the ten outputs of a "
        "source agree; 0.1: the source says nothing).",
    ),
)
