"""Datasets: offline IDX files first, then a prepared tensorflow-datasets copy, then `keras.datasets`.

`load(name, split)` returns ``(images, labels)``: uint8 images of shape
(n, 28, 28) (or (n, 32, 32, 3) for CIFAR-10) and int64 labels in 0-9, from
the first of these sources that has them:

1. ``$MNISTGEN_DATA_DIR/<name>/``, the four gzip-compressed IDX files
   (MNIST-like data; when the variable is set, nothing else is tried);
2. a dataset prepared by tensorflow-datasets in ``$TFDS_DATA_DIR/<name>/``
   (default ``~/tensorflow_datasets``), its newest version; never downloaded;
3. `keras.datasets`, which downloads into its cache when it can.
"""

import gzip
import math
import os
import zlib

import numpy as np

from mnistgen_tf.errors import MnistgenError

DATASETS = ("mnist", "fashion_mnist", "cifar10")
SPLITS = ("train", "test")
DATA_DIR_ENV = "MNISTGEN_DATA_DIR"
TFDS_DIR_ENV = "TFDS_DATA_DIR"

_IDX_FILES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}
_IMAGES_MAGIC = 0x00000803  # unsigned bytes, 3 dimensions
_LABELS_MAGIC = 0x00000801  # unsigned bytes, 1 dimension


def load(name, split="train"):
    """Images (uint8) and labels (int64) of one split of a dataset."""
    if name not in DATASETS:
        raise MnistgenError(f"unknown dataset {name!r}; choose one of {', '.join(DATASETS)}")
    if split not in SPLITS:
        raise MnistgenError(f"unknown split {split!r}; choose 'train' or 'test'")
    data_dir = os.environ.get(DATA_DIR_ENV)
    if data_dir and name != "cifar10":
        folder = _dataset_folder(data_dir, name)
        image_file, label_file = (os.path.join(folder, f) for f in _IDX_FILES[split])
        images = read_idx(image_file, _IMAGES_MAGIC)
        labels = read_idx(label_file, _LABELS_MAGIC)
        return _checked(images, labels, image_file, label_file)
    prepared = prepared_tfds(name)
    if prepared:
        images, labels = _load_with_tfds(prepared, split)
        return _checked(images, labels, f"{prepared} ({split} images)", f"{prepared} ({split} labels)")
    images, labels = _load_with_keras(name, split)
    return _checked(images, labels.reshape(-1), f"keras.datasets.{name} images", f"keras.datasets.{name} labels")


def source(name):
    """Where `load` reads `name` from here: the IDX folder, the prepared tensorflow-datasets copy (whose
    examples come in that copy's own order, not the IDX files'), or keras.datasets."""
    data_dir = os.environ.get(DATA_DIR_ENV)
    if data_dir and name != "cifar10":
        return f"idx:{_dataset_folder(data_dir, name)}"
    prepared = prepared_tfds(name)
    return f"tfds:{prepared}" if prepared else f"keras.datasets.{name}"


def _dataset_folder(data_dir, name):
    # Fashion-MNIST is distributed as "fashion-mnist"; accept either spelling.
    for candidate in (name, name.replace("_", "-")):
        folder = os.path.join(data_dir, candidate)
        if os.path.isdir(folder):
            return folder
    raise MnistgenError(
        f"no folder {os.path.join(data_dir, name)}: put the four IDX .gz files of "
        f"{name} there, or unset {DATA_DIR_ENV} to download with keras.datasets"
    )


def read_idx(path, magic):
    """The array stored in one gzip-compressed IDX file, checked for damage."""
    if not os.path.isfile(path):
        raise MnistgenError(
            f"missing data file {path}: copy the IDX .gz file there ({DATA_DIR_ENV} points to its parent folder)"
        )
    try:
        with gzip.open(path, "rb") as f:
            raw = f.read()
    except (OSError, EOFError, zlib.error) as e:
        raise MnistgenError(f"corrupt or truncated gzip file {path}: {e}") from None
    if len(raw) < 4 or int.from_bytes(raw[:4], "big") != magic:
        found = raw[:4].hex() if len(raw) >= 4 else "nothing"
        raise MnistgenError(f"{path} is not the expected IDX file: magic number {found}, expected {magic:08x}")
    ndim = magic & 0xFF
    header = 4 + 4 * ndim
    shape = tuple(int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    if len(raw) != header + int(np.prod(shape)):
        raise MnistgenError(
            f"{path} holds {len(raw) - header} data bytes but its header promises shape {shape}"
        )
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(shape)


def tfds_dir():
    return os.environ.get(TFDS_DIR_ENV) or os.path.join(os.path.expanduser("~"), "tensorflow_datasets")


def _version(text):
    parts = text.split(".")
    return tuple(map(int, parts)) if len(parts) == 3 and all(p.isdigit() for p in parts) else None


def prepared_tfds(name):
    """The folder of the newest prepared tensorflow-datasets version of `name`, or None."""
    folder = os.path.join(tfds_dir(), name)
    if not os.path.isdir(folder):
        return None
    versions = [v for v in os.listdir(folder)
                if _version(v) and os.path.isfile(os.path.join(folder, v, "dataset_info.json"))]
    return os.path.join(folder, max(versions, key=_version)) if versions else None


def _load_with_tfds(folder, split):
    import tensorflow_datasets as tfds

    try:
        builder = tfds.builder_from_directory(folder)
        images, labels = tfds.as_numpy(builder.as_dataset(split=split, as_supervised=True, batch_size=-1))
    except Exception as e:  # missing or damaged record files, unknown split, wrong features
        raise MnistgenError(f"cannot read the prepared tensorflow-datasets copy in {folder} "
                            f"({type(e).__name__}); delete it or prepare it again") from None
    if images.ndim == 4 and images.shape[-1] == 1:  # MNIST-like: (n, 28, 28), as from the IDX files
        images = images[..., 0]
    return images, labels


def _load_with_keras(name, split):
    import keras

    loader = getattr(keras.datasets, name).load_data
    try:
        train, test = loader()
    except Exception as e:  # keras raises many kinds of errors when offline
        hint = (
            f"set {DATA_DIR_ENV} to a folder holding {name}/ with the four IDX .gz files"
            if name != "cifar10"
            else "CIFAR-10 must be in the Keras cache (~/.keras/datasets) or downloadable"
        )
        raise MnistgenError(f"could not load {name} with keras.datasets ({type(e).__name__}); {hint}") from None
    return train if split == "train" else test


def _checked(images, labels, image_source, label_source):
    if len(images) != len(labels):
        raise MnistgenError(f"{image_source} holds {len(images)} images but {label_source} {len(labels)} labels")
    labels = labels.astype(np.int64)
    if labels.size and (labels.min() < 0 or labels.max() > 9):
        raise MnistgenError(f"{label_source}: labels outside 0-9 (found {labels.min()}..{labels.max()})")
    return images, labels


def to_float(images, binarize=False):
    """Images as float32 in [0, 1] with a channel axis: uint8 is divided by 255, floats are kept.

    With ``binarize`` pixels become 0 or 1 (threshold 0.5).
    """
    x = np.asarray(images)
    x = x.astype(np.float32) / 255.0 if x.dtype == np.uint8 else x.astype(np.float32)
    if x.ndim == 3:
        x = x[..., None]
    if binarize:
        x = (x > 0.5).astype(np.float32)
    return x


def seeded_draw(name, split, n, seed=0, as_float=True):
    """`n` images and labels of a split: a seeded draw without replacement, in split order; the images as
    floats in [0, 1] with a channel axis (`to_float`), or as stored (uint8) when not `as_float`."""
    images, labels = load(name, split)
    if not 0 < n <= len(images):
        raise MnistgenError(f"cannot draw {n} images from the {len(images)} of {name}:{split}")
    chosen = np.sort(np.random.default_rng(seed).choice(len(images), n, replace=False))
    return (to_float(images[chosen]) if as_float else images[chosen]), labels[chosen]


# Fixed draws of binarized validation and test images (`bernoulli_draw`), the same for every run, so the
# likelihoods of different models are measured on the same binary images.
VALIDATION_BINARIZATION_SEED = 1
TEST_BINARIZATION_SEED = 0


def bernoulli_draw(x, seed):
    """Binarized images, each pixel 1 with probability its intensity: a fixed draw given `seed`.

    The DRAW paper's binarized MNIST; `to_float`'s ``binarize`` thresholds at 0.5 instead.
    """
    x = np.asarray(x, np.float32)
    return (np.random.default_rng(seed).random(x.shape, dtype=np.float32) < x).astype(np.float32)


def for_evaluation(images, config):
    """Test images as a run with `config` (its config.json) is evaluated on: floats in [0, 1], thresholded
    with ``binarize``, or the fixed Bernoulli draw with ``dynamic_binarization``."""
    x = to_float(images, config.get("binarize", False))
    return bernoulli_draw(x, TEST_BINARIZATION_SEED) if config.get("dynamic_binarization") else x


def split_train_val(images, labels, subset=None, val_size=5000):
    """First `subset` training images, the last tenth (at most `val_size`) held out."""
    if subset is not None:
        if subset < 20:
            raise MnistgenError(f"subset must be at least 20 images, got {subset}")
        if subset > len(images):
            raise MnistgenError(f"subset {subset} is larger than the {len(images)} training images")
        images, labels = images[:subset], labels[:subset]
    n_val = min(val_size, len(images) // 10)
    return (images[:-n_val], labels[:-n_val]), (images[-n_val:], labels[-n_val:])


def addition_examples(images, labels, seed=0, balanced=False):
    """Seed 002's addition data: (image of a, number b, image of a + b) with a + b <= 9.

    Unbalanced (our reading of the seed's ``transform_data_add``): every image of digit a
    appears once, with b drawn uniformly from 0..9-a; the sums are then not
    uniform.  Balanced: the sum s is uniform over 0-9, a uniform over 0..s,
    and the image of a drawn at random.  Targets are random images of digit
    a + b from the same images.  Returns a dict of arrays by name: ``image``,
    ``number`` (float32), ``target``, and the digits ``a`` and ``sum``.
    """
    labels = np.asarray(labels)
    check_kind("addition", labels, "data")
    rng = np.random.default_rng(seed)
    by_digit = [np.flatnonzero(labels == d) for d in range(10)]
    if balanced:
        sums = rng.integers(0, 10, len(labels))
        a = rng.integers(0, sums + 1)
        index = np.array([rng.choice(by_digit[d]) for d in a])
    else:
        index = np.arange(len(labels))
        a = labels
        sums = a + rng.integers(0, 10 - a)
    target = np.array([rng.choice(by_digit[d]) for d in sums])
    return {"image": images[index], "number": (sums - a).astype(np.float32), "target": images[target],
            "a": a.astype(np.int32), "sum": sums.astype(np.int32)}


def example_seeds(seed):
    """Independent seeds of the drawn training and validation examples (addition pairs), apart from the
    epoch orders (`epoch_order`)."""
    return tuple(np.random.SeedSequence(seed).spawn(2))


def check_kind(kind, labels, what):
    """Refuse data that examples of `kind` cannot be made from (before anything is written)."""
    missing = sorted(set(range(10)) - set(np.asarray(labels).tolist()))
    if kind == "addition" and missing:
        raise MnistgenError(f"addition pairs need images of every digit, but the {what} ({len(labels)} images) "
                            f"has none of {missing}: use a larger --subset")


def examples(kind, images, labels, seed=0, binarize=False, balanced=False):
    """The arrays, by name, that examples of data kind `kind` are made of (see `PIPELINES`)."""
    x = to_float(images, binarize)
    if kind == "addition":
        return addition_examples(x, labels, seed, balanced)
    return {"image": x, "label": np.asarray(labels, np.int32)}


# How each family's batches look, from a batch of `examples`; `pipeline(kind, ...)` picks one.
PIPELINES = {
    # {"image", "label"} dicts: models with their own train_step (DRAW, VAEs, GANs).
    "images": lambda ex: {"image": ex["image"], "label": ex["label"]},
    # (inputs, targets) for a compiled loss: label -> image decoders.
    "label_to_image": lambda ex: ({"label": ex["label"]}, ex["image"]),
    # (image, image) for a compiled reconstruction loss: autoencoders.
    "image_to_image": lambda ex: (ex["image"], ex["image"]),
    # {"image", "number", "target", "sum"} dicts: the adders' train_step.
    "addition": lambda ex: {"image": ex["image"], "number": ex["number"], "target": ex["target"], "sum": ex["sum"]},
}


PREFETCH = 2  # batches made ahead of the model: the kit's batches are cheap to make


def untuned(dataset):
    """`dataset` with tf.data's autotuning off.

    With it on, this TensorFlow sometimes tears an iterator down only when
    the autotuner next wakes (after 10 ms, 20 ms, 40 ms, ... up to a minute
    apart), so a `fit`, `evaluate` or `predict` ran on until then
    (`benchmarks/data_teardown.py`: DRAW fits ending on exactly 10.24 s).
    The kit's batches are light enough that a fixed prefetch loses nothing.
    """
    import tensorflow as tf

    options = tf.data.Options()
    options.autotune.enabled = False
    return dataset.with_options(options)


def batches(x, batch_size=500, y=None):
    """Arrays as an untuned dataset of batches, for `predict` and `evaluate` (which, given arrays, build
    autotuned ones): `x` one array, a list of them (a model's inputs in order) or a dict by name; `y` targets."""
    import tensorflow as tf

    x = tuple(x) if isinstance(x, list) else x  # tf.data reads a list as one array to stack
    if y is not None:
        element = (x, y)
    else:  # Keras reads a tuple as (x, y); the kit's trainers read their dict batches whole
        element = (x,) if isinstance(x, tuple) else x
    return untuned(tf.data.Dataset.from_tensor_slices(element).batch(batch_size))


def pipeline(kind, images, labels, batch_size, binarize=False, seed=0, balanced=False):
    """Batches of `kind` (see `PIPELINES`) in data order, for validation and evaluation."""
    import tensorflow as tf

    ds = tf.data.Dataset.from_tensor_slices(examples(kind, images, labels, seed, binarize, balanced))
    return untuned(ds.batch(batch_size).map(PIPELINES[kind]).prefetch(PREFETCH))


def epoch_order(n, seed, epoch):
    """The order of `n` training examples in `epoch`: a permutation drawn from ``(seed, epoch)`` alone."""
    return np.random.default_rng([seed, epoch]).permutation(n).astype(np.int32)


BINARIZATION_STREAM = 0x62696E  # "bin": the dynamic binarization's own random stream


def training_pipeline(kind, images, labels, batch_size, seed, epochs, first_epoch=0, binarize=False,
                      balanced=False, example_seed=None, dynamic_binarization=False):
    """Batches for epochs ``first_epoch .. epochs - 1``, each epoch in `epoch_order`.

    Epoch e's order depends only on ``(seed, e)``, so a run resumed at epoch
    e sees exactly the batches an uninterrupted run would.  Drawn examples
    (addition pairs) use `example_seed` (default: ``example_seeds(seed)[0]``).
    With ``dynamic_binarization`` every batch's images are a fresh Bernoulli
    draw of their pixels, seeded by ``(seed, the batch's number since epoch
    0)``, so they too are those of an uninterrupted run.
    Pass ``steps_per_epoch(len(images), batch_size)`` to `model.fit`.
    """
    import tensorflow as tf

    example_seed = example_seeds(seed)[0] if example_seed is None else example_seed
    arrays = {name: tf.constant(array) for name, array in
              examples(kind, images, labels, example_seed, binarize, balanced).items()}
    orders = np.stack([epoch_order(len(images), seed, e) for e in range(first_epoch, epochs)])
    batches = tf.data.Dataset.from_tensor_slices(orders).flat_map(
        lambda order: tf.data.Dataset.from_tensor_slices(order).batch(batch_size))

    def batch(number, index):
        chosen = {name: tf.gather(array, index) for name, array in arrays.items()}
        if dynamic_binarization:
            # (seed, number) folded with a tag: unfolded it is also the key of the number-th draw of a
            # keras.random.SeedGenerator(seed), DRAW's posterior noise, and would reuse its random bits.
            key = tf.random.experimental.stateless_fold_in(tf.stack([tf.constant(seed, tf.int64), number]),
                                                           BINARIZATION_STREAM)
            draw = tf.random.stateless_uniform(tf.shape(chosen["image"]), seed=key)
            chosen["image"] = tf.cast(draw < chosen["image"], tf.float32)
        return PIPELINES[kind](chosen)

    first_batch = first_epoch * steps_per_epoch(len(images), batch_size)
    return untuned(batches.enumerate(first_batch).map(batch).prefetch(PREFETCH))


def steps_per_epoch(n, batch_size):
    return math.ceil(n / batch_size)
