import json
import os
import subprocess
import sys

import numpy as np
import pytest

from mnistgen_tf import data
from mnistgen_tf.errors import MnistgenError
from mnistgen_tf.metrics import fid
from mnistgen_tf.metrics.features import get_extractor

from cli_helpers import assert_one_line_error, mnistgen


@pytest.fixture(scope="module")
def extractor(mnist_available):
    return get_extractor("mnist")


def test_split_statistics_are_cached(extractor, tmp_path, monkeypatch):
    monkeypatch.setenv("MNISTGEN_CACHE_DIR", str(tmp_path))
    first = fid.stats_of_split("mnist", "test", extractor)
    cached = tmp_path / f"mnist_test_mnist-cnn_{extractor.fingerprint}.npz"
    assert cached.exists() and first.count == 10000
    # The second call reads the file: the data set can no longer be loaded.
    monkeypatch.setattr(fid.data, "load", lambda *args, **kwargs: pytest.fail("recomputed instead of read from the cache"))
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
    # One line from the kit (TensorFlow's start-up log lines aside, see cli_helpers).
    assert_one_line_error(mnistgen("fid", "mnist:test", "nothing"), "nothing")


# ---------------------------------------------------------------- the real-data baseline


def test_real_baseline_is_train_images_against_the_cached_reference(extractor, monkeypatch):
    distance, train, reference = fid.real_baseline("mnist", extractor, 300)
    images, _ = data.load("mnist", "train")
    assert train.count == 300 and reference.count == 10_000
    expected = fid.fid_from_stats(fid.stats_of_images(images[:300], extractor),
                                  fid.stats_of_split("mnist", "test", extractor))
    assert distance == pytest.approx(expected, rel=1e-12)
    # More real images, a smaller bias: the floor falls with the sample size.
    assert 0 < fid.real_baseline("mnist", extractor, 2000)[0] < distance
    # n is capped at the size of the training split (here cut to 400 images).
    load = data.load
    monkeypatch.setattr(fid.data, "load", lambda name, split="train": tuple(
        a[:400] if split == "train" else a for a in load(name, split)))
    assert fid.real_baseline("mnist", extractor, 1000)[1].count == 400


def test_aggregate_notes_the_baseline_of_the_fid_column(extractor, tmp_path):
    # Finished cells of thesis_timesteps --quick written by hand: aggregate needs no training.
    from mnistgen_tf import sweep
    from mnistgen_tf.sweeps import EXPERIMENTS

    experiment = EXPERIMENTS["thesis_timesteps"]
    cells = sweep.cells(experiment, quick=True)
    for k, cell in enumerate(cells):
        folder = tmp_path / "quick" / experiment.name / "cells" / cell.id
        folder.mkdir(parents=True)
        record = {"cell": cell.id, "index": cell.index, "settings": cell.settings,
                  "metrics": {"fid": 40.0 + k, "bce_per_pixel": 0.2}}
        (folder / "cell.json").write_text(json.dumps(record))
    paths = sweep.aggregate(experiment, str(tmp_path), quick=True)
    folder = tmp_path / "quick" / experiment.name
    assert [os.path.basename(p) for p in paths] == ["table.csv", "table.md", "timing.csv", "baseline.json"]

    settings = experiment.profile(quick=True).settings
    baseline = json.loads((folder / "baseline.json").read_text())
    assert settings["fid_samples"] == 200 and baseline["n"] == 200 and baseline["reference_images"] == 10_000
    assert baseline["images"] == "mnist:train" and baseline["reference"] == "mnist:test"
    assert baseline["extractor"] == "mnist-cnn" == extractor.name
    assert baseline["fid"] == fid.real_baseline("mnist", extractor, 200)[0] > 0
    note = f"FID of 200 real training images against the reference at the same sample size: {baseline['fid']:.3f}"
    assert note in (folder / "table.md").read_text()
    # table.csv keeps the cells' settings and metrics only.
    table = (folder / "table.csv").read_text().splitlines()
    assert len(table) == 1 + len(cells) and [line.split(",")[0] for line in table[1:]] == [c.id for c in cells]
    assert f"{baseline['fid']:.3f}" not in "\n".join(table) and "baseline" not in "\n".join(table)
    assert not list(tmp_path.rglob("*tmp*"))


def test_aggregate_without_fid_samples_writes_no_baseline(tmp_path):
    from mnistgen_tf import sweep
    from mnistgen_tf.sweep import Column, Experiment, Profile

    profile = Profile(settings={"scale": 1}, grids=({"a": (1,), "seed": (0,)},))
    experiment = Experiment(name="toy", title="Toy", profiles={"full": profile, "quick": profile},
                            run_cell=None, columns=(Column("a", "settings.a"),), id_labels=(("a", "a"),))
    cell = sweep.cells(experiment)[0]
    (tmp_path / "toy" / "cells" / cell.id).mkdir(parents=True)
    (tmp_path / "toy" / "cells" / cell.id / "cell.json").write_text(json.dumps({"cell": cell.id,
                                                                                "settings": cell.settings}))
    assert len(sweep.aggregate(experiment, str(tmp_path))) == 3
    assert not (tmp_path / "toy" / "baseline.json").exists()
    assert "real training images" not in (tmp_path / "toy" / "table.md").read_text()
