"""Augmenting a small training set with generated digits (seed 004's applications)."""

import json

import keras
import numpy as np
import pytest

from mnistgen_tf.augment import generated_examples, mixed
from mnistgen_tf.errors import MnistgenError


def _tiny_cvae_decoder(conditional=True):
    from mnistgen_tf.models.vae import build_decoder

    keras.utils.set_random_seed(0)
    return build_decoder(3, conditional=conditional)


def test_the_mix_holds_exactly_the_generated_images_asked_for_with_their_digits():
    fake, fake_labels = generated_examples(_tiny_cvae_decoder(), 25, seed=0)
    assert fake.shape == (25, 28, 28, 1) and fake.dtype == np.uint8
    np.testing.assert_array_equal(fake_labels, np.arange(25) % 10)
    real = np.zeros((7, 28, 28, 1), np.uint8)
    images, labels = mixed(real, np.full(7, 3), fake, fake_labels)
    assert len(images) == 32 and (images[:7] == 0).all() and np.array_equal(images[7:], fake)
    np.testing.assert_array_equal(labels, np.r_[np.full(7, 3), np.arange(25) % 10])
    with pytest.raises(MnistgenError, match="needs a conditional generator"):
        generated_examples(_tiny_cvae_decoder(conditional=False), 5)


def test_a_missing_folder_that_a_sweep_reads_is_named(tmp_path):
    from mnistgen_tf.sweep import _used_cells
    from mnistgen_tf.sweeps.seed004_augmentation import EXPERIMENT

    settings = {**EXPERIMENT.profile().settings, "source": "draw", "ratio": 1}
    with pytest.raises(MnistgenError, match="needs .*draw_conditional_t8_z8, which is missing"):
        _used_cells(EXPERIMENT, str(tmp_path), False, settings)
    (tmp_path / "draw_conditional_t8_z8").mkdir()
    assert _used_cells(EXPERIMENT, str(tmp_path), False, settings) == {
        "generator": str(tmp_path / "draw_conditional_t8_z8")}


@pytest.mark.slow  # four classifier trainings; the mix itself is checked above
def test_the_sweep_trains_with_and_without_generated_digits(quick_zoo):
    from mnistgen_tf.cli import main

    results = str(quick_zoo)
    assert main(["sweep", "seed004_applications/augmentation", "--quick", "--results", results]) == 0
    assert main(["figures", "--quick", "--results", results]) == 0
    folder = quick_zoo / "quick" / "seed004_applications" / "augmentation"
    records = [json.loads(p.read_text()) for p in sorted(folder.glob("cells/*/cell.json"))]
    assert len(records) == 4
    for record in records:
        augmented = record["settings"]["source"] == "cvae"
        assert record["generated_images"] == (100 if augmented else 0)
        assert record["train_images"] == 100 + record["generated_images"]
        assert record["generated_label_counts"] == ([10] * 10 if augmented else [0] * 10)
        assert 0 <= record["metrics"]["test_accuracy"] <= 1
    summary = (folder / "summary.md").read_text()
    assert "| 100 | cvae | 1:1 | 2 |" in summary and "| 100 | none |  | 2 |" in summary
    assert (quick_zoo / "quick" / "figures" / "seed004_augmentation.png").stat().st_size > 10_000
