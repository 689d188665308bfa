"""The thesis-fidelity sweep (quick profile): both KL readings, both cells, the spread of one digit's samples."""

import json

import numpy as np
import pytest


def test_sample_spread_is_zero_for_copies_and_grows_with_variety():
    from mnistgen_tf.sweeps.thesis_fidelity import sample_spread

    one = np.random.default_rng(0).random((28, 28, 1))
    assert sample_spread(np.stack([one] * 5)) < 1e-12
    assert sample_spread(np.random.default_rng(1).random((5, 28, 28, 1))) > 0.2


@pytest.mark.slow  # six DRAW cells: about two minutes on an idle 2-core CPU
def test_the_sweep_trains_every_reading_and_cell(tmp_path, mnist_available):
    from mnistgen_tf.cli import main

    assert main(["sweep", "thesis_fidelity", "--quick", "--results", str(tmp_path)]) == 0
    cells = tmp_path / "quick" / "thesis_fidelity" / "cells"
    records = [json.loads(p.read_text()) for p in cells.glob("*/cell.json")]
    seen = {(r["settings"]["loss_scaling"], r["settings"]["cell"], r["settings"]["conditional"]) for r in records}
    assert seen == {("thesis", "keras", True), ("thesis_kl_mean", "keras", True), ("elbo", "keras", True),
                    ("thesis", "keras", False), ("thesis_kl_mean", "keras", False), ("elbo", "thesis", True)}
    for record in records:
        metrics = record["metrics"]
        assert len(record["latent"]["inactive_per_step"]) == 2 and metrics["neg_elbo_nats"] > 0
        assert ("digit_sample_spread" in metrics) == record["settings"]["conditional"]
        if record["settings"]["conditional"]:
            assert metrics["digit_sample_spread"] > 0 and 0.1 < metrics["digit_real_spread"] < 0.5
    table = (tmp_path / "quick" / "thesis_fidelity" / "table.md").read_text()
    assert "| thesis_kl_mean_keras_T2_z2_cond1 | thesis_kl_mean | keras |" in table
