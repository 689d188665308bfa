"""Inactive latent variables of a trained DRAW, counted at several thresholds.

The thesis calls a latent variable inactive when its posterior variance,
averaged over the test images (E[sigma^2]), is above 0.9: the encoder leaves it
at the prior.  Sweeps report that one count (`metrics.latent`).  With many
variables that each carry little information, as the DRAW paper's 64 steps of
100, the count says little on its own; this script shows how it moves with the
threshold, beside the median E[sigma^2] and the KL the variables carry.

For a run folder holding a DRAW trainer (its best.keras, or its last
checkpoint) it measures the first --images test images, binarized as the run
was evaluated (one posterior sample each, --seed; in float32), and writes
RUN/inactive.json: the KL and -ELBO in nats, the number of variables, the
median E[sigma^2], the inactive count at each threshold, the command and
provenance.

    python experiments/draw_inactive.py results/draw_paper_mnist/cells/read0_write0/run
"""

import argparse
import json
import os
import sys

import numpy as np

import mnistgen_tf  # noqa: F401  (quiet TensorFlow start-up)
from mnistgen_tf import data, provenance
from mnistgen_tf.errors import MnistgenError
from mnistgen_tf.evaluate import test_split_metrics
from mnistgen_tf.files import write_json
from mnistgen_tf.metrics.likelihood import in_float32
from mnistgen_tf.train import load_trainer, read_config

DEFAULT_THRESHOLDS = (0.5, 0.9, 0.99)


def inactive_report(trainer, images, labels, thresholds, seed=0):
    """KL, -ELBO, median E[sigma^2] and the inactive count at each threshold on `images`, computed
    in float32 (a bf16-trained DRAW through a float32 copy, as its NLL is)."""
    metrics, latent, _ = test_split_metrics(in_float32(trainer), images, labels, seed=seed, keep=0)
    mean_of_vars = latent.mean_of_vars
    return {"images": len(images), "kl_nats": metrics["kl_nats"], "neg_elbo_nats": metrics["neg_elbo_nats"],
            "variables": int(mean_of_vars.size), "median_mean_of_vars": float(np.median(mean_of_vars)),
            "inactive": {str(t): int(np.sum(mean_of_vars > t)) for t in thresholds}}


def main(argv=None):
    provenance.capture()  # the code as it is now, before any work
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run", help="run folder of a trained DRAW (holding best.keras or a checkpoint)")
    parser.add_argument("--images", type=int, default=10_000, help="first test images measured (default all 10,000)")
    parser.add_argument("--thresholds", type=float, nargs="+", default=DEFAULT_THRESHOLDS,
                        help="E[sigma^2] above which a variable counts inactive "
                        f"(default {' '.join(map(str, DEFAULT_THRESHOLDS))}; the thesis uses 0.9)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the posterior samples (default 0)")
    args = parser.parse_args(argv)
    try:
        if args.images < 1:
            raise MnistgenError(f"--images must be at least 1, got {args.images}")
        config = read_config(args.run)
        if config["family"] != "draw":
            raise MnistgenError(f"{args.run} holds a {config['family']} run, not a DRAW")
        trainer, _ = load_trainer(args.run)
        images, labels = data.load(config["dataset"], "test")
        x = data.for_evaluation(images[:args.images], config)
        report = inactive_report(trainer, x, labels[:args.images], args.thresholds, args.seed)
    except MnistgenError as e:
        print(f"draw_inactive.py: error: {e}", file=sys.stderr)
        return 2
    report = {"command": "python " + " ".join([os.path.relpath(__file__)] + (argv or sys.argv[1:])),
              "seed": args.seed, **report, **provenance.record()}
    write_json(os.path.join(args.run, "inactive.json"), report)
    print(json.dumps({k: report[k] for k in ("images", "kl_nats", "variables", "median_mean_of_vars", "inactive")},
                     indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
