import subprocess
import sys

import numpy as np
import pytest

from mnistgen_tf import data
from mnistgen_tf.errors import MnistgenError
from mnistgen_tf.metrics import fid
from mnistgen_tf.metrics.features import get_extractor


@pytest.fixture(scope="module")
def extractor(mnist_available):
    return get_extractor("mnist")


def test_split_statistics_are_cached(extractor, tmp_path, monkeypatch):
    monkeypatch.setenv("MNISTGEN_CACHE_DIR", str(tmp_path))
    first = fid.stats_of_split("mnist", "test", extractor)
    cached = tmp_path / f"mnist_test_mnist-cnn_{extractor.fingerprint}.npz"
    assert cached.exists() and first.count == 10000
    again = fid.stats_of_split("mnist", "test", extractor)
    np.testing.assert_array_equal(first.cov, again.cov)


def test_sources_agree(extractor, tmp_path):
    images, _ = data.load("mnist", "test")
    np.save(tmp_path / "a.npy", images[:300])
    fid.stats_of_images(images[300:600], extractor).save(str(tmp_path / "b.npz"))
    from_files, a, b = fid.fid(str(tmp_path / "a.npy"), str(tmp_path / "b.npz"), extractor)
    direct = fid.fid_from_stats(fid.stats_of_images(images[:300], extractor),
                                fid.stats_of_images(images[300:600], extractor))
    assert from_files == pytest.approx(direct, rel=1e-9) and a.count == b.count == 300
    noise = np.random.default_rng(0).random((300, 28, 28, 1)).astype("float32")
    assert fid.fid_from_stats(a, fid.stats_of_images(noise, extractor)) > 10 * from_files


@pytest.mark.parametrize("source", ["svhn:test", "mnist:valid", "missing.npy", "missing.keras"])
def test_bad_sources(extractor, source):
    with pytest.raises(MnistgenError):
        fid.stats_of_source(source, extractor, n=10)


def test_fid_command(mnist_available):
    result = subprocess.run([sys.executable, "-m", "mnistgen_tf.cli", "fid", "mnist:test", "mnist:train",
                             "-n", "500"], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-1500:]
    assert result.stdout.startswith("FID[mnist-cnn] = ") and "500 images" in result.stdout
    bad = subprocess.run([sys.executable, "-m", "mnistgen_tf.cli", "fid", "mnist:test", "nothing"],
                         capture_output=True, text=True)
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1
