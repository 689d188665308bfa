"""How long DRAW's `fit` runs on after its last batch, with tf.data's autotuner on and off.

With autotuning on, this TensorFlow sometimes ends an iterator only when the
autotuner next wakes (after 10 ms, 20 ms, 40 ms, ... up to a minute apart):
the kit's DRAW `fit`s then ended on exactly 10.24 or 20.48 s.  The kit's
datasets are untuned (`data.untuned`, `data.batches`).  Each round fits the
thesis configuration (T 16, z 16, LSTM 256, XLA) for ``--steps`` batches of
100 from the same batches, autotuned or not, alternately in one process, and
times the whole `fit` and the part after its last batch.

    python benchmarks/data_teardown.py [--steps 30] [--rounds 4]
"""

import argparse
import time

import numpy as np

import mnistgen_tf  # noqa: F401
import keras
import tensorflow as tf

from mnistgen_tf import data
from mnistgen_tf.models.draw import build_draw


class AfterLastBatch(keras.callbacks.Callback):
    def on_train_batch_end(self, batch, logs=None):
        self.last = time.perf_counter()


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--rounds", type=int, default=4)
    args = parser.parse_args()
    keras.utils.set_random_seed(0)
    images, labels = data.load("mnist", "train")
    n = 100 * args.steps
    examples = tf.data.Dataset.from_tensor_slices(data.examples("images", images[:n], labels[:n]))
    autotuned = examples.batch(100).map(data.PIPELINES["images"]).prefetch(tf.data.AUTOTUNE)
    datasets = {"autotuned": autotuned, "untuned (the kit)": data.pipeline("images", images[:n], labels[:n], 100)}
    model = build_draw(16, 16, 256, seed=0)
    model.compile(optimizer="adam", jit_compile=True)
    model.fit(datasets["untuned (the kit)"].take(3), verbose=0)  # trace and compile
    results = {name: [] for name in datasets}
    for _ in range(args.rounds):
        for name, dataset in datasets.items():
            callback = AfterLastBatch()
            started = time.perf_counter()
            model.fit(dataset, verbose=0, callbacks=[callback])
            ended = time.perf_counter()
            results[name].append((ended - started, ended - callback.last))
    for name, rounds in results.items():
        print(f"{name:>18}: fit " + ", ".join(f"{total:.2f}" for total, _ in rounds)
              + " s; after the last batch " + ", ".join(f"{after:.2f}" for _, after in rounds)
              + f" s (median {np.median([after for _, after in rounds]):.2f})")


if __name__ == "__main__":
    main()
