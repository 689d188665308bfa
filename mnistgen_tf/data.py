"""Datasets: offline IDX files first, `keras.datasets` otherwise.

`load(name, split)` returns ``(images, labels)``: uint8 images of shape
(n, 28, 28) (or (n, 32, 32, 3) for CIFAR-10) and int64 labels in 0-9.
When ``MNISTGEN_DATA_DIR`` is set, MNIST-like data are read from the four
gzip-compressed IDX files in ``$MNISTGEN_DATA_DIR/<name>/`` and nothing is
downloaded.
"""

import gzip
import os
import zlib

import keras
import numpy as np
import tensorflow as tf

from mnistgen_tf.errors import MnistgenError

DATASETS = ("mnist", "fashion_mnist", "cifar10")
SPLITS = ("train", "test")
DATA_DIR_ENV = "MNISTGEN_DATA_DIR"

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
        return _checked(images, labels, image_file)
    images, labels = _load_with_keras(name, split)
    return _checked(images, labels.reshape(-1), f"keras.datasets.{name}")


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


def _load_with_keras(name, split):
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


def _checked(images, labels, source):
    if len(images) != len(labels):
        raise MnistgenError(f"{source}: {len(images)} images but {len(labels)} labels")
    labels = labels.astype(np.int64)
    if labels.size and (labels.min() < 0 or labels.max() > 9):
        raise MnistgenError(f"{source}: labels outside 0-9 (found {labels.min()}..{labels.max()})")
    return images, labels


def to_float(images, binarize=False):
    """uint8 images -> float32 in [0, 1] with a channel axis; optionally 0/1."""
    x = images.astype(np.float32) / 255.0
    if x.ndim == 3:
        x = x[..., None]
    if binarize:
        x = (x > 0.5).astype(np.float32)
    return x


def pipeline(images, labels, batch_size, shuffle=True, binarize=False, seed=None):
    """A `tf.data` pipeline of ``{"image", "label"}`` batches for `model.fit`.

    Images are scaled to [0, 1] (and binarised at 0.5 when asked), shuffled
    each epoch when ``shuffle``, batched and prefetched.
    """
    ds = tf.data.Dataset.from_tensor_slices(
        {"image": to_float(images, binarize), "label": labels.astype(np.int32)}
    )
    if shuffle:
        ds = ds.shuffle(len(images), seed=seed, reshuffle_each_iteration=True)
    return ds.batch(batch_size).prefetch(tf.data.AUTOTUNE)
