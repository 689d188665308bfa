"""Does bfloat16 train DRAW as well as float32?  The -ELBO after equal epochs, two seeds each.

DRAW T=16, z=16, LSTM 256 (the benchmark's configuration, thesis Figure
3.5's model) on the ELBO, trained in float32 and in ``mixed_bfloat16``
(bfloat16 compute, float32 weights, loss and canvas) from the same seeds.
The DRAW-paper issue's test: the test -ELBO of the two precisions within
0.5 nats after equal epochs; the seeds' spread says how much of a
difference is the precision's.  Throughput is measured side by side by
``benchmarks/draw_throughput.py --compare-precisions``; the seconds per
epoch here are for information (the machine's load varies).

``draw_precision_paper`` (`PAPER`) runs the same check, shorter, on the DRAW
paper's configuration without attention, which ``draw_paper_mnist`` trains
in bfloat16.
"""

import dataclasses

import numpy as np

from mnistgen_tf.sweep import Column, Experiment, Profile
from mnistgen_tf.sweeps.draw_cells import COLUMNS, FULL_SETTINGS, QUICK_SETTINGS, run_draw_cell

NAME = "draw_precision"
TOLERANCE_NATS = 0.5

FULL = Profile(
    settings={**FULL_SETTINGS, "timesteps": 16, "z_dim": 16, "conditional": False, "epochs": 3},
    grids=({"precision": ("float32", "mixed_bfloat16"), "seed": (0, 1)},),
)
QUICK = Profile(
    settings={**QUICK_SETTINGS, "timesteps": 2, "z_dim": 4, "conditional": False},
    grids=({"precision": ("float32", "mixed_bfloat16"), "seed": (0,)},),
)


def summarise(results):
    """Per precision: mean and spread of the test -ELBO over seeds, and the difference to float32."""
    by_precision = {}
    for record in results.records:
        by_precision.setdefault(record["settings"]["precision"], []).append(record["metrics"]["neg_elbo_nats"])
    reference = by_precision.get("float32")
    rows = []
    for precision, values in by_precision.items():
        spread = f"{max(values) - min(values):.2f}" if len(values) > 1 else ""
        change, within = "", ""
        if reference and precision != "float32":
            difference = np.mean(values) - np.mean(reference)
            change, within = f"{difference:+.2f}", "yes" if abs(difference) <= TOLERANCE_NATS else "no"
        rows.append([precision, len(values), f"{np.mean(values):.2f}", spread, change, within])
    headers = ["precision", "seeds", "mean test -ELBO (nats)", "max - min over seeds", "minus float32",
               f"within {TOLERANCE_NATS} nats"]
    return headers, rows


EXPERIMENT = Experiment(
    name=NAME,
    title="DRAW in bfloat16 against float32: the -ELBO after equal epochs",
    profiles={"full": FULL, "quick": QUICK},
    run_cell=run_draw_cell,
    columns=(Column("precision", "settings.precision"), COLUMNS["seed"], COLUMNS["epochs"], COLUMNS["elbo"],
             COLUMNS["bce"], COLUMNS["kl"], COLUMNS["fid"], COLUMNS["inactive"],
             Column("s per epoch", "timing.seconds_per_epoch", ".0f")),
    id_labels=(("", "precision"), ("seed", "seed")),
    summary=summarise,
    notes=(
        "DRAW T={timesteps}, z={z_dim}, LSTM {units}, shared LSTM weights, trained on the ELBO for {epochs} epochs "
        "(batch {batch_size}, Adam {learning_rate}); mixed_bfloat16 computes in bfloat16 with float32 weights, "
        "loss and canvas.",
        "-ELBO, BCE and KL on the whole test split, one posterior sample per image; FID[{features}-cnn] of "
        "{fid_samples} samples against the test split.",
        "s per epoch: wall time of the training session over its epochs, for information only (the "
        "machine is shared); the throughput ratio is benchmarks/draw_throughput.py --compare-precisions.",
    ),
)

# The same check on the DRAW paper's configuration without attention, the one draw_paper_mnist trains in
# bfloat16 (T 64, z 100, shared Dense layers, dynamic binarization, clipped gradients, no XLA), shorter:
# 3 epochs on the first 10,000 training images (the last tenth of them held out for validation).
PAPER_SETTINGS = {"timesteps": 64, "z_dim": 100, "shared_dense": True, "dynamic_binarization": True,
                  "clip_norm": 10.0, "xla": False}
PAPER = dataclasses.replace(
    EXPERIMENT, name=NAME + "_paper",
    title="DRAW in bfloat16 against float32 on the DRAW paper's configuration: the -ELBO after equal epochs",
    profiles={"full": dataclasses.replace(FULL, settings={**FULL.settings, **PAPER_SETTINGS, "subset": 10_000,
                                                           "fid_samples": 2_000}),
              "quick": dataclasses.replace(QUICK, settings={**QUICK.settings, **PAPER_SETTINGS, "timesteps": 3})},
    notes=("DRAW T={timesteps}, z={z_dim}, LSTM {units}, every layer shared across steps (the DRAW paper's "
           "configuration without attention), trained on the ELBO for {epochs} epochs on the first {subset} "
           "training images, the last tenth of them held out for validation (batch {batch_size}, Adam "
           "{learning_rate}, gradients clipped to global norm {clip_norm}, a fresh binarization every batch, "
           "the test split one fixed draw); mixed_bfloat16 "
           "computes in bfloat16 with float32 weights, loss and canvas.", *EXPERIMENT.notes[1:]),
)
