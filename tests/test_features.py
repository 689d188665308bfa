"""Feature extractors: shipped CNNs, Inception plumbing, and their failures."""

import json
import os
import stat
import time

import numpy as np
import pytest

from mnistgen_tf import data
from mnistgen_tf.assets import train_classifiers
from mnistgen_tf.errors import MnistgenError
from mnistgen_tf.metrics import features


def _one_line_error(excinfo):
    message = str(excinfo.value)
    assert message and "\n" not in message
    return message


@pytest.fixture(scope="module")
def mnist_test():
    images, labels = data.load("mnist", "test")
    return data.to_float(images[:1000]), labels[:1000]


@pytest.fixture(scope="module")
def mnist_cnn():
    return features.get_extractor("mnist")


def test_shipped_mnist_cnn_classifies_and_gives_finite_features(mnist_cnn, mnist_test):
    images, labels = mnist_test
    assert mnist_cnn.name == "mnist-cnn"
    assert np.mean(mnist_cnn.classify(images) == labels) >= 0.985
    feats = mnist_cnn(images)
    assert feats.shape == (1000, mnist_cnn.dim) and feats.dtype == np.float32
    assert np.isfinite(feats).all()
    # ReLU features that are all zero for most images would make FID blind.
    assert (feats.max(axis=0) > 0).mean() > 0.5


def test_shipped_fashion_cnn_classifies():
    images, labels = data.load("fashion_mnist", "test")
    cnn = features.get_extractor("fashion_mnist", batch_size=250)
    assert cnn.name == "fashion_mnist-cnn"
    assert np.mean(cnn.predict_labels(data.to_float(images[:1000])) == labels[:1000]) >= 0.90


def test_features_separate_digits_from_noise(mnist_cnn, mnist_test):
    images = mnist_test[0]
    first, second = mnist_cnn(images[:500]), mnist_cnn(images[500:])
    noise = mnist_cnn(np.random.default_rng(0).uniform(size=(500, 28, 28, 1)).astype(np.float32))

    def mean_distance(a, b):
        return float(np.sum((a.mean(axis=0) - b.mean(axis=0)) ** 2))

    assert mean_distance(first, noise) > 20 * mean_distance(first, second)


def test_uint8_and_channelless_images_give_the_same_features(mnist_cnn):
    images, _ = data.load("mnist", "test")
    np.testing.assert_allclose(mnist_cnn(images[:8]), mnist_cnn(data.to_float(images[:8])), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(
    "images, words",
    [
        (np.full((2, 28, 28, 1), 255.0, np.float32), "[0, 1]"),
        (np.zeros((2, 32, 32, 1), np.float32), "shape"),
        (np.zeros((0, 28, 28, 1), np.float32), "non-empty"),
        (np.full((2, 28, 28, 1), np.nan, np.float32), "NaN"),
    ],
)
def test_bad_images_are_refused(mnist_cnn, images, words):
    with pytest.raises(MnistgenError) as excinfo:
        mnist_cnn(images)
    assert words in _one_line_error(excinfo)


def test_missing_classifier_names_the_training_command(tmp_path):
    with pytest.raises(MnistgenError) as excinfo:
        features.get_extractor("mnist", path=str(tmp_path / "mnist_cnn.keras"))
    assert "python -m mnistgen_tf.assets.train_classifiers --dataset mnist" in _one_line_error(excinfo)


def test_corrupt_classifier_is_refused(tmp_path):
    path = tmp_path / "mnist_cnn.keras"
    path.write_bytes(b"not a keras zip file")
    with pytest.raises(MnistgenError) as excinfo:
        features.get_extractor("mnist", path=str(path))
    assert str(path) in _one_line_error(excinfo)


def test_unknown_extractor():
    with pytest.raises(MnistgenError) as excinfo:
        features.get_extractor("cifar10")
    assert "inception" in _one_line_error(excinfo)


def test_inception_plumbing_with_random_weights():
    inception = features.get_extractor("inception", weights=None, batch_size=2)
    rng = np.random.default_rng(0)
    feats = inception(rng.uniform(size=(4, 28, 28, 1)).astype(np.float32))
    assert inception.dim == 2048 and feats.shape == (4, 2048)
    assert np.isfinite(feats).all()
    # RGB input of another size goes through the same resize.
    assert inception(rng.uniform(size=(1, 32, 32, 3)).astype(np.float32)).shape == (1, 2048)


def test_missing_imagenet_weights_fail_fast_and_name_the_file(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    start = time.monotonic()
    with pytest.raises(MnistgenError) as excinfo:
        features.get_extractor("inception")
    assert time.monotonic() - start < 5
    message = _one_line_error(excinfo)
    expected = os.path.join(str(tmp_path), "models", features.INCEPTION_WEIGHTS_FILE)
    assert features.inception_weights_path() == expected and expected in message


def test_training_script_writes_a_loadable_classifier_and_its_record(tmp_path):
    # A smoke run on 512 images: checks the files, not the accuracy.
    train_classifiers.main(["--dataset", "mnist", "--epochs", "1", "--limit", "512", "--out-dir", str(tmp_path)])
    assert sorted(os.listdir(tmp_path)) == ["mnist_cnn.json", "mnist_cnn.keras"]  # no temporary files left
    record = json.loads((tmp_path / "mnist_cnn.json").read_text())
    model_file = tmp_path / "mnist_cnn.keras"
    assert record["file_bytes"] == model_file.stat().st_size < 2_000_000
    assert record["epochs"] == 1 and record["train_images"] == 512 and 0 <= record["test_accuracy"] <= 1
    assert record["command"].endswith(f"--dataset mnist --epochs 1 --limit 512 --out-dir {tmp_path}")
    for key in ("seed", "parameters", "date", "git_commit", "tensorflow_version", "keras_version", "wall_seconds"):
        assert key in record
    assert model_file.stat().st_mode & stat.S_IROTH  # readable by others, like any packaged file
    cnn = features.get_extractor("mnist", path=str(model_file))
    assert cnn(np.zeros((3, 28, 28, 1), np.float32)).shape == (3, 128)


def test_classifier_score_separates_digits_from_noise(mnist_available):
    from mnistgen_tf import data
    from mnistgen_tf.metrics.features import get_extractor

    classifier = get_extractor("mnist")
    images, labels = data.load("mnist", "test")
    balanced = classifier.score(images[:1000])
    one_class = classifier.score(images[:1000][labels[:1000] == 3])
    noise = classifier.score(np.random.default_rng(0).random((500, 28, 28, 1)).astype("float32"))
    assert 8.0 < balanced <= 10.0  # confident and evenly spread over the 10 classes
    assert one_class < 1.5 and noise < balanced / 2
