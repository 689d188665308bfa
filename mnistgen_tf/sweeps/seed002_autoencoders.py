"""Seed 002, Part II: three conv decoders × two losses × two code sizes on MNIST.

Grid: decoder in {convtranspose, upsample, interpolate}, loss in {l2, bce},
latent_dim in {2, 7} (the seed's main runs and its question 3.2.7), 12
cells, each `registry.AutoencoderOptions` with Adam 1e-3.  Per cell: the
last epoch's training and validation RMSE and BCE per pixel (the seed's
"final" numbers), the epoch with the lowest validation loss (the saved one,
seed 3.2.4) and that model's test-split RMSE and BCE.

Figures (`mnistgen figures`): the seed's Figures 10 and 17 (training and
validation curves, one panel per loss, three decoders each, code size 2),
Figures 18-19 (five test digits and their reconstructions by every decoder
and loss, code size 7), and the code-size-2 latent spaces coloured by digit.
"""


import keras
import numpy as np

from mnistgen_tf import data
from mnistgen_tf.evaluate import to_uint8
from mnistgen_tf.models.autoencoder import DECODERS
from mnistgen_tf.sweep import Column, Experiment, Profile, train_cell
from mnistgen_tf.train import BEST

NAME = "seed002_autoencoders"
# The seed's final training / validation error at code size 2 (its section 3.2.5):
# RMSE per pixel for the L2 runs, BCE per pixel for the BCE runs.
SEED_FINAL = {
    ("convtranspose", "l2"): (0.1745, 0.1839), ("upsample", "l2"): (0.1762, 0.1834),
    ("interpolate", "l2"): (0.1765, 0.1814),
    ("convtranspose", "bce"): (0.1546, 0.1641), ("upsample", "bce"): (0.1556, 0.1643),
    ("interpolate", "bce"): (0.1553, 0.1631),
}
HISTORY_KEYS = ("rmse", "val_rmse", "bce", "val_bce")
FIGURE_IMAGES = 5  # the first test images, reconstructed in Figures 18-19

# 30 epochs (the seed trained 100; its curves flatten after about 20) of the
# 55,000 training images, batch 128: about 25 s per epoch with the
# convtranspose decoder and 50 s with the others on a shared 2-core CPU.
FULL = Profile(
    settings={"dataset": "mnist", "epochs": 30, "batch_size": 128, "learning_rate": 1e-3, "subset": None,
              "seed": 0, "test_images": None},
    grids=({"latent_dim": (2, 7), "loss": ("l2", "bce"), "decoder": DECODERS},),
)
QUICK = Profile(
    settings={**FULL.settings, "epochs": 2, "subset": 300, "test_images": 300},
    grids=FULL.grids,
)


def run_autoencoder_cell(cell_dir, settings, verbose=0):
    """Train (resuming) and evaluate one autoencoder; returns ``(record, arrays)`` for `sweep.run`."""
    settings = dict(settings)
    n_test = settings.pop("test_images")
    cell = train_cell("autoencoder", cell_dir, settings, verbose)
    trainer, config, run_info, history = cell.trainer, cell.config, cell.run_info, cell.history
    last = history[-1]

    images, labels = data.load(config["dataset"], "test")
    x = data.to_float(images[:n_test or len(images)])
    test = trainer.evaluate(data.batches(x, y=x), verbose=0, return_dict=True)
    arrays = {
        "history": np.array([[row[key] for key in HISTORY_KEYS] for row in history], np.float32),
        "test_images": to_uint8(x[:FIGURE_IMAGES]),
        "reconstructions": to_uint8(trainer.predict(data.batches(x[:FIGURE_IMAGES]), verbose=0)),
    }
    if config["latent_dim"] == 2:
        encoder = trainer.get_layer("encoder")
        arrays["codes"] = encoder.predict(data.batches(x), verbose=0).astype(np.float32)
        arrays["code_labels"] = labels[:len(x)].astype(np.uint8)
    seed_final = SEED_FINAL.get((config["decoder"], config["loss"])) if config["latent_dim"] == 2 else None
    record = {
        "metrics": {
            "final_train_rmse": last["rmse"], "final_val_rmse": last["val_rmse"],
            "final_train_bce": last["bce"], "final_val_bce": last["val_bce"],
            "best_epoch": run_info["selected_epoch"], "best_val_loss": min(row["val_loss"] for row in history),
            "test_rmse": test["rmse"], "test_bce": test["bce"],
        },
        "seed_final_train_val": seed_final,
        "history_keys": list(HISTORY_KEYS),
        "epochs": config["epochs"],
        "train_images": run_info["train_images"], "val_images": run_info["val_images"], "test_images": len(x),
        "parameters": trainer.count_params(),
        "timing": cell.timing,
        "saved_model": BEST,
    }
    keras.backend.clear_session()
    return record, arrays


def _final(record, split):
    """The last epoch's error in the seed's unit for the cell's loss: RMSE for L2, BCE for BCE."""
    unit = "rmse" if record["settings"]["loss"] == "l2" else "bce"
    return record["metrics"][f"final_{split}_{unit}"]


def _seed(index):
    return lambda record: (record["seed_final_train_val"] or (None, None))[index]


COLUMNS = (
    Column("decoder", "settings.decoder"), Column("loss", "settings.loss"), Column("code", "settings.latent_dim"),
    Column("parameters", "parameters"),
    Column("final train (ours)", lambda r: _final(r, "train"), ".4f"),
    Column("final train (seed)", _seed(0), ".4f"),
    Column("final val (ours)", lambda r: _final(r, "val"), ".4f"),
    Column("final val (seed)", _seed(1), ".4f"),
    Column("best epoch", "metrics.best_epoch"),
    Column("test RMSE", "metrics.test_rmse", ".4f"),
    Column("test BCE", "metrics.test_bce", ".4f"),
)


SETTLED_FROM_EPOCH = 6  # the seed's "smoother" is about the curves after their first steep drop


def _roughness(curve):
    """RMS of the second differences of log(curve), x 1000: epoch-to-epoch wobble, free of the unit and of
    a steady decay (whose second differences are near 0)."""
    return float(np.sqrt(np.mean(np.diff(np.log(curve), n=2) ** 2)) * 1000)


def summarise(results):
    """How smooth each cell's validation curve is (the seed: "BCE smoother than L2"), from epoch
    `SETTLED_FROM_EPOCH` on: epochs where it rose, and its roughness in the loss's own unit and in RMSE."""
    rows = []
    for record in results.records:
        history = dict(zip(record["history_keys"], results.arrays(record)["history"].T))
        unit = "val_rmse" if record["settings"]["loss"] == "l2" else "val_bce"
        own, rmse = (history[key][SETTLED_FROM_EPOCH - 1:] for key in (unit, "val_rmse"))
        if len(own) < 3:  # too short a run (the quick profile) to have settled
            continue
        rows.append([record["settings"]["decoder"], record["settings"]["loss"], record["settings"]["latent_dim"],
                     f"{SETTLED_FROM_EPOCH}-{len(history['val_rmse'])}", int(np.sum(np.diff(own) > 0)),
                     f"{_roughness(own):.2f}", f"{_roughness(rmse):.2f}"])
    return ["decoder", "loss", "code", "epochs", "epochs the val curve rose", "roughness, own unit",
            "roughness, val RMSE"], rows


# ---------------------------------------------------------------- figures

def _by(results, latent_dim):
    return {(r["settings"]["decoder"], r["settings"]["loss"]): r for r in results.records
            if r["settings"]["latent_dim"] == latent_dim}


def draw_curves(results, path):
    """Seed Figures 10 and 17: training (solid) and validation (dashed) error per epoch, code size 2."""
    from mnistgen_tf.figures import plt, write_png

    cells = _by(results, 2)
    if not cells:
        return False
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for ax, (loss, unit, title) in zip(axes, (("l2", "rmse", "L2 loss: RMSE per pixel"),
                                               ("bce", "bce", "BCE loss: BCE per pixel"))):
        for colour, decoder in zip(("C0", "C3", "C1"), DECODERS):
            record = cells.get((decoder, loss))
            if record is None:
                continue
            history = results.arrays(record)["history"]
            epochs = np.arange(1, len(history) + 1)
            ax.plot(epochs, history[:, HISTORY_KEYS.index(unit)], "-", color=colour, label=f"{decoder} train")
            ax.plot(epochs, history[:, HISTORY_KEYS.index("val_" + unit)], "--", color=colour,
                    label=f"{decoder} validation")
        ax.set(title=title, xlabel="epoch", ylabel=unit.upper())
        ax.grid(True, alpha=0.3)
        if ax.lines:
            ax.legend(fontsize=7)
    fig.suptitle(f"Seed 002 Figures 10 and 17 on MNIST: code size 2, {results.profile.settings['epochs']} epochs",
                 fontsize=10)
    write_png(fig, path)
    return True


def draw_reconstructions(results, path):
    """Seed Figures 18-19: five test digits (top row), then each decoder and loss's reconstructions, code 7."""
    from mnistgen_tf.figures import plt, write_png

    cells = _by(results, 7)
    if not cells:
        return False
    rows = [("input", results.arrays(next(iter(cells.values())))["test_images"])]
    rows += [(f"{decoder}, {loss}", results.arrays(cells[decoder, loss])["reconstructions"])
             for loss in ("l2", "bce") for decoder in DECODERS if (decoder, loss) in cells]
    fig, axes = plt.subplots(len(rows), FIGURE_IMAGES, figsize=(1.2 * FIGURE_IMAGES + 1.6, 1.2 * len(rows)),
                             squeeze=False)
    for ax_row, (label, images) in zip(axes, rows):
        for ax, image in zip(ax_row, images):
            ax.imshow(image[..., 0], cmap="gray", vmin=0, vmax=255)
            ax.set_xticks([])
            ax.set_yticks([])
        ax_row[0].set_ylabel(label, rotation=0, ha="right", va="center", fontsize=8)
    fig.suptitle(f"Code size 7, {results.profile.settings['epochs']} epochs", fontsize=9)
    write_png(fig, path)
    return True


def draw_latent_space(results, path):
    """The code-size-2 encoders' codes of the test images, coloured by digit."""
    from mnistgen_tf.figures import plt, write_png

    cells = _by(results, 2)
    if not cells:
        return False
    fig, axes = plt.subplots(2, 3, figsize=(12, 8), squeeze=False)
    for r, loss in enumerate(("l2", "bce")):
        for c, decoder in enumerate(DECODERS):
            ax = axes[r, c]
            ax.set_title(f"{decoder}, {loss}", fontsize=9)
            record = cells.get((decoder, loss))
            if record is None:
                ax.axis("off")
                continue
            arrays = results.arrays(record)
            points = ax.scatter(*arrays["codes"].T, c=arrays["code_labels"], cmap="tab10", s=1, vmin=-0.5,
                                vmax=9.5, rasterized=True)
    fig.colorbar(points, ax=axes, ticks=range(10), label="digit")
    fig.suptitle(f"Codes of {len(arrays['codes'])} test images, code size 2, "
                 f"{results.profile.settings['epochs']} epochs", fontsize=10)
    write_png(fig, path, tight=False)
    return True


EXPERIMENT = Experiment(
    name=NAME,
    title="Seed 002 Part II on MNIST: conv autoencoders with three decoders, L2 and BCE, codes of 2 and 7",
    profiles={"full": FULL, "quick": QUICK},
    run_cell=run_autoencoder_cell,
    columns=COLUMNS,
    id_labels=(("", "decoder"), ("", "loss"), ("z", "latent_dim"), ("seed", "seed")),
    figures=(
        ("seed002_fig10_17_curves.png", draw_curves),
        ("seed002_fig18_19_reconstructions.png", draw_reconstructions),
        ("seed002_latent_space.png", draw_latent_space),
    ),
    notes=(
        "Final train / val: the last epoch's error in the seed's unit for the loss, RMSE per pixel for L2 and "
        "BCE per pixel for BCE; the training value is Keras's running mean over the epoch, as the seed's "
        "TensorBoard curves. Seed values exist for code size 2 only.",
        "{epochs} epochs (the seed: 100) of the training split (subset={subset}; None: the first 55,000 of the "
        "60,000 images, the last 5,000 for validation); "
        "batch {batch_size}, Adam {learning_rate}. Best epoch: the lowest validation loss, the saved model; "
        "test RMSE and BCE are that model's on the test split.",
        "The seed calls both the upsample and the interpolate decoders nearest-neighbour; here interpolate "
        "resizes bilinearly, so the two differ.",
        "`summary.md`: how smooth each validation curve is from epoch 6 on (the seed: BCE smoother than L2): "
        "epochs it rose, and its roughness, the RMS of the second differences of its logarithm x 1000, in the "
        "cell's own unit (RMSE for L2, BCE for BCE) and in RMSE for both.",
    ),
    summary=summarise,
)
