"""Seed 004's application "completing missing parts", measured: inpainting MNIST test digits.

One cell per (method, mask); every cell completes the same test images (a
seeded draw) under one of the masks of `mnistgen_tf.inpainting` (bottom half,
left half, centred 14×14 square, 50% random pixels) with one method: the
per-pixel training mean (baseline), the zoo's VAE (codes fitted to the
observed pixels) or the zoo's DDPM (RePaint-style reverse chain).  The trained
models are the finished cells of ``seed004_zoo`` (recorded under ``uses``).

Per cell: the MSE on the missing pixels only (averaged over completions), the
label accuracy of the completed images under `mnist-cnn` (does the completion
keep the digit?) beside the accuracy on the input with its missing pixels
black, and the diversity of several completions of one input (the standard
deviation across completions, averaged over missing pixels and images).
"""

import time

import keras
import numpy as np

from mnistgen_tf import data
from mnistgen_tf.evaluate import to_uint8
from mnistgen_tf.inpainting import MASKS, complete, observed_mask
from mnistgen_tf.metrics.features import ClassifierFeatures
from mnistgen_tf.sampling import load_generator
from mnistgen_tf.sweep import Column, Experiment, Profile

NAME = "seed004_applications/inpainting"
METHODS = ("mean", "vae", "ddpm")
ZOO_CELLS = {"vae": "vae_seed0", "ddpm": "ddpm_seed0"}  # the seed004_zoo cell each method completes with
EXAMPLES = 6  # images per cell kept for the figure

FULL = Profile(
    settings={"method": "mean", "mask": "bottom_half", "test_images": 1000, "completions": 4, "vae_steps": 300,
              "ddpm_steps": 50, "seed": 0},
    grids=({"method": METHODS, "mask": MASKS},),
)
QUICK = Profile(settings={**FULL.settings, "test_images": 12, "completions": 2, "vae_steps": 20, "ddpm_steps": 4},
                grids=({"method": METHODS, "mask": ("centre_square", "random_half")},))


def inpainting_metrics(images, labels, mask, completions, classifier):
    """Missing-pixel MSE, label accuracy of completions and of the black-filled input, diversity."""
    missing = 1.0 - mask
    squared = ((completions - images) ** 2 * missing).sum(axis=(2, 3, 4)) / missing.sum(axis=(1, 2, 3))
    read = np.stack([classifier.classify(c) for c in completions])
    return {"missing_mse": float(squared.mean()), "label_accuracy": float(np.mean(read == labels)),
            "masked_input_accuracy": float(np.mean(classifier.classify(images * mask) == labels)),
            "diversity": float(((completions.std(axis=0) * missing).sum(axis=(1, 2, 3))
                                / missing.sum(axis=(1, 2, 3))).mean())}


def run_inpainting_cell(cell_dir, settings, verbose, used):
    images, labels = data.seeded_draw("mnist", "test", settings["test_images"], settings["seed"])
    mask = observed_mask(settings["mask"], len(images), seed=settings["seed"])
    generator = load_generator(f"{used['model']}/run/generator.keras") if "model" in used else None
    steps = {"vae": settings["vae_steps"], "ddpm": settings["ddpm_steps"]}.get(settings["method"])
    started = time.perf_counter()
    completions = complete(images, mask, generator, settings["completions"], steps, seed=settings["seed"] + 1)
    seconds = time.perf_counter() - started
    metrics = inpainting_metrics(images, labels, mask, completions, ClassifierFeatures("mnist"))
    metrics["seconds_per_image"] = seconds / len(images)
    record = {"metrics": metrics, "completions_per_image": len(completions), "extractor": "mnist-cnn"}
    arrays = {"originals": to_uint8(images[:EXAMPLES]), "mask": mask[:EXAMPLES].astype(np.uint8),
              "completions": to_uint8(completions[:2, :EXAMPLES])}
    keras.backend.clear_session()
    return record, arrays


COLUMNS = (
    Column("method", "settings.method"),
    Column("mask", "settings.mask"),
    Column("MSE, missing pixels", "metrics.missing_mse", ".4f"),
    Column("label accuracy", "metrics.label_accuracy", ".4f"),
    Column("input, missing black", "metrics.masked_input_accuracy", ".4f"),
    Column("diversity", "metrics.diversity", ".4f"),
    Column("completions", "completions_per_image"),
    Column("s / image", "metrics.seconds_per_image", ".3f"),
)


def draw_completions(results, path):
    """Per mask, for a few test digits: the input with its mask, each method's completion, the original."""
    from mnistgen_tf.figures import plt, write_png

    by_key = {(r["settings"]["mask"], r["settings"]["method"]): r for r in results.records}
    masks = [m for m in MASKS if any(key[0] == m for key in by_key)]
    methods = [m for m in METHODS if any(key[1] == m for key in by_key)]
    if not masks:
        return False
    shown = 3
    fig, axes = plt.subplots(len(masks), shown * (len(methods) + 2), squeeze=False,
                             figsize=(0.9 * shown * (len(methods) + 2), 1.05 * len(masks)))
    for row, mask_name in zip(axes, masks):
        first = results.arrays(next(r for (m, _), r in by_key.items() if m == mask_name))
        for k in range(shown):
            original, mask = first["originals"][k, ..., 0], first["mask"][k, ..., 0]
            masked = np.where(mask > 0, original, 128)  # missing pixels grey
            panels = [("input", masked)]
            for method in methods:
                record = by_key.get((mask_name, method))
                image = results.arrays(record)["completions"][0, k, ..., 0] if record else np.zeros_like(original)
                panels.append((method, image))
            panels.append(("original", original))
            for j, (title, image) in enumerate(panels):
                ax = row[k * len(panels) + j]
                ax.imshow(image, cmap="gray", vmin=0, vmax=255)
                ax.set_xticks([]), ax.set_yticks([])
                if row is axes[0]:
                    ax.set_title(title, fontsize=7)
        row[0].set_ylabel(mask_name.replace("_", " "), fontsize=7)
    fig.suptitle("Inpainting MNIST test digits: input (missing grey), completions, original", fontsize=9)
    write_png(fig, path)
    return True


EXPERIMENT = Experiment(
    name=NAME,
    title="Seed 004 applications: inpainting MNIST test digits",
    profiles={"full": FULL, "quick": QUICK},
    run_cell=run_inpainting_cell,
    columns=COLUMNS,
    id_labels=(("", "method"), ("", "mask"), ("seed", "seed")),
    figures=(("seed004_inpainting.png", draw_completions),),
    uses=lambda settings: ({"model": ("seed004_zoo", ZOO_CELLS[settings["method"]])}
                           if settings["method"] in ZOO_CELLS else {}),
    notes=(
        "{test_images} test images (a seeded draw, the same for every cell). MSE per pixel over the missing "
        "pixels only, images in [0, 1]; observed pixels are the input's in every completion.",
        "Label accuracy: the completions read by mnist-cnn as the test label; beside it the same classifier on "
        "the input with its missing pixels black (what completion has to beat).",
        "Diversity: standard deviation across the completions of one input, averaged over its missing pixels "
        "and the images ({completions} completions for vae and ddpm; the mean has one).",
        "mean: per-pixel mean of the 60,000 training images. vae: the zoo's VAE decoder (code 16); its code is "
        "fitted to the observed pixels by {vae_steps} Adam steps on their BCE + ‖z‖²/2, from random starts. "
        "ddpm: the zoo's DDPM U-Net, {ddpm_steps} of its 1000 steps with Ho et al.'s stochastic update, the "
        "observed pixels replaced by q(x_t | x_0) before each step (RePaint without resampling).",
        "s / image: completing one image, all its completions, on the shared 2-core CPU.",
    ),
)
