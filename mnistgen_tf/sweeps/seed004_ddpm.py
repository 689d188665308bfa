"""Seed 004's diffusion study: linear against cosine noise schedule, FID against sampling steps.

One DDPM per schedule (T = 1000, the zoo's U-Net and training), then the
same trained network behind several samplers (`models.ddpm.with_sampler`):
DDIM (η = 0) with 10, 20, 50 and 100 steps and Ho et al.'s DDPM chain
(η = 1, 1,000 steps).  Every sampler draws the same number of images from
the same x_T seeds, scored by FID[mnist-cnn] against the test split beside
the real-vs-real FID at that size, and timed.  The seed's question: does the
nonlinear (cosine) schedule beat the linear one ("liniowy vs nieliniowy"),
and how many steps does sampling need?

The linear cell is the zoo's DDPM (``seed004_zoo``'s ``ddpm_seed0``, recorded
under ``uses``) rather than a second copy of its hours of training; the
cosine cell trains with the same settings, so the two differ in the schedule
only (checked against the zoo run's config).
"""

import csv
import dataclasses
import os

import keras

from mnistgen_tf.errors import MnistgenError
from mnistgen_tf.evaluate import to_uint8
from mnistgen_tf.files import read_json
from mnistgen_tf.registry import FAMILIES
from mnistgen_tf.metrics.features import ClassifierFeatures
from mnistgen_tf.metrics.fid import real_baseline, stats_of_images
from mnistgen_tf.metrics.frechet import fid_from_stats
from mnistgen_tf.sampling import load_generator
from mnistgen_tf.sweep import CELL_FILE, RUN_DIR, SAMPLE_PARTS, Column, Experiment, Profile, train_cell
from mnistgen_tf.sweeps.seed004_zoo import DDPM_EPOCHS, DDPM_LEARNING_RATE, timed_sample

NAME = "seed004_ddpm"
# (name, steps, eta): the samplers every cell is scored with.
# DDIM at 1,000 steps is left out: on a CPU it costs as much as the chain, and the DDIM line has flattened by 100.
SAMPLERS = (("ddim10", 10, 0.0), ("ddim20", 20, 0.0), ("ddim50", 50, 0.0), ("ddim100", 100, 0.0),
            ("ddpm1000", 1000, 1.0))
ZOO_CELL = ("seed004_zoo", "ddpm_seed0")  # the linear schedule's DDPM

FULL = Profile(
    settings={"dataset": "mnist", "schedule": "linear", "timesteps": 1000, "base_channels": 32, "epochs": DDPM_EPOCHS,
              "learning_rate": DDPM_LEARNING_RATE, "subset": None, "seed": 0, "eval_samples": 500},
    grids=({"schedule": ("linear", "cosine")},),
)
QUICK = Profile(
    settings={**FULL.settings, "timesteps": 20, "base_channels": 8, "sample_steps": 4, "epochs": 1, "subset": 300,
              "eval_samples": 50},
    grids=FULL.grids,
)


def _samplers(timesteps):
    """`SAMPLERS` with their steps capped at T (the quick profile's T is small)."""
    return [(name, min(steps, timesteps), eta) for name, steps, eta in SAMPLERS]


def _zoo_ddpm(zoo_cell, settings):
    """The zoo's trained DDPM as this study's cell: generator, run record, last history row, timing."""
    run = os.path.join(zoo_cell, RUN_DIR)
    info = read_json(os.path.join(run, "run.json"), "run record")
    # What the cosine cell trains with: the study's settings over the family's defaults (the sampler's own
    # options, steps and eta, do not change the training).
    expected = {**dataclasses.asdict(FAMILIES["ddpm"].make_options()), **settings}
    differs = sorted(k for k, v in expected.items() if k not in ("sample_steps", "eta") and info["config"].get(k) != v)
    if differs:
        raise MnistgenError(f"{zoo_cell} was trained with other settings than this study's ({', '.join(differs)})")
    with open(os.path.join(run, "history.csv"), newline="") as f:
        last = list(csv.DictReader(f))[-1]
    timing = read_json(os.path.join(zoo_cell, CELL_FILE), "cell record")["timing"]
    last = {k: float(last[k]) for k in ("loss", "val_loss")}
    return load_generator(os.path.join(run, "generator.keras")), info, last, timing


def run_ddpm_cell(cell_dir, settings, verbose, used):
    """Train (resuming) one DDPM, or take the zoo's, and score it under every sampler; returns
    ``(record, arrays)``."""
    from mnistgen_tf.models.ddpm import with_sampler

    settings = dict(settings)
    n = settings.pop("eval_samples")
    if "model" in used:
        generator, info, last, timing = _zoo_ddpm(used["model"], settings)
    else:
        cell = train_cell("ddpm", cell_dir, settings, verbose)
        generator, info, last, timing = cell.generator, cell.run_info, cell.history[-1], cell.timing
    classifier = ClassifierFeatures("mnist")
    distance, _, reference = real_baseline("mnist", classifier, n, "test")
    metrics, arrays, parts = {"fid_real_vs_real": distance}, {}, os.path.join(cell_dir, SAMPLE_PARTS)
    for name, steps, eta in _samplers(settings["timesteps"]):
        images, metrics[f"{name}_seconds_per_1000"] = timed_sample(with_sampler(generator, steps, eta), n,
                                                                   settings["seed"] + 3, parts)
        metrics[f"{name}_fid"] = fid_from_stats(stats_of_images(images, classifier), reference)
        metrics[f"{name}_classifier_score"] = classifier.score(images)
        arrays[f"samples_{name}"] = to_uint8(images[:36])
    record = {"metrics": metrics, "extractor": classifier.name, "eval_samples": n, "epochs": info["config"]["epochs"],
              "train_images": info["train_images"], "parameters": info["parameters"], "final_loss": last["loss"],
              "final_val_loss": last["val_loss"], "timing": timing}
    keras.backend.clear_session()
    return record, arrays


COLUMNS = (
    (Column("schedule", "settings.schedule"), Column("last epoch's val loss", "final_val_loss", ".4f"))
    + tuple(Column(f"{name}: FID", f"metrics.{name}_fid", ".2f") for name, _, _ in SAMPLERS)
    + (Column("real vs real ({eval_samples})", "metrics.fid_real_vs_real", ".2f"),)
    + tuple(Column(f"{name}: s / 1,000", f"metrics.{name}_seconds_per_1000", ".1f") for name, _, _ in SAMPLERS)
)


def draw_steps(results, path):
    """FID against the number of sampling steps, one line per schedule (DDIM), the DDPM chain as a point."""
    from mnistgen_tf.figures import plt, write_png

    records = results.records
    if not records:
        return False
    fig, ax = plt.subplots(figsize=(5, 3.6))
    timesteps = results.profile.settings["timesteps"]
    for record in records:
        ddim = [(steps, record["metrics"][f"{name}_fid"]) for name, steps, eta in _samplers(timesteps) if eta == 0]
        line, = ax.semilogx(*zip(*ddim), "o-", label=f"{record['settings']['schedule']}, DDIM")
        ax.plot([timesteps], [record["metrics"]["ddpm1000_fid"]], "s", color=line.get_color(),
                label=f"{record['settings']['schedule']}, DDPM chain")
    ax.axhline(records[0]["metrics"]["fid_real_vs_real"], color="k", lw=0.8, ls="--", label="real vs real")
    ax.set(xlabel="sampling steps", ylabel=f"FID[mnist-cnn], {records[0]['eval_samples']} samples")
    ax.legend(fontsize=7)
    write_png(fig, path)
    return True


EXPERIMENT = Experiment(
    name=NAME,
    title="Seed 004: DDPM, linear against cosine schedule, FID against sampling steps",
    profiles={"full": FULL, "quick": QUICK},
    run_cell=run_ddpm_cell,
    columns=COLUMNS,
    id_labels=(("", "schedule"), ("seed", "seed")),
    figures=(("seed004_ddpm_steps.png", draw_steps),),
    uses=lambda settings: {"model": ZOO_CELL} if settings["schedule"] == "linear" else {},
    notes=(
        "One U-Net per schedule (T = {timesteps}, {epochs} epochs; the linear one is the zoo's DDPM, "
        "`seed004_zoo/cells/ddpm_seed0`); every sampler draws {eval_samples} images "
        "from the same x_T seeds: ddimS = DDIM (eta 0) over S evenly spaced steps, ddpm1000 = Ho et al.'s "
        "chain (eta 1) over all steps. FID[mnist-cnn] against the test split; real vs real: as many training "
        "images against the same reference.",
        "Val loss: the ε-prediction MSE of the last epoch trained (the scores are the weights of the epoch with "
        "the lowest one, `run/run.json`'s selected_epoch). Each schedule weighs the noise levels differently, so "
        "the two cells' losses are not comparable: compare their FIDs.",
        "s / 1,000: sampling time on a shared 2-core CPU, compilation included (`timing.csv` names the machine); "
        "timed on the images drawn, scaled to 1,000.",
        "With few DDIM steps the first step's x̂_0 comes from nearly pure noise (ᾱ at the last step: about 4e-5 "
        "linear, 2e-9 cosine) and enters the next step with weight √ᾱ_prev, larger for cosine: read the "
        "10-step column with that in mind.",
    ),
)
