"""Samples of a conditional generator per digit, and how often they are that digit.

Thesis Figure 4.2 shows 64 samples of DRAW conditioned on 9 (T=8, z=8, LSTM
256).  For a trained run folder this writes, beside its generator:

    samples_digit_<d>.png   64 samples conditioned on d (8 x 8), d = 0..9
    samples_grid.png        10 samples of each digit, one row per digit
    samples.json            label accuracy of 1,000 samples per digit under
                            the shipped MNIST classifier, FID[mnist-cnn] of
                            10,000 samples against the test split, provenance

    python experiments/draw_conditional_samples.py results/draw_conditional_t8_z8/run
"""

import argparse
import json
import os
import sys

import numpy as np

import mnistgen_tf  # noqa: F401
from mnistgen_tf.figures import save_grid_png
from mnistgen_tf.metrics.features import ClassifierFeatures
from mnistgen_tf.metrics.fid import stats_of_generator, stats_of_split
from mnistgen_tf.metrics.frechet import fid_from_stats
from mnistgen_tf.sampling import is_conditional, load_generator, sample
from mnistgen_tf.files import write_text
from mnistgen_tf import provenance


def main(argv=None):
    provenance.capture()  # the code as it is now, before any work
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run", help="run folder holding generator.keras")
    parser.add_argument("--per-digit", type=int, default=1000, help="samples per digit for the accuracy")
    parser.add_argument("--fid-samples", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    generator = load_generator(os.path.join(args.run, "generator.keras"))
    if not is_conditional(generator):
        sys.exit(f"{args.run}/generator.keras is unconditional")
    classifier = ClassifierFeatures("mnist")
    accuracy = {}
    for digit in range(10):
        images = sample(generator, args.per_digit, digit, seed=args.seed + digit)
        save_grid_png(images[:64], os.path.join(args.run, f"samples_digit_{digit}.png"), ncols=8)
        accuracy[digit] = float(np.mean(classifier.classify(images) == digit))
    rows = sample(generator, 100, np.repeat(np.arange(10), 10), seed=args.seed)
    save_grid_png(rows, os.path.join(args.run, "samples_grid.png"), ncols=10)
    fid = fid_from_stats(stats_of_split("mnist", "test", classifier),
                         stats_of_generator(generator, classifier, args.fid_samples, seed=args.seed))
    report = {"command": "python " + " ".join([os.path.relpath(__file__)] + (argv or sys.argv[1:])),
              "samples_per_digit": args.per_digit, "seed": args.seed, "classifier": "mnist-cnn",
              "label_accuracy_per_digit": accuracy,
              "label_accuracy": float(np.mean(list(accuracy.values()))),
              "fid_mnist_cnn": fid, "fid_samples": args.fid_samples, "fid_reference": "mnist:test (10,000)",
              **provenance.record()}
    write_text(os.path.join(args.run, "samples.json"), json.dumps(report, indent=2))
    print(json.dumps({k: report[k] for k in ("label_accuracy", "label_accuracy_per_digit", "fid_mnist_cnn")}, indent=1))


if __name__ == "__main__":
    main()
