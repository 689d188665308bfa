"""Seed 003's DCGAN: shapes and ranges, label smoothing, the per-epoch grid, FID and learning rate."""

import csv
import math
import os

import keras
import numpy as np
import pytest

from mnistgen_tf.callbacks import EpochLearningRate
from mnistgen_tf.models.gan import DCGAN, build_discriminator, build_generator, build_sampler
from mnistgen_tf.train import train

from cli_helpers import module_from_path

COMPARISON = os.path.join(os.path.dirname(__file__), "..", "experiments", "seed003_gan_vs_vae.py")


def test_shapes_and_ranges():
    z = np.random.default_rng(0).standard_normal((5, 16)).astype("float32") * 10  # large noise: tanh saturates
    images = build_generator(16)(z).numpy()
    assert images.shape == (5, 28, 28, 1) and -1 <= images.min() < 0 < images.max() <= 1
    p = build_discriminator()(images).numpy()
    assert p.shape == (5, 1) and ((0 < p) & (p < 1)).all()
    gan = DCGAN(latent_dim=16, seed=0)
    gan.build()
    unit = build_sampler(gan)(z).numpy()
    np.testing.assert_allclose(unit, (gan.generator(z).numpy() + 1) / 2, atol=1e-6)


@pytest.mark.parametrize("real_label", [0.9, 1.0])
def test_the_discriminator_aims_real_images_at_the_real_label(real_label):
    gan = DCGAN(latent_dim=4, real_label=real_label)
    p_fake = keras.ops.full((8, 1), 0.1)
    candidates = (0.8, 0.9, 0.999)
    losses = [float(gan.discriminator_loss(keras.ops.full((8, 1), p), p_fake)) for p in candidates]
    assert candidates[int(np.argmin(losses))] == (0.9 if real_label == 0.9 else 0.999)
    # At the target the real half is the entropy of the label: 0 only without smoothing.
    real_half = 2 * float(gan.discriminator_loss(keras.ops.full((8, 1), real_label - 1e-7), keras.ops.zeros((8, 1))))
    entropy = -(real_label * math.log(real_label) + (1 - real_label) * math.log(1 - real_label + 1e-12))
    assert real_half == pytest.approx(entropy, abs=1e-3)


def test_cosine_learning_rate_falls_from_the_rate_towards_zero():
    schedule = EpochLearningRate(2e-4, epochs=4)
    # Half a cosine period over the run: 2e-4, 2e-4·(1 + 1/√2)/2, 1e-4, 2e-4·(1 - 1/√2)/2, never 0.
    values = [schedule.value(e) for e in range(4)]
    half = 2 ** -0.5
    assert values == pytest.approx([2e-4, 1e-4 * (1 + half), 1e-4, 1e-4 * (1 - half)], rel=1e-9)


def test_every_epoch_logs_fid_and_draws_a_grid(tmp_path, mnist_available):
    run = tmp_path / "run"
    trainer, _, _ = train("gan", str(run), dataset="mnist", epochs=2, subset=200, latent_dim=8, batch_size=50, fid_samples=300,
          lr_schedule="cosine", learning_rate=1e-3, verbose=0)
    rows = list(csv.DictReader(open(run / "history.csv")))
    assert [float(r["learning_rate"]) for r in rows] == [pytest.approx(1e-3), pytest.approx(5e-4)]
    assert float(trainer.d_optimizer.learning_rate) == float(trainer.g_optimizer.learning_rate) == pytest.approx(5e-4)
    assert all(math.isfinite(float(r["fid"])) and float(r["fid"]) > 0 for r in rows)
    assert sorted(p.name for p in (run / "samples").iterdir()) == ["epoch_001.png", "epoch_002.png"]


def test_seed003_sweep_cell_measures_and_draws(tmp_path, mnist_available):
    import json

    from mnistgen_tf.cli import main

    assert main(["sweep", "seed003_gan", "--quick", "--results", str(tmp_path)]) == 0
    assert main(["figures", "--quick", "--results", str(tmp_path)]) == 0
    cells = tmp_path / "quick" / "seed003_gan" / "cells"
    assert sorted(p.name for p in cells.iterdir()) == ["fashion_mnist_lr0.001_beta0.9_real0.9_constant_seed0",
                                                       "fashion_mnist_lr0.001_beta0.9_real1.0_constant_seed0"]
    cell, shorter = sorted(cells.iterdir())
    record = json.loads((cell / "cell.json").read_text())
    # The ablation runs fewer epochs; both are compared at the epoch every cell reaches.
    short_record = json.loads((shorter / "cell.json").read_text())
    assert (record["epochs"], short_record["epochs"]) == (2, 1)
    first_epoch = next(csv.DictReader(open(shorter / "run" / "history.csv")))
    assert short_record["metrics"]["fid_at_compare_epoch"] == pytest.approx(float(first_epoch["fid"]))
    assert "epoch 1 FID (200)" in (tmp_path / "quick" / "seed003_gan" / "table.md").read_text()
    assert sum(record["class_histogram"].values()) == record["eval_samples"] == 300
    assert list(record["class_histogram"])[9] == "Ankle boot"
    metrics = record["metrics"]
    assert metrics["fid"] > metrics["fid_real_vs_real"] > 0 and 1 <= metrics["classifier_score"] <= 10
    assert (cell / "run" / "generator.keras").exists()  # small enough to keep
    for name in ("seed003_gan_losses.png", "seed003_gan_epochs.png", "seed003_gan_classes.png"):
        assert (tmp_path / "quick" / "figures" / name).stat().st_size > 10_000

    # The GAN-vs-VAE table reads the cells back; the VAE's are missing here and say so.
    comparison = module_from_path(COMPARISON, "seed003_gan_vs_vae")
    assert comparison.main(["--quick", "--results", str(tmp_path)]) == 0
    rows = list(csv.DictReader(open(tmp_path / "quick" / "seed003_gan_vs_vae.csv")))
    assert [row["FID"] for row in rows] == [f"{record['metrics']['fid']:.2f}", f"{short_record['metrics']['fid']:.2f}"]
    assert rows[1]["model"].endswith("no label smoothing, constant rate") and rows[0]["test BCE (nats)"] == ""
    assert "not finished yet" in (tmp_path / "quick" / "seed003_gan_vs_vae.md").read_text()
    assert comparison.main(["--quick", "--results", str(tmp_path / "empty")]) == 2


def test_a_scheduled_run_cannot_be_lengthened(tmp_path, mnist_available):
    from mnistgen_tf.errors import MnistgenError

    options = dict(dataset="mnist", subset=200, latent_dim=4, batch_size=50, fid_samples=0, verbose=0)
    train("gan", str(tmp_path / "cosine"), epochs=1, lr_schedule="cosine", **options)
    with pytest.raises(MnistgenError, match="epochs .*laid out over its epochs"):
        train("gan", str(tmp_path / "cosine"), epochs=2, lr_schedule="cosine", resume=True, **options)
    train("gan", str(tmp_path / "constant"), epochs=1, **options)
    train("gan", str(tmp_path / "constant"), epochs=2, resume=True, **options)  # a constant rate may go on
