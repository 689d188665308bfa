"""How long `fit` and `predict` run on after their last batch, with tf.data's autotuner on and off.

With autotuning on (Keras's datasets built from arrays, or any dataset not
made by `mnistgen_tf.data`), this TensorFlow ends an iterator only when the
autotuner next wakes, after 10 ms, 20 ms, 40 ms, ... up to a minute apart;
the kit's datasets are untuned (`data.untuned`, `data.batches`).  Each round
times a small model's `fit` (wall time, and the part after its last batch)
and `predict`, with the same batches either way.

    python benchmarks/data_teardown.py [--rounds 3]
"""

import argparse
import statistics
import time

import numpy as np

import mnistgen_tf  # noqa: F401
import keras
import tensorflow as tf

from mnistgen_tf import data


class AfterLastBatch(keras.callbacks.Callback):
    """The time of the last batch's end, to measure what `fit` does after it."""

    def on_train_batch_end(self, batch, logs=None):
        self.last = time.perf_counter()


def rounds(model, x, untuned, n_rounds):
    y = np.zeros((len(x), 1), "float32")
    train = tf.data.Dataset.from_tensor_slices((x, y)).batch(100).prefetch(tf.data.AUTOTUNE)
    train = data.untuned(train) if untuned else train
    times = {"fit": [], "fit after last batch": [], "predict": []}
    for _ in range(n_rounds):
        callback = AfterLastBatch()
        started = time.perf_counter()
        model.fit(train, epochs=1, verbose=0, callbacks=[callback])
        ended = time.perf_counter()
        times["fit"].append(ended - started)
        times["fit after last batch"].append(ended - callback.last)
        started = time.perf_counter()
        if untuned:
            model.predict(data.batches(x, 100), verbose=0)
        else:
            model.predict(x, batch_size=100, verbose=0)
        times["predict"].append(time.perf_counter() - started)
    return {name: statistics.median(values) for name, values in times.items()}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    keras.utils.set_random_seed(0)
    x = np.random.default_rng(0).random((20_000, 784)).astype("float32")
    model = keras.Sequential([keras.Input((784,)), keras.layers.Dense(1024, activation="relu"), keras.layers.Dense(1)])
    model.compile(optimizer="adam", loss="mse")
    model.fit(x[:200], np.zeros((200, 1)), verbose=0)  # trace and warm up
    for untuned in (False, True):
        medians = rounds(model, x, untuned, args.rounds)
        print(f"{'untuned (the kit)' if untuned else 'autotuned':>18}: "
              + ", ".join(f"{name} {value:.2f} s" for name, value in medians.items()), flush=True)


if __name__ == "__main__":
    main()
