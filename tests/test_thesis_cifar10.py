"""The thesis's CIFAR-10 experiments: the whole path on a 32x32x3 stand-in; a clear stop without the data."""

import json

import pytest

from stand_ins import prepare_tfds


@pytest.mark.slow  # DRAW on colour images and Inception at 299x299: a few minutes on a busy 2-core CPU
def test_the_path_runs_on_a_colour_stand_in(tmp_path, monkeypatch):
    from mnistgen_tf.cli import main

    monkeypatch.setenv("TFDS_DATA_DIR", str(tmp_path / "tfds"))
    monkeypatch.setenv("MNISTGEN_CACHE_DIR", str(tmp_path / "cache"))
    prepare_tfds(tmp_path / "tfds", "cifar10", (32, 32, 3), train=60, test=10)
    results = tmp_path / "results"
    assert main(["sweep", "thesis_cifar10", "--quick", "--results", str(results)]) == 0
    assert main(["figures", "--quick", "--results", str(results)]) == 0
    records = [json.loads(p.read_text()) for p in (results / "quick" / "thesis_cifar10").glob("cells/*/cell.json")]
    assert sorted((r["settings"]["timesteps"], r["settings"]["z_dim"], r["settings"]["units"]) for r in records) == [
        (1, 4, 8), (2, 2, 8), (2, 3, 16)]
    for record in records:
        assert record["extractor"] == "inception" and record["metrics"]["fid"] > 0
        assert record["train_images"] == 36 and record["metrics"]["neg_elbo_nats"] > 0  # 40 minus a tenth
    assert (results / "quick" / "figures" / "thesis_fig3_4_cifar10_samples.png").stat().st_size > 1000
    assert not list((tmp_path / "cache").glob("*random*"))  # random Inception weights: never cached


def test_without_inception_weights_it_stops_before_training(tmp_path, monkeypatch, capsys):
    from mnistgen_tf.cli import main

    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))  # no cached ImageNet weights there
    assert main(["sweep", "thesis_cifar10", "--results", str(tmp_path)]) == 2
    error = capsys.readouterr().err.strip().splitlines()
    assert len(error) == 1 and "no ImageNet weights for InceptionV3" in error[0]
    assert not list(tmp_path.glob("thesis_cifar10/cells/*/run"))  # nothing trained, nothing half-written
