"""Inpainting (seed 004's applications): the masks, the three ways to fill, the sweep and the command."""

import json

import keras
import numpy as np
import pytest

from cli_helpers import assert_one_line_error, mnistgen
from mnistgen_tf.errors import MnistgenError
from mnistgen_tf.inpainting import MASKS, ddpm_fill, mean_fill, observed_mask, vae_fill


def test_the_masks_hide_what_their_names_say():
    missing = {name: 1 - observed_mask(name, 3, seed=0)[..., 0] for name in MASKS}
    assert missing["bottom_half"][:, 14:].all() and not missing["bottom_half"][:, :14].any()
    assert missing["left_half"][:, :, :14].all() and not missing["left_half"][:, :, 14:].any()
    square = missing["centre_square"]
    assert square[:, 7:21, 7:21].all() and square.sum() == 3 * 14 * 14
    random = missing["random_half"]
    assert (random.sum(axis=(1, 2)) == 392).all() and not np.array_equal(random[0], random[1])
    np.testing.assert_array_equal(random, 1 - observed_mask("random_half", 3, seed=0)[..., 0])  # seeded
    with pytest.raises(MnistgenError, match="unknown mask 'nose'"):
        observed_mask("nose", 1)


def _digits(n=4):
    return np.random.default_rng(0).random((n, 28, 28, 1)).astype(np.float32)


def _tiny_ddpm():
    from mnistgen_tf.models.ddpm import build_sampler, build_unet

    keras.utils.set_random_seed(0)
    return build_sampler(build_unet(8), "linear", timesteps=20, steps=4, eta=0.0)


def _tiny_decoder():
    from mnistgen_tf.models.vae import build_decoder

    keras.utils.set_random_seed(0)
    return build_decoder(3)


@pytest.mark.parametrize("name", MASKS)
def test_observed_pixels_are_never_changed(name):
    x, mask = _digits(), observed_mask(name, 4, seed=1)
    fills = [mean_fill(x, mask, np.full((28, 28, 1), 0.3, np.float32))[None],
             vae_fill(_tiny_decoder(), x, mask, completions=2, steps=3),
             ddpm_fill(_tiny_ddpm(), x, mask, completions=2, steps=4)]
    for completions in fills:
        assert completions.shape[1:] == x.shape and 0 <= completions.min() <= completions.max() <= 1
        np.testing.assert_array_equal(completions * mask, np.broadcast_to(x * mask, completions.shape))
        assert not np.allclose(completions * (1 - mask), x * (1 - mask))  # the missing pixels were filled


def test_code_fitting_pulls_only_the_observed_pixels_toward_the_image():
    # A decoder that is sigmoid(z) pixel by pixel: a missing pixel's code feels only the prior
    # ‖z‖²/2 and goes to 0 (grey 0.5), however bright the observed pixels are.
    z = keras.Input((784,), name="z")
    decoder = keras.Model(z, keras.layers.Reshape((28, 28, 1))(keras.layers.Activation("sigmoid")(z)))
    x = np.full((2, 28, 28, 1), 0.95, np.float32)
    filled = vae_fill(decoder, x, observed_mask("bottom_half", 2), steps=400)[0]
    np.testing.assert_allclose(filled[:, 14:], 0.5, atol=0.02)


def test_metrics_of_a_perfect_and_of_a_blank_completion(mnist_available):
    from mnistgen_tf.metrics.features import ClassifierFeatures
    from mnistgen_tf.data import seeded_draw
    from mnistgen_tf.sweeps.seed004_inpainting import inpainting_metrics

    images, labels = seeded_draw("mnist", "test", 50, seed=0)
    mask, classifier = observed_mask("bottom_half", 50), ClassifierFeatures("mnist")
    perfect = inpainting_metrics(images, labels, mask, np.stack([images, images]), classifier)
    assert perfect["missing_mse"] == 0 and perfect["diversity"] == 0 and perfect["label_accuracy"] > 0.95
    blank = np.stack([images * mask, images * mask])
    worse = inpainting_metrics(images, labels, mask, blank, classifier)
    assert worse["missing_mse"] > 0.01 and worse["label_accuracy"] == worse["masked_input_accuracy"]


def test_the_sweep_names_the_zoo_cells_it_needs(tmp_path, capsys, mnist_available):
    from mnistgen_tf.cli import main

    assert main(["sweep", "seed004_applications/inpainting", "--quick", "--results", str(tmp_path)]) == 2
    error = capsys.readouterr().err.strip().splitlines()
    assert error[-1] == ("mnistgen: error: seed004_applications/inpainting needs the finished cell vae_seed0 of "
                         "seed004_zoo: run `mnistgen sweep seed004_zoo --quick` first")


def test_the_sweep_completes_with_the_zoos_models(quick_zoo):
    from mnistgen_tf.cli import main

    results = str(quick_zoo)
    assert main(["sweep", "seed004_applications/inpainting", "--quick", "--results", results]) == 0
    assert main(["figures", "--quick", "--results", results]) == 0
    cells = quick_zoo / "quick" / "seed004_applications" / "inpainting" / "cells"
    records = {(r["settings"]["method"], r["settings"]["mask"]): r
               for r in (json.loads(p.read_text()) for p in cells.glob("*/cell.json"))}
    assert len(records) == 6
    for (method, mask), record in records.items():
        metrics = record["metrics"]
        assert 0 < metrics["missing_mse"] < 1 and 0 <= metrics["label_accuracy"] <= 1
        assert (metrics["diversity"] == 0) == (method == "mean")
        assert record["completions_per_image"] == (1 if method == "mean" else 2)
        assert ("uses" in record) == (method != "mean")
    assert records[("vae", "random_half")]["uses"]["model"]["cell"].endswith("seed004_zoo/cells/vae_seed0")
    assert (quick_zoo / "quick" / "figures" / "seed004_inpainting.png").stat().st_size > 10_000


@pytest.mark.parametrize("args, fragment", [
    (["--image", "3", "--mask", "left_half", "-k", "3"], "-k and --steps apply to a generator's"),
    (["--image", "10000", "--mask", "left_half"], "the MNIST test split has 10000 images"),
    (["--image", "{tmp}/big.png", "--mask", "left_half"], "expected a 28x28 digit"),
    (["--image", "3", "--mask", "left_half", "--generator", "{tmp}/none.keras"], "no model file"),
])
def test_inpaint_refuses_bad_input_in_one_line(tmp_path, args, fragment, mnist_available):
    from mnistgen_tf.figures import plt

    plt.imsave(tmp_path / "big.png", np.zeros((32, 32)), cmap="gray")
    out = tmp_path / "out.png"
    result = mnistgen("inpaint", *[a.format(tmp=tmp_path) for a in args], "--out", out)
    assert_one_line_error(result, fragment)
    assert not out.exists()


def test_inpaint_draws_a_strip_with_the_mean(tmp_path, mnist_available):
    out = tmp_path / "strip.png"
    result = mnistgen("inpaint", "--image", "0", "--mask", "centre_square", "--out", out)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "test digit 7 with its centre square missing" in result.stdout and out.stat().st_size > 200


def test_the_ddpm_fills_with_at_most_its_own_steps(quick_zoo, tmp_path):
    ddpm = quick_zoo / "quick" / "seed004_zoo" / "cells" / "ddpm_seed0" / "run" / "generator.keras"  # T = 20
    out = tmp_path / "filled.png"
    result = mnistgen("inpaint", "--generator", ddpm, "--image", 0, "--mask", "random_half", "-k", 2, "--out", out)
    assert result.returncode == 0 and "2 completion(s) by the DDPM chain" in result.stdout, result.stderr[-2000:]
    result = mnistgen("inpaint", "--generator", ddpm, "--image", 0, "--mask", "random_half", "--steps", 30,
                      "--out", tmp_path / "bad.png")
    assert_one_line_error(result, "the DDPM has 20 steps; inpainting can visit 1 to 20 of them, not 30")
