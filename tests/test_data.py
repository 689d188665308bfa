import gzip
import os

import numpy as np
import pytest

from mnistgen_tf import data
from mnistgen_tf.errors import MnistgenError
from stand_ins import prepare_tfds


def _write_idx(path, array, magic, gz=True):
    header = magic.to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in array.shape)
    raw = header + array.astype(np.uint8).tobytes()
    with (gzip.open(path, "wb") if gz else open(path, "wb")) as f:
        f.write(raw)


@pytest.fixture
def fake_dir(tmp_path, monkeypatch):
    """A MNISTGEN_DATA_DIR with a small, valid mnist/ folder."""
    folder = tmp_path / "mnist"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for split, (img, lab) in data._IDX_FILES.items():
        n = 12 if split == "train" else 6
        _write_idx(folder / img, rng.integers(0, 256, (n, 28, 28)), 0x803)
        _write_idx(folder / lab, np.arange(n) % 10, 0x801)
    monkeypatch.setenv("MNISTGEN_DATA_DIR", str(tmp_path))
    return folder


def test_real_mnist_is_canonical(mnist_available):
    x, y = data.load("mnist", "train")
    assert x.shape == (60000, 28, 28) and x.dtype == np.uint8
    assert y[:10].tolist() == [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]
    assert np.bincount(y).tolist() == [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
    assert x.mean() == pytest.approx(33.318, abs=1e-3)
    x, y = data.load("fashion_mnist", "test")
    assert x.shape == (10000, 28, 28) and np.bincount(y).tolist() == [1000] * 10


def test_pipeline_scales_binarizes_and_batches(fake_dir):
    x, y = data.load("mnist", "train")
    batch = next(iter(data.pipeline("images", x, y, batch_size=5, binarize=True)))
    # The first five images in data order, scaled by 1/255 and thresholded at 0.5.
    np.testing.assert_array_equal(batch["image"].numpy(), (x[:5, ..., None] / 255.0 > 0.5).astype("float32"))
    assert batch["label"].numpy().tolist() == y[:5].tolist()
    floats = data.to_float(x)
    assert floats.dtype == np.float32 and floats.shape == (*x.shape, 1)
    np.testing.assert_allclose(floats[..., 0], x / 255.0, rtol=1e-6)


def _error(name="mnist", split="train"):
    with pytest.raises(MnistgenError) as e:
        data.load(name, split)
    message = str(e.value)
    assert "\n" not in message
    return message


def test_missing_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("MNISTGEN_DATA_DIR", str(tmp_path))
    assert "no folder" in _error() and "MNISTGEN_DATA_DIR" in _error()


def test_missing_file(fake_dir):
    os.remove(fake_dir / "t10k-labels-idx1-ubyte.gz")
    assert "missing data file" in _error(split="test")


def test_truncated_gzip(fake_dir):
    path = fake_dir / "train-images-idx3-ubyte.gz"
    path.write_bytes(path.read_bytes()[:100])
    assert "corrupt or truncated" in _error()


def test_not_gzip(fake_dir):
    (fake_dir / "train-images-idx3-ubyte.gz").write_bytes(b"plain text, not gzip")
    assert "corrupt or truncated" in _error()


def test_wrong_magic(fake_dir):
    _write_idx(fake_dir / "train-images-idx3-ubyte.gz", np.zeros(12), 0x801)
    assert "magic number" in _error()


def test_body_shorter_than_header_says(fake_dir):
    path = fake_dir / "train-labels-idx1-ubyte.gz"
    with gzip.open(path, "wb") as f:
        f.write((0x801).to_bytes(4, "big") + (12).to_bytes(4, "big") + bytes(5))
    assert "header promises" in _error()


def test_count_mismatch(fake_dir):
    _write_idx(fake_dir / "train-labels-idx1-ubyte.gz", np.zeros(11), 0x801)
    message = _error()
    assert "train-images-idx3-ubyte.gz holds 12 images" in message and "train-labels-idx1-ubyte.gz 11 labels" in message


def test_labels_outside_range(fake_dir):
    _write_idx(fake_dir / "train-labels-idx1-ubyte.gz", np.full(12, 12), 0x801)
    message = _error()
    assert "outside 0-9" in message and "train-labels-idx1-ubyte.gz" in message  # the label file, by name


def test_unknown_names(fake_dir):
    assert "unknown dataset" in _error(name="svhn")
    assert "unknown split" in _error(split="validation")


def test_cifar10_without_a_cache_fails_clearly(monkeypatch, tmp_path):
    import keras

    monkeypatch.setenv("TFDS_DATA_DIR", str(tmp_path))  # no prepared copy either

    def offline():
        raise OSError("network unreachable")

    monkeypatch.setattr(keras.datasets.cifar10, "load_data", offline)
    message = _error(name="cifar10")
    assert "cifar10" in message and "Keras cache" in message


def test_a_prepared_tensorflow_datasets_copy_is_a_source(tmp_path, monkeypatch):
    monkeypatch.delenv("MNISTGEN_DATA_DIR", raising=False)
    monkeypatch.setenv("TFDS_DATA_DIR", str(tmp_path))
    prepare_tfds(tmp_path, "mnist", (28, 28, 1))
    images, labels = data.load("mnist", "test")
    assert data.source("mnist") == f"tfds:{tmp_path / 'mnist' / '3.0.1'}"
    assert images.shape == (5, 28, 28) and images.dtype == np.uint8  # the IDX files' shape
    assert sorted(labels.tolist()) == [0, 2, 3, 6, 9] and labels.dtype == np.int64
    assert len(data.load("mnist", "train")[0]) == 12
    # A 32x32 colour stand-in for CIFAR-10 keeps its channels.
    prepare_tfds(tmp_path, "cifar10", (32, 32, 3))
    assert data.load("cifar10", "train")[0].shape == (12, 32, 32, 3)
    # A damaged copy is named in one line, not read half.
    for record in (tmp_path / "mnist" / "3.0.1").glob("*test.tfrecord*"):
        record.unlink()
    message = _error(name="mnist", split="test")
    assert "cannot read the prepared tensorflow-datasets copy in" in message and "\n" not in message


def test_offline_idx_files_come_before_a_prepared_copy(tmp_path, monkeypatch, mnist_available):
    monkeypatch.setenv("TFDS_DATA_DIR", str(tmp_path))
    prepare_tfds(tmp_path, "mnist", (28, 28, 1))
    assert len(data.load("mnist", "test")[0]) == 10_000  # MNISTGEN_DATA_DIR's files
    assert data.source("mnist").startswith("idx:")


def test_the_kits_datasets_are_untuned_and_keep_the_structure_keras_reads():
    # tf.data's autotuner held every fit, evaluate and predict on until its next wake-up (up to a minute).
    import keras
    import numpy as np

    from mnistgen_tf import data

    x = np.random.default_rng(0).random((7, 28, 28, 1)).astype("float32")
    labels = np.arange(7) % 10
    made = [data.pipeline("images", (x * 255).astype("uint8"), labels, 3),
            data.training_pipeline("images", (x * 255).astype("uint8"), labels, 3, seed=0, epochs=1),
            data.batches(x, 3)]
    assert all(ds.options().autotune.enabled is False for ds in made)

    z, label = keras.Input((4,), name="z"), keras.Input((), dtype="int32", name="label")
    model = keras.Model([z, label], keras.layers.Dense(2)(z) + keras.ops.cast(label, "float32")[:, None])
    inputs = [np.ones((7, 4), "float32"), labels.astype("int32")]
    np.testing.assert_allclose(model.predict(data.batches(inputs, 3), verbose=0), model.predict(inputs, verbose=0))
    assert len(list(data.batches({"z": inputs[0]}, 3))) == 3  # 3 + 3 + 1
    xy = next(iter(data.batches(x, 5, y=labels)))
    assert xy[0].shape == (5, 28, 28, 1) and list(xy[1].numpy()) == [0, 1, 2, 3, 4]
