"""Train the CNN classifiers whose penultimate layer gives FID features.

    python -m mnistgen_tf.assets.train_classifiers --dataset mnist|fashion_mnist [--epochs E] [--seed S]

Trains on the train split, reports accuracy on the test split, and writes
``<dataset>_cnn.keras`` (weights, no optimizer state) and ``<dataset>_cnn.json``
(how it was made) beside this script, or in ``--out-dir``.
"""

import argparse
import datetime
import hashlib
import os
import shlex
import sys
import time

import keras
import numpy as np
import tensorflow as tf

from mnistgen_tf import data, provenance
from mnistgen_tf.errors import MnistgenError
from mnistgen_tf.files import save_model, write_json

ASSET_DIR = os.path.dirname(os.path.abspath(__file__))
PROG = "python -m mnistgen_tf.assets.train_classifiers"
DATASETS = ("mnist", "fashion_mnist")
DEFAULT_EPOCHS = {"mnist": 6, "fashion_mnist": 8}


def build_classifier(name="cnn"):
    """conv32-conv32-pool-conv64-conv64-pool-conv128-pool-dense128-softmax.

    The third pooling keeps the dense layer small (1152 inputs), so the saved
    file stays well under 2 MB. The 128 ReLU outputs named "features" are what FID uses.
    """
    inputs = keras.Input((28, 28, 1), name="image")
    x = inputs
    for filters, convs in ((32, 2), (64, 2), (128, 1)):
        for _ in range(convs):
            # No conv bias: BatchNorm's offset replaces it.
            x = keras.layers.Conv2D(filters, 3, padding="same", use_bias=False)(x)
            # momentum 0.9: the moving statistics settle within a short run.
            x = keras.layers.BatchNormalization(momentum=0.9)(x)
            x = keras.layers.ReLU()(x)
        x = keras.layers.MaxPooling2D()(x)
    x = keras.layers.Flatten()(x)
    x = keras.layers.Dense(128, use_bias=False)(x)
    # BatchNorm before the ReLU keeps every feature unit active on some digits;
    # without it most of them died, and dead units are blind dimensions for FID.
    x = keras.layers.BatchNormalization(momentum=0.9)(x)
    x = keras.layers.ReLU(name="features")(x)
    x = keras.layers.Dropout(0.4)(x)
    outputs = keras.layers.Dense(10, activation="softmax", name="probabilities")(x)
    return keras.Model(inputs, outputs, name=name)


def _dataset(images, labels, batch_size, augment, seed):
    ds = tf.data.Dataset.from_tensor_slices((data.to_float(images), labels.astype(np.int32)))
    ds = ds.shuffle(len(images), seed=seed, reshuffle_each_iteration=True).batch(batch_size)
    if augment:
        # Shifts of up to 2 pixels: digits and garments are not always centred
        # the same way, and a shift never changes the class.
        shift = keras.layers.RandomTranslation(0.08, 0.08, fill_mode="constant", seed=seed)
        ds = ds.map(lambda x, y: (shift(x, training=True), y), num_parallel_calls=tf.data.AUTOTUNE)
    return ds.prefetch(tf.data.AUTOTUNE)


def train(dataset, epochs, seed=0, batch_size=128, augment=True, limit=None, out_dir=ASSET_DIR, verbose=1,
          command=None):
    """Train, evaluate and save one classifier; returns the JSON record.

    ``command`` is the command line recorded in the JSON; by default the one
    that would repeat this call.
    """
    if dataset not in DATASETS:
        raise MnistgenError(f"unknown dataset {dataset!r}; choose one of {', '.join(DATASETS)}")
    made_by = provenance.capture()  # the code as it is when training starts
    os.makedirs(out_dir, exist_ok=True)
    start = time.time()
    keras.utils.set_random_seed(seed)
    x_train, y_train = data.load(dataset, "train")
    x_test, y_test = data.load(dataset, "test")
    if limit:
        x_train, y_train = x_train[:limit], y_train[:limit]

    model = build_classifier(f"{dataset}_cnn")
    steps = epochs * -(-len(x_train) // batch_size)
    # Cosine decay to zero: the few epochs we can afford end at a settled minimum.
    schedule = keras.optimizers.schedules.CosineDecay(1e-3, decay_steps=steps)
    model.compile(optimizer=keras.optimizers.Adam(schedule), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    # shuffle=False: the dataset already reshuffles itself every epoch.
    history = model.fit(_dataset(x_train, y_train, batch_size, augment, seed), epochs=epochs, shuffle=False,
                        verbose=verbose)
    test_loss, test_acc = model.evaluate(data.to_float(x_test), y_test, batch_size=500, verbose=verbose)

    # Save an uncompiled copy: the optimizer state would double the file and
    # is of no use to a feature extractor.
    clean = build_classifier(model.name)
    clean.set_weights(model.get_weights())
    path = os.path.join(out_dir, f"{dataset}_cnn.keras")
    save_model(clean, path)
    with open(path, "rb") as f:
        sha256 = hashlib.sha256(f.read()).hexdigest()

    record = {
        "dataset": dataset,
        "file": os.path.basename(path),
        "file_bytes": os.path.getsize(path),
        "sha256": sha256,
        "test_accuracy": round(float(test_acc), 6),
        "test_loss": round(float(test_loss), 6),
        "train_accuracy_last_epoch": round(float(history.history["accuracy"][-1]), 6),
        "epochs": epochs,
        "seed": seed,
        "batch_size": batch_size,
        "augment": augment,
        "train_images": len(x_train),
        "parameters": int(clean.count_params()),
        "feature_layer": "features",
        "feature_dim": int(clean.get_layer("features").output.shape[-1]),
        "command": command or _command(dataset, epochs, seed, batch_size, augment, limit, out_dir),
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        **{key: made_by[key] for key in ("git_commit", "git_dirty", "source_sha256")},
        "tensorflow_version": tf.__version__,
        "keras_version": keras.__version__,
        "wall_seconds": round(time.time() - start, 1),
    }
    write_json(os.path.join(out_dir, f"{dataset}_cnn.json"), record)
    return record


def _command(dataset, epochs, seed, batch_size, augment, limit, out_dir):
    args = ["--dataset", dataset, "--epochs", epochs, "--seed", seed, "--batch-size", batch_size]
    args += [] if augment else ["--no-augment"]
    args += ["--limit", limit] if limit else []
    args += [] if os.path.abspath(out_dir) == ASSET_DIR else ["--out-dir", out_dir]
    return f"{PROG} " + " ".join(shlex.quote(str(a)) for a in args)


def _positive(text):
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    p = argparse.ArgumentParser(prog=PROG, description=__doc__.split("\n")[0])
    p.add_argument("--dataset", choices=DATASETS, required=True)
    p.add_argument("--epochs", type=_positive, help="default: 6 for mnist, 8 for fashion_mnist")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--batch-size", type=_positive, default=128)
    p.add_argument("--no-augment", action="store_true", help="train without random shifts")
    p.add_argument("--limit", type=_positive, metavar="N", help="train on the first N images only (smoke tests)")
    p.add_argument("--out-dir", default=ASSET_DIR, help="where to write the .keras and .json files")
    args = p.parse_args(argv)
    epochs = args.epochs or DEFAULT_EPOCHS[args.dataset]
    try:
        record = train(args.dataset, epochs, args.seed, args.batch_size, not args.no_augment, args.limit, args.out_dir,
                       command=f"{PROG} " + " ".join(map(shlex.quote, argv)))
    except MnistgenError as e:
        sys.exit(f"error: {e}")
    print(f"{record['dataset']}: test accuracy {record['test_accuracy']:.4f}, "
          f"{record['file_bytes'] / 1e6:.2f} MB, {record['wall_seconds']:.0f} s -> {args.out_dir}/{record['file']}")


if __name__ == "__main__":
    main()
