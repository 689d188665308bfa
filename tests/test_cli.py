"""The `mnistgen` command end to end, in subprocesses as a user runs it."""

import csv
import os
import subprocess
import sys

import numpy as np
import pytest

from cli_helpers import assert_one_line_error, mnistgen

TINY = ["--timesteps", "2", "--z-dim", "2", "--units", "8", "--subset", "200", "--batch-size", "50"]




@pytest.fixture(scope="module")
def runs(tmp_path_factory, mnist_available):
    """A tiny conditional and a tiny unconditional run, the first one resumed."""
    root = tmp_path_factory.mktemp("runs")
    cond, uncond = root / "cond", root / "uncond"
    first = mnistgen("train", "draw", "--out", cond, "--conditional", "--epochs", 1, *TINY)
    assert first.returncode == 0, first.stderr[-2000:]
    resumed = mnistgen("train", "draw", "--out", cond, "--conditional", "--epochs", 2, "--resume", *TINY)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    plain = mnistgen("train", "draw", "--out", uncond, "--epochs", 1, *TINY)
    assert plain.returncode == 0, plain.stderr[-2000:]
    return cond, uncond


def test_train_writes_the_run_and_resume_continues_it(runs):
    cond, _ = runs
    for name in ("generator.keras", "history.csv", "config.json", "best.keras", "last-2.keras", "run.json"):
        assert (cond / name).exists(), name
    with open(cond / "history.csv") as f:
        epochs = [row["epoch"] for row in csv.DictReader(f)]
    assert epochs == ["0", "1"]


def test_refuses_to_overwrite_a_run(runs):
    cond, _ = runs
    result = mnistgen("train", "draw", "--out", cond, "--epochs", 1, *TINY)
    assert_one_line_error(result, "already holds a run", "--resume")


def test_sample_png_and_npy(runs, tmp_path):
    cond, uncond = runs
    result = mnistgen("sample", cond / "generator.keras", "-n", 12, "--digit", 7, "--out", tmp_path / "s.png")
    assert result.returncode == 0, result.stderr[-1500:]
    assert (tmp_path / "s.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    result = mnistgen("sample", uncond / "generator.keras", "-n", 5, "--seed", 3, "--out", tmp_path / "a.npy")
    assert result.returncode == 0, result.stderr[-1500:]
    images = np.load(tmp_path / "a.npy")
    assert images.shape == (5, 28, 28, 1) and images.min() >= 0 and images.max() <= 1
    again = mnistgen("sample", uncond / "generator.keras", "-n", 5, "--seed", 3, "--out", tmp_path / "b.npy")
    assert again.returncode == 0
    np.testing.assert_array_equal(images, np.load(tmp_path / "b.npy"))
    cooler = mnistgen("sample", uncond / "generator.keras", "-n", 5, "--seed", 3, "--temperature", 0.5,
                      "--out", tmp_path / "c.npy")
    assert cooler.returncode == 0, cooler.stderr[-1500:]
    assert not np.allclose(images, np.load(tmp_path / "c.npy"), atol=1e-3)  # the noise was scaled
    images_at_one = mnistgen("sample", uncond / "generator.keras", "-n", 5, "--seed", 3, "--temperature", "1.0",
                             "--out", tmp_path / "d.npy")
    assert images_at_one.returncode == 0
    np.testing.assert_array_equal(images, np.load(tmp_path / "d.npy"))  # 1 is the default, the prior


@pytest.mark.parametrize("args, fragment", [
    (["-n", "4", "--digit", "11"], "outside 0-9"),
    (["-n", "4", "--digit", "x"], "integer 0-9"),
    (["-n", "0"], "positive integer"),
    (["-n", "4", "--temperature", "0"], "temperature must be a number above 0"),
    (["-n", "4", "--temperature", "warm"], "temperature must be a number above 0"),
    (["-n", "4", "--temperature", "nan"], "temperature must be a number above 0"),
    (["-n", "4", "--temperature", "1e39"], "at most 10"),
    (["-n", "4", "--out-of-place"], "unrecognized"),
])
def test_sample_bad_arguments(args, fragment, tmp_path):
    out = tmp_path / "s.png"
    result = mnistgen("sample", "whatever.keras", *args, "--out", out)
    assert_one_line_error(result, fragment)
    assert not out.exists()


def test_sample_bad_models_and_outputs(runs, tmp_path):
    cond, uncond = runs
    not_keras = tmp_path / "model.keras"
    not_keras.write_text("not a zip archive")
    cases = [
        ([tmp_path / "missing.keras", "-n", 2], "no model file"),
        ([not_keras, "-n", 2], "cannot load"),
        ([cond / "history.csv", "-n", 2], "not a .keras"),
        ([cond / "best.keras", "-n", 2], "not a generator"),
        ([uncond / "generator.keras", "-n", 2, "--digit", 3], "unconditional"),
    ]
    for args, fragment in cases:
        out = tmp_path / "s.png"
        assert_one_line_error(mnistgen("sample", *args, "--out", out), fragment)
        assert not out.exists()
    assert_one_line_error(mnistgen("sample", cond / "generator.keras", "--out", tmp_path / "nope" / "s.png"),
                          "not writable")
    assert_one_line_error(mnistgen("sample", cond / "generator.keras", "--out", tmp_path / "s.jpg"), ".png or .npy")
    assert sorted(os.listdir(tmp_path)) == ["model.keras"]


def test_help_explains():
    result = mnistgen("train", "draw", "--help")
    assert result.returncode == 0 and "--conditional" in result.stdout and "--resume" in result.stdout


@pytest.mark.parametrize("chosen, expected", [(None, "true"), ("false", "false")])
def test_the_kit_chooses_the_bfc_cpu_allocator_unless_the_user_did(chosen, expected):
    env = {k: v for k, v in os.environ.items() if k != "TF_CPU_ALLOCATOR_USE_BFC"}
    if chosen is not None:
        env["TF_CPU_ALLOCATOR_USE_BFC"] = chosen
    code = "import os, mnistgen_tf; print(os.environ['TF_CPU_ALLOCATOR_USE_BFC'])"
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert result.stdout.strip() == expected
