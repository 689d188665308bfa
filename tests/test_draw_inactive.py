"""experiments/draw_inactive.py on a tiny DRAW run."""

import json
import os

import numpy as np
import pytest

from cli_helpers import module_from_path
from mnistgen_tf import data, evaluate
from mnistgen_tf.train import load_trainer

SCRIPT = os.path.join(os.path.dirname(__file__), "..", "experiments", "draw_inactive.py")


@pytest.fixture(scope="module")
def script():
    return module_from_path(SCRIPT, "draw_inactive")


def test_counts_the_run_s_variables_at_each_threshold(script, binarized_run):
    argv = [str(binarized_run), "--images", "60", "--thresholds", "0.5", "0.9", "0.999", "--seed", "3"]
    assert script.main(argv) == 0
    report = json.loads((binarized_run / "inactive.json").read_text())
    assert report["images"] == 60 and report["variables"] == 2 * 4 and report["seed"] == 3
    assert report["command"].startswith("python ") and report["git_commit"]
    counts = [report["inactive"][t] for t in ("0.5", "0.9", "0.999")]
    assert counts == sorted(counts, reverse=True)  # a higher threshold counts no more variables

    # The same images, binarized as the run was evaluated, measured directly: the thesis's count
    # (threshold 0.9) is metrics.latent's, and the median and KL are the same numbers.
    trainer, config = load_trainer(str(binarized_run))
    images, labels = data.load("mnist", "test")
    x = data.for_evaluation(images[:60], config)
    metrics, latent, _ = evaluate.test_split_metrics(trainer, x, labels[:60], seed=3, keep=0)
    assert report["inactive"]["0.9"] == latent.inactive_count
    assert report["median_mean_of_vars"] == pytest.approx(float(np.median(latent.mean_of_vars)))
    assert report["kl_nats"] == pytest.approx(metrics["kl_nats"])


def test_bad_input_is_one_line_and_writes_nothing(script, binarized_run, tmp_path, capsys):
    vae = tmp_path / "vae"
    vae.mkdir()
    config = json.loads((binarized_run / "config.json").read_text())
    (vae / "config.json").write_text(json.dumps({**config, "family": "vae"}))
    before = {f.name: f.read_bytes() for f in binarized_run.iterdir() if f.is_file()}
    for argv, fragment in (([str(binarized_run), "--images", "0"], "--images must be at least 1"),
                           ([str(tmp_path / "none")], "holds no training run"),
                           ([str(vae)], "holds a vae run, not a DRAW")):
        assert script.main(argv) == 2
        error = capsys.readouterr().err.strip().splitlines()
        assert len(error) == 1 and fragment in error[0], error
    assert not (vae / "inactive.json").exists() and not (tmp_path / "none").exists()
    assert {f.name: f.read_bytes() for f in binarized_run.iterdir() if f.is_file()} == before
