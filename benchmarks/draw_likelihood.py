"""DRAW's predictions for the NLL: the outputs it needs alone against every output of the model.

The importance-sampled NLL (`metrics.likelihood`) runs one forward pass per
image and posterior sample, k = 100 on 10,000 test images a million of them,
and reads four outputs: ``logits``, ``mu``, ``log_var``, ``z``.  The whole
model also stacks every step's canvas (and, with attention, the windows).
Each round times ``--batches`` predictions of batches of ``--batch-size``
images with drawn noise, by the whole model and by
``Draw.outputs_model`` of the four outputs, alternately in one process, each
first in every other round (the machine's load then weighs on both alike); the medians, best rounds and
their ratio are printed, and the hours of k = 100 on 10,000 images at the
lean median.  The weights are untrained: the time does not depend on them.

    python benchmarks/draw_likelihood.py [--timesteps 64 --z-dim 100 --read-n 2 --write-n 5 --shared-dense]
                                         [--batch-size 500] [--batches 2] [--rounds 3]
"""

import argparse
import statistics
import time

import numpy as np

import mnistgen_tf  # noqa: F401

from mnistgen_tf.metrics.likelihood import OUTPUTS
from mnistgen_tf.models.draw import build_draw


def seconds_per_image(predict, batch, batches):
    predict(batch)  # trace and warm up
    start = time.perf_counter()
    for _ in range(batches):
        predict(batch)
    return (time.perf_counter() - start) / (batches * len(batch["image"]))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--timesteps", type=int, default=64)
    parser.add_argument("--z-dim", type=int, default=100)
    parser.add_argument("--units", type=int, default=256)
    parser.add_argument("--read-n", type=int, default=0, help="attention read N (default 0: none)")
    parser.add_argument("--write-n", type=int, default=0, help="attention write N (default 0: none)")
    parser.add_argument("--shared-dense", action="store_true",
                        help="one of each Dense layer for all steps, as the DRAW paper (draw_paper_mnist)")
    parser.add_argument("--batch-size", type=int, default=500, help="images per prediction (the NLL's 500)")
    parser.add_argument("--batches", type=int, default=2, help="timed predictions per round (default 2)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of each (default 3)")
    args = parser.parse_args()
    model = build_draw(args.timesteps, args.z_dim, args.units, seed=0, read_n=args.read_n, write_n=args.write_n,
                       shared_dense=args.shared_dense)
    rng = np.random.default_rng(0)
    batch = {"image": (rng.random((args.batch_size, 28, 28, 1)) < 0.2).astype("float32"),
             "label": np.zeros(args.batch_size, "int32"),
             "noise": rng.standard_normal((args.batch_size, args.timesteps, args.z_dim)).astype("float32")}
    variants = {"whole model": model.predict_on_batch,
                "outputs_model": model.outputs_model(OUTPUTS).predict_on_batch}
    times = {name: [] for name in variants}
    for round_ in range(args.rounds):
        for name in list(variants)[::1 if round_ % 2 == 0 else -1]:  # each first in every other round
            times[name].append(seconds_per_image(variants[name], batch, args.batches))
    attention = f", read {args.read_n} write {args.write_n}" if args.read_n or args.write_n else ""
    print(f"config: T={args.timesteps} z={args.z_dim} LSTM={args.units}{attention}, "
          f"{'shared Dense layers, ' if args.shared_dense else ''}batch {args.batch_size}, float32")
    for name, seconds in times.items():
        rounds = ", ".join(f"{1e3 * s:.2f}" for s in seconds)
        print(f"{name:>14}: median {1e3 * statistics.median(seconds):6.2f}, best {1e3 * min(seconds):6.2f} "
              f"ms per image and sample  (rounds: {rounds})")
    whole, lean = (statistics.median(seconds) for seconds in times.values())
    print(f"ratio whole model / outputs_model, median: {whole / lean:.3f}")
    print(f"k = 100 on 10,000 images at the outputs_model median: {1e6 * lean / 3600:.2f} hours")


if __name__ == "__main__":
    main()
