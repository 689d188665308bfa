"""Label -> image decoders: shapes, learning, saving, the BCE helpers and bad labels."""

import csv
import json
import subprocess
import sys

import keras
import numpy as np
import pytest

import mnistgen_tf  # noqa: F401
from mnistgen_tf.errors import MnistgenError
from mnistgen_tf.evaluate import class_means, digit_images, per_digit_bce, per_image_bce
from mnistgen_tf.models.label_decoders import VARIANTS, build_label_decoder
from mnistgen_tf.train import train
from mnistgen_tf.sampling import load_generator, sample

from cli_helpers import assert_one_line_error, mnistgen




@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """Every variant, untrained, saved, with its ten digits."""
    folder = tmp_path_factory.mktemp("built")
    models = {}
    for variant in VARIANTS:
        keras.utils.set_random_seed(1)
        model = build_label_decoder(variant)
        model.save(folder / f"{variant}.keras")
        models[variant] = (model, digit_images(model))
    return folder, models


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_builds_ten_images_in_unit_range(built, variant):
    model, images = built[1][variant]
    assert [t.name for t in model.inputs] == ["label"]
    assert images.shape == (10, 28, 28, 1)
    assert images.min() >= 0.0 and images.max() <= 1.0


def test_model_b_output_cannot_depend_on_the_label():
    # Latent 1: the first LayerNorm maps its one number to 0, whatever the weights.
    keras.utils.set_random_seed(2)
    model = build_label_decoder("B")
    model.set_weights([np.random.default_rng(i).normal(size=w.shape) for i, w in enumerate(model.get_weights())])
    images = digit_images(model)
    np.testing.assert_allclose(images, np.broadcast_to(images[:1], images.shape), atol=1e-6)
    a = digit_images(build_label_decoder("A"))
    assert not np.allclose(a[0], a[1])  # latent 10 keeps the label


def test_unknown_variant_is_a_one_line_error():
    with pytest.raises(MnistgenError, match="unknown label-decoder variant 'C'; choose one of A, B"):
        build_label_decoder("C")


def test_save_and_load_in_a_fresh_process_gives_identical_outputs(built, tmp_path):
    folder, models = built
    out = tmp_path / "outputs.npz"
    code = (
        "import sys, numpy as np, keras, mnistgen_tf\n"
        "folder, out, names = sys.argv[1], sys.argv[2], sys.argv[3:]\n"
        "labels = {'label': np.arange(10, dtype='int32')}\n"
        "np.savez(out, **{n: keras.models.load_model(f'{folder}/{n}.keras').predict(labels, verbose=0)"
        " for n in names})\n"
    )
    result = subprocess.run([sys.executable, "-c", code, folder, out, *VARIANTS], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
    loaded = np.load(out)
    for variant, (_, images) in models.items():
        np.testing.assert_array_equal(loaded[variant], images, err_msg=variant)


def test_bce_helpers_closed_forms():
    images = np.zeros((4, 28, 28), np.uint8)
    images[:, :14] = 255  # half the pixels on
    labels = np.array([0, 0, 1, 1])
    half = np.full((2, 28, 28, 1), 0.5, np.float32)
    mean, per_digit = per_digit_bce(half, images, labels)
    assert mean == pytest.approx(np.log(2)) and per_digit[:2] == pytest.approx([np.log(2)] * 2)
    assert np.isnan(per_digit[2])  # no image of digit 2
    # Two identical binary images per digit: the class means are those images, so
    # only the 1e-7 clipping is left.
    patterns = np.random.default_rng(0).integers(0, 2, (10, 28, 28)).astype(np.uint8) * 255
    images, labels = np.repeat(patterns, 2, axis=0), np.repeat(np.arange(10), 2)
    exact = class_means(images, labels)
    assert per_image_bce(exact[labels], images).max() == pytest.approx(-np.log1p(-1e-7), rel=1e-3)


@pytest.fixture(scope="module")
def trained(tmp_path_factory, mnist_available):
    run = tmp_path_factory.mktemp("runs") / "t1"
    _, generator, config = train("label-decoder", str(run), variant="transformer-1", epochs=1, subset=400, seed=0,
                                 verbose=0)
    return run, generator, config


def test_short_training_lowers_the_loss(trained):
    from mnistgen_tf import data

    run, generator, config = trained
    images, labels = data.load("mnist", "train")
    val_images, val_labels = images[360:400], labels[360:400]  # the run's held-out tenth
    keras.utils.set_random_seed(0)
    before = per_digit_bce(digit_images(build_label_decoder("transformer-1")), val_images, val_labels)[0]
    after = per_digit_bce(digit_images(generator), val_images, val_labels)[0]
    assert after < before - 0.05, (before, after)
    for name in ("generator.keras", "history.csv", "config.json", "run.json", "best.keras", "last-1.keras"):
        assert (run / name).exists(), name
    with open(run / "history.csv") as f:
        assert [row["epoch"] for row in csv.DictReader(f)] == ["0"]
    info = json.loads((run / "run.json").read_text())
    assert info["parameters"] == generator.count_params() and info["train_images"] == 360
    assert config["variant"] == "transformer-1" and config["batch_size"] == 16


def test_sample_draws_the_digits_and_rejects_labels_outside_0_9(trained):
    run, generator, _ = trained
    loaded = load_generator(str(run / "generator.keras"))
    images = sample(loaded, 12)  # no digit: cycles 0-9
    np.testing.assert_allclose(images[:10], digit_images(generator), atol=1e-6)
    np.testing.assert_allclose(sample(loaded, 2, digits=7), digit_images(generator)[[7, 7]], atol=1e-6)
    for bad in (10, -1, [3, 12]):
        with pytest.raises(MnistgenError, match="outside 0-9") as error:
            sample(loaded, 2, digits=bad)
        assert "\n" not in str(error.value)


@pytest.mark.parametrize("bad", [2.5, "x"])
def test_sample_rejects_non_integer_labels(trained, bad):
    run, _, _ = trained
    with pytest.raises(MnistgenError):
        sample(load_generator(str(run / "generator.keras")), 2, digits=bad)


def test_cli_variants_match_the_module():
    from mnistgen_tf.cli import build_parser
    from mnistgen_tf.registry import LABEL_DECODER_VARIANTS, get_family

    assert LABEL_DECODER_VARIANTS == tuple(VARIANTS)
    options = get_family("label-decoder").make_options()
    assert (options.variant, options.epochs, options.batch_size, options.seed, options.subset) == ("A", 3, 16, 0, None)
    parser = build_parser()
    for variant in VARIANTS:
        assert parser.parse_args(["train", "label-decoder", "--variant", variant, "--out", "x"]).variant == variant


def test_cli_trains_and_samples(tmp_path, mnist_available):
    run = tmp_path / "run"
    result = mnistgen("train", "label-decoder", "--variant", "A", "--out", run, "--subset", 200, "--epochs", 1)
    assert result.returncode == 0, result.stderr[-2000:]
    assert (run / "generator.keras").exists()
    assert json.loads((run / "config.json").read_text())["variant"] == "A"
    result = mnistgen("sample", run / "generator.keras", "-n", 10, "--out", tmp_path / "d.npy")
    assert result.returncode == 0, result.stderr[-1500:]
    images = np.load(tmp_path / "d.npy")
    assert images.shape == (10, 28, 28, 1) and 0 <= images.min() and images.max() <= 1


def test_cli_bad_digit_exits_2_with_one_line(tmp_path):
    result = mnistgen("sample", "g.keras", "--digit", "2.5", "--out", tmp_path / "s.png")
    assert_one_line_error(result, "integer 0-9")
    assert not (tmp_path / "s.png").exists()


@pytest.mark.parametrize("args, fragment", [
    (["train", "label-decoder", "--variant", "C", "--out", "d"], "invalid choice: 'C'"),
    (["train", "label-decoder", "--variant", "A"], "--out"),
    (["sample", "g.keras", "--digit", "10", "--out", "s.png"], "outside 0-9"),
    (["sample", "g.keras", "--digit", "x", "--out", "s.png"], "integer 0-9"),
])
def test_cli_bad_arguments_exit_2_with_one_line(args, fragment, capsys):
    # In process (argparse stops before any work); one real subprocess is above.
    from mnistgen_tf.cli import main

    with pytest.raises(SystemExit) as exit_:
        main(args)
    assert exit_.value.code == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and fragment in lines[0], lines
