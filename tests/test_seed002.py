"""Seed 002: the three decoders, the addition data, the adder's kinds, and determinism."""

import dataclasses
import os

import keras
import numpy as np
import pytest

from mnistgen_tf import data
from mnistgen_tf.models.adder import KINDS, SUM_LOSSES, Adder, build_inference
from mnistgen_tf.models.autoencoder import DECODERS, build_autoencoder, build_decoder, build_encoder
from mnistgen_tf.sampling import add
from mnistgen_tf.train import train


@pytest.mark.parametrize("kind", DECODERS)
def test_each_decoder_makes_28x28_images_in_0_1(kind):
    decoder = build_decoder(kind, latent_dim=2)
    images = decoder.predict(np.random.default_rng(0).standard_normal((3, 2)) * 10, verbose=0)
    assert images.shape == (3, 28, 28, 1) and images.min() >= 0 and images.max() <= 1
    assert build_autoencoder(kind, 7).output.shape == (None, 28, 28, 1)


def test_the_decoders_differ_in_how_they_grow():
    layer_types = {kind: [type(layer).__name__ for layer in build_decoder(kind, 2).layers] for kind in DECODERS}
    assert layer_types["convtranspose"].count("Conv2DTranspose") == 3
    assert "UpSampling2D" in layer_types["upsample"] and "Resizing" in layer_types["interpolate"]
    resizing = [layer for layer in build_decoder("interpolate", 2).layers if type(layer).__name__ == "Resizing"]
    assert [layer.interpolation for layer in resizing] == ["bilinear", "bilinear"]
    upsampling = [layer for layer in build_decoder("upsample", 2).layers if type(layer).__name__ == "UpSampling2D"]
    assert [layer.interpolation for layer in upsampling] == ["nearest", "nearest"]


def test_the_encoder_shrinks_28_to_3_and_can_be_variational():
    encoder = build_encoder(2)
    assert encoder.get_layer("flatten").output.shape == (None, 128 * 3 * 3)
    mean, log_var = build_encoder(5, variational=True).outputs
    assert mean.shape == log_var.shape == (None, 5)


@pytest.mark.parametrize("balanced", [False, True])
def test_addition_pairs_stay_within_nine_and_target_the_sum(balanced):
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 10, 3000)
    images = labels.astype(np.float32)[:, None, None, None] * np.ones((1, 2, 2, 1), np.float32)  # pixel = digit
    ex = data.addition_examples(images, labels, seed=1, balanced=balanced)
    a, total = ex["a"], ex["sum"]
    assert ((a >= 0) & (total <= 9) & (total >= a)).all()
    np.testing.assert_array_equal(ex["number"], total - a)
    np.testing.assert_array_equal(ex["image"][:, 0, 0, 0], a)  # the input shows digit a
    np.testing.assert_array_equal(ex["target"][:, 0, 0, 0], total)  # the target shows digit a + b
    counts = np.bincount(total, minlength=10)
    if balanced:
        assert counts.min() > 0.8 * counts.mean()
    else:
        np.testing.assert_array_equal(a, labels)  # every image once
        assert counts[9] > 2 * counts[0]  # unbalanced: sums of 9 are reachable from every digit


def test_addition_pairs_need_every_digit():
    from mnistgen_tf.errors import MnistgenError

    with pytest.raises(MnistgenError, match="every digit"):
        data.addition_examples(np.zeros((5, 2, 2, 1)), np.arange(5))


@pytest.mark.parametrize("kind", KINDS)
def test_each_adder_kind_trains_and_infers(kind):
    keras.utils.set_random_seed(0)
    adder = Adder(kind=kind, latent_dim=3, seed=0)
    adder.build()
    adder.compile(optimizer=keras.optimizers.Adam(1e-3))
    rng = np.random.default_rng(0)
    batch = {"image": rng.random((8, 28, 28, 1), np.float32), "number": rng.integers(0, 3, 8).astype(np.float32),
             "target": rng.random((8, 28, 28, 1), np.float32)}
    logs = adder.fit(batch, epochs=2, batch_size=8, verbose=0).history
    assert np.isfinite(logs["loss"]).all() and logs["loss"][1] < logs["loss"][0]
    assert (np.array(logs["kl_encoder"]) > 0).all() == (kind != "ae")
    assert (np.array(logs["kl_adder"]) > 0).all() == (kind == "generative")
    inference = build_inference(adder)
    once, twice = (add(inference, batch["image"], 1.5) for _ in range(2))
    assert once.shape == (8, 28, 28, 1) and 0 <= once.min() <= once.max() <= 1
    assert np.array_equal(once, twice) == (kind != "generative")  # only the generative adder samples


def test_the_code_loss_trains_p_alone_and_leaves_e_to_the_reconstruction():
    keras.utils.set_random_seed(0)
    adder = Adder(kind="vae", latent_dim=3, sum_loss="code", image_weight=0.0, kl_encoder_weight=0.0, seed=0)
    adder.build()
    rng = np.random.default_rng(0)
    batch = {"image": rng.random((8, 28, 28, 1), np.float32), "number": rng.integers(0, 3, 8).astype(np.float32),
             "target": rng.random((8, 28, 28, 1), np.float32)}
    import tensorflow as tf

    with tf.GradientTape() as tape:
        terms = adder.terms(batch, training=True)
    assert terms["loss"] == terms["l2_code"] > 0  # only the code term is weighted here
    in_p = {id(w) for w in adder.number_adder.trainable_weights}
    moved = {id(w): g is not None and bool(np.any(g))
             for w, g in zip(adder.trainable_weights, tape.gradient(terms["loss"], adder.trainable_weights))}
    assert moved and all(moved[k] == (k in in_p) for k in moved)  # P moves, E and D do not
    assert {"l2_code", "l2_sum"} <= {m.name for m in adder.metrics}


def test_the_class_code_target_is_each_digits_running_mean_code(tmp_path):
    from mnistgen_tf.models.adder import CLASS_CODE_DECAY

    keras.utils.set_random_seed(0)
    adder = Adder(kind="ae", latent_dim=3, sum_loss="class_code", seed=0)
    adder.build()
    rng = np.random.default_rng(0)

    def batch(digits):
        n = len(digits)
        return {"image": rng.random((n, 28, 28, 1), np.float32), "number": np.zeros(n, np.float32),
                "target": rng.random((n, 28, 28, 1), np.float32), "sum": np.array(digits, np.int32)}

    first, second = batch([2, 2, 5, 2]), batch([2, 7])
    codes = [adder.encoder(b["target"]).numpy() for b in (first, second)]
    adder.terms(first, training=True)
    stored = adder.class_codes.numpy()
    np.testing.assert_allclose(stored[2], codes[0][[0, 1, 3]].mean(axis=0), rtol=1e-5)  # a first batch sets it
    np.testing.assert_allclose(stored[5], codes[0][2], rtol=1e-5)
    assert not stored[[0, 1, 3, 4, 6, 7, 8, 9]].any()  # digits not seen yet have none
    adder.terms(second, training=True)
    np.testing.assert_allclose(adder.class_codes.numpy()[2],
                               CLASS_CODE_DECAY * stored[2] + (1 - CLASS_CODE_DECAY) * codes[1][0], rtol=1e-5)
    np.testing.assert_allclose(adder.class_codes.numpy()[5], stored[5])  # absent from the batch: kept
    before = adder.class_codes.numpy()
    terms = adder.terms(second, training=False)  # validation reads the means and leaves them
    np.testing.assert_array_equal(adder.class_codes.numpy(), before)
    target = before[[2, 7]]
    expected = np.mean((adder.number_adder([adder.encoder(second["image"]).numpy(), np.zeros((2, 1), np.float32)]).numpy() - target) ** 2)
    assert float(terms["l2_code"]) == pytest.approx(expected / (np.mean(np.var(target, axis=0)) + 1e-6), rel=1e-4)
    adder.save(tmp_path / "adder.keras")  # the means are weights: a checkpoint keeps them
    reloaded = keras.models.load_model(tmp_path / "adder.keras")
    np.testing.assert_array_equal(reloaded.class_codes.numpy(), before)


def test_p_takes_its_width_and_depth_and_keeps_them_when_saved(tmp_path):
    adder = Adder(kind="ae", latent_dim=3, adder_units=16, adder_layers=3, seed=0)
    hidden = [layer for layer in adder.number_adder.layers if layer.name.startswith("hidden")]
    assert [layer.units for layer in hidden] == [16, 16, 16]
    adder({"image": np.zeros((2, 28, 28, 1), "float32"), "number": np.ones((2, 1), "float32")})  # built
    adder.save(tmp_path / "adder.keras")
    again = keras.models.load_model(tmp_path / "adder.keras")
    assert (again.adder_units, again.adder_layers) == (16, 3)
    assert [layer.units for layer in again.number_adder.layers if layer.name.startswith("hidden")] == [16, 16, 16]


def test_two_stage_training_freezes_the_autoencoder_and_trains_p(tmp_path, mnist_available):
    from mnistgen_tf.train import load_checkpoint, read_state

    options = dict(kind="ae", latent_dim=3, sum_loss="class_code", freeze_autoencoder_after=1, subset=200,
                   batch_size=50, verbose=0)

    def weights(run):
        model = load_checkpoint(str(run), read_state(str(run))["checkpoint"])
        return {part: [np.asarray(w) for w in getattr(model, part).weights]
                for part in ("encoder", "decoder", "number_adder")}

    train("adder", str(tmp_path), epochs=1, **options)
    first = weights(tmp_path)
    from mnistgen_tf.registry import get_family

    family = get_family("adder")
    keras.utils.set_random_seed(0)  # as the trainer does before building: the initial weights
    initial = family.build(family.make_options(**{k: v for k, v in options.items() if k != "verbose"}), (28, 28, 1))
    assert not np.array_equal(np.asarray(initial.encoder.weights[0]), first["encoder"][0])  # epoch 1 trained E
    train("adder", str(tmp_path), epochs=3, resume=True, **options)
    final = weights(tmp_path)
    for part in ("encoder", "decoder"):  # frozen after epoch 1
        for before, after in zip(first[part], final[part]):
            np.testing.assert_array_equal(before, after)
    assert any(not np.array_equal(b, a) for b, a in zip(first["number_adder"], final["number_adder"]))  # P learns


def test_same_seed_same_weights_and_history(tmp_path, mnist_available):
    options = dict(decoder="upsample", latent_dim=2, loss="bce", epochs=2, subset=300, seed=5, verbose=0)
    first, _, _ = train("autoencoder", str(tmp_path / "a"), **options)
    second, _, _ = train("autoencoder", str(tmp_path / "b"), **options)
    assert (tmp_path / "a" / "history.csv").read_bytes() == (tmp_path / "b" / "history.csv").read_bytes()
    for x, y in zip(first.get_weights(), second.get_weights()):
        np.testing.assert_array_equal(x, y)
    other, _, _ = train("autoencoder", str(tmp_path / "c"), **{**options, "seed": 6})
    assert not np.array_equal(first.get_weights()[0], other.get_weights()[0])


@pytest.fixture(scope="module")
def seed002_quick(tmp_path_factory, mnist_available):
    """A shard of each seed 002 sweep, quick profile, then the figures."""
    from mnistgen_tf.cli import main

    results = tmp_path_factory.mktemp("seed002")
    for experiment, shard in (("seed002_autoencoders", "0/4"), ("seed002_adder", "0/3")):
        assert main(["sweep", experiment, "--quick", "--shard", shard, "--results", str(results)]) == 0
    assert main(["figures", "--quick", "--results", str(results)]) == 0
    return results / "quick"


@pytest.mark.slow  # with the adder's below, about a minute of quick sweeps
def test_autoencoder_sweep_table_and_figures(seed002_quick):
    import csv

    rows = list(csv.DictReader(open(seed002_quick / "seed002_autoencoders" / "table.csv")))
    assert [r["cell"] for r in rows] == ["convtranspose_l2_z2_seed0", "upsample_bce_z2_seed0",
                                         "interpolate_l2_z7_seed0"]
    assert rows[0]["final train (seed)"] == "0.1745" and rows[1]["final val (seed)"] == "0.1643"
    assert rows[2]["final train (seed)"] == ""  # the seed has no numbers at code size 7
    for name in ("seed002_fig10_17_curves.png", "seed002_fig18_19_reconstructions.png", "seed002_latent_space.png"):
        assert (seed002_quick / "figures" / name).stat().st_size > 10_000


@pytest.mark.slow
def test_adder_sweep_measures_every_test_pair(seed002_quick):
    import json

    cells = seed002_quick / "seed002_adder" / "cells"
    records = [json.loads((cells / name / "cell.json").read_text()) for name in sorted(os.listdir(cells))]
    assert sorted((r["settings"]["kind"], r["settings"]["sum_loss"]) for r in records) == [
        ("ae", "class_code"), ("ae", "code"), ("ae", "image"), ("generative", "image")]
    _, labels = data.load("mnist", "test")
    for record in records:
        metrics = record["metrics"]
        assert metrics["test_pairs"] == int(np.sum(10 - labels[:record["test_images"]]))
        assert 0 <= metrics["sum_accuracy"] <= 1 and metrics["fid_vs_target_digits"] > 0
        assert [p["number"] for p in record["probes"]] == [1.0, 2.0, 1.5, 1.4, 1.6]
        assert (record["seed_table_1"] in ("correct", "only fuzzy nines", "generates numbers different from the target")
                ) == (record["settings"]["sum_loss"] == "image")  # the seed never took the L2 on codes
    baseline = json.loads((seed002_quick / "seed002_adder" / "baseline.json").read_text())
    assert baseline["test_pairs"] == metrics["test_pairs"] and 0 <= baseline["sum_accuracy"] <= 1
    assert len(baseline["class_means_read_as"]) == 10
    assert "mean training image of digit a + b" in (seed002_quick / "seed002_adder" / "table.md").read_text()
    for name in ("seed002_fig20_21_addition_data.png", "seed002_fig24_28_31_probes.png", "seed002_sum_accuracy.png"):
        assert (seed002_quick / "figures" / name).stat().st_size > 10_000


def test_the_registry_offers_the_models_choices():
    from mnistgen_tf.registry import AdderOptions, AutoencoderOptions

    def choices(options, name):
        return next(f.metadata["choices"] for f in dataclasses.fields(options) if f.name == name)

    assert choices(AutoencoderOptions, "decoder") == choices(AdderOptions, "decoder") == DECODERS
    assert choices(AdderOptions, "kind") == KINDS
    assert choices(AdderOptions, "sum_loss") == SUM_LOSSES


def test_add_writes_the_sum_and_says_what_it_reads(tmp_path, capsys, mnist_available):
    from mnistgen_tf.cli import main

    train("adder", str(tmp_path / "run"), epochs=1, subset=300, latent_dim=3, verbose=0)
    out = tmp_path / "sum.png"
    assert main(["add", "--generator", str(tmp_path / "run" / "generator.keras"), "--image", "0", "--number", "1.5",
                 "--out", str(out)]) == 0
    assert "a 7 + 1.5; mnist-cnn reads" in capsys.readouterr().out
    from mnistgen_tf.figures import plt

    assert plt.imread(out).shape[:2] == (28, 28)
    # The written PNG is the sum, and can be fed back: grey levels survive the round trip to within a PNG's 8 bits.
    from mnistgen_tf.cli import _read_image
    from mnistgen_tf.sampling import load_adder

    expected = add(load_adder(str(tmp_path / "run" / "generator.keras")), data.to_float(data.load("mnist", "test")[0][:1]),
                   1.5)
    read_back, digit = _read_image(str(out))
    assert digit is None and np.abs(read_back - expected[0]).max() <= 1 / 255 + 1e-6
    assert main(["add", "--generator", str(tmp_path / "run" / "generator.keras"), "--image", str(out),
                 "--number", "0", "--out", str(tmp_path / "again.png")]) == 0


def test_roughness_sees_wobble_not_a_steady_decay():
    from mnistgen_tf.sweeps.seed002_autoencoders import _roughness

    epochs = np.arange(25)
    steady = 0.2 * np.exp(-epochs / 10) + 0.15
    wobbly = steady * (1 + 0.01 * (-1) ** epochs)
    assert _roughness(steady) < 3 < 30 < _roughness(wobbly)
    assert _roughness(3 * wobbly) == pytest.approx(_roughness(wobbly))  # free of the unit
