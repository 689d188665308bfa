"""kill -9, Ctrl-C, a full disk and two writers, with real processes and real signals.

After any interruption, resuming gives the history (byte for byte) and the
weights of an uninterrupted run; a second writer is refused while the first
is alive and let in once it dies.  `tests/interrupt.py` picks the moment.
"""

import json
import os
import pathlib
import resource
import signal
import subprocess
import sys
import time

import keras
import numpy as np
import pytest

from cli_helpers import TINY, assert_one_line_error, kit_lines, mnistgen
from mnistgen_tf.data import steps_per_epoch
from mnistgen_tf.files import is_tmp_name
from mnistgen_tf.registry import FAMILIES, get_family

INTERRUPT = pathlib.Path(__file__).with_name("interrupt.py")
# A tiny DRAW: 6 batches per epoch, 3 epochs.
ARGS = ["train", "draw", "--epochs", "3", "--conditional", "--timesteps", "2", "--z-dim", "2", "--units", "8",
        "--subset", "300", "--batch-size", "50", "--no-xla"]


def interrupted(mode, n, *argv):
    return subprocess.run([sys.executable, str(INTERRUPT), mode, str(n), *map(str, argv)],
                          capture_output=True, text=True)


@pytest.fixture(scope="module")
def straight(tmp_path_factory, mnist_available):
    run = tmp_path_factory.mktemp("straight") / "run"
    result = mnistgen(*ARGS, "--out", run)
    assert result.returncode == 0, result.stderr[-2000:]
    return run


def assert_same_run(run, straight):
    assert (run / "history.csv").read_bytes() == (straight / "history.csv").read_bytes()
    a, b = (keras.models.load_model(r / "generator.keras") for r in (run, straight))
    for x, y in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_array_equal(x, y)
    assert not [p for p in run.iterdir() if is_tmp_name(p.name)]
    assert sorted(p.name for p in run.glob("last*.keras")) == ["last-3.keras"]


# kill -9 mid-epoch (batch 8 is in epoch 2), during validation (epoch 2's), and during the
# third save (epoch 2's best.keras: its temporary file written, never renamed).
SLOW_TO_COMPILE = ("ddpm",)
# Plain Keras models with no state of their own beyond weights and optimizer (the modes above cover
# that path): their per-family kill -9 runs with -m slow, to keep the default suite near 15 minutes.
PLAIN_KERAS = ("autoencoder", "label-decoder")


@pytest.mark.parametrize("mode,n", [("kill-batch", 8), ("kill-eval", 2), ("kill-save", 3)])
def test_kill_9_then_resume_gives_the_uninterrupted_run(mode, n, straight, tmp_path):
    run = tmp_path / "run"
    killed = interrupted(mode, n, *ARGS, "--out", run)
    assert killed.returncode == -signal.SIGKILL
    assert json.loads((run / "state.json").read_text())["epochs_done"] == 1
    resumed = mnistgen(*ARGS, "--out", run, "--resume")
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert_same_run(run, straight)


# The DDPM's case takes minutes (three processes, each compiling its U-Net and reverse loop): -m slow.
@pytest.mark.parametrize("family", [pytest.param(name, marks=pytest.mark.slow)
                                    if name in SLOW_TO_COMPILE + PLAIN_KERAS else name for name in sorted(FAMILIES)])
def test_every_family_resumes_a_kill_9_to_the_uninterrupted_run(family, tmp_path, mnist_available):
    args = ["train", family, "--epochs", "3", "--subset", "300", *TINY[family]]
    batch = int(TINY[family][TINY[family].index("--batch-size") + 1]) if "--batch-size" in TINY[family] else \
        get_family(family).make_options().batch_size
    straight, run = tmp_path / "straight", tmp_path / "run"
    assert mnistgen(*args, "--out", straight).returncode == 0
    killed = interrupted("kill-batch", steps_per_epoch(270, batch) + 1, *args, "--out", run)  # epoch 2, batch 1
    assert killed.returncode == -signal.SIGKILL
    assert json.loads((run / "state.json").read_text())["epochs_done"] == 1
    assert mnistgen(*args, "--out", run, "--resume").returncode == 0
    assert_same_run(run, straight)


def test_ctrl_c_prints_one_line_keeps_the_epoch_and_exits_130(straight, tmp_path):
    run = tmp_path / "run"
    stopped = interrupted("int-batch", 8, *ARGS, "--out", run)
    assert stopped.returncode == 130
    lines = kit_lines(stopped.stderr)
    assert len(lines) == 1 and "interrupted" in lines[0] and "Traceback" not in stopped.stderr
    assert json.loads((run / "state.json").read_text())["epochs_done"] == 1
    assert mnistgen(*ARGS, "--out", run, "--resume").returncode == 0
    assert_same_run(run, straight)


def test_a_second_writer_waits_for_the_first_to_die(tmp_path, mnist_available):
    run = tmp_path / "run"
    first = subprocess.Popen([sys.executable, str(INTERRUPT), "stall-batch", "8", *ARGS, "--out", str(run)],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 120
        while not (run / "last-1.keras").exists() and time.time() < deadline:
            time.sleep(0.5)
        time.sleep(1)  # into epoch 2, where the first writer stalls
        assert_one_line_error(mnistgen(*ARGS, "--out", run, "--resume"), "in use by another mnistgen process")
    finally:
        first.kill()
        first.wait()
    assert mnistgen(*ARGS, "--out", run, "--resume").returncode == 0  # the lock died with its process


def _limit_file_size(limit):
    def apply():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG instead
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    return apply


def test_a_full_disk_is_one_line_and_leaves_no_temporary(tmp_path, mnist_available):
    run = tmp_path / "run"
    result = subprocess.run([sys.executable, "-m", "mnistgen_tf.cli", "train", "autoencoder", "--out", str(run),
                             "--epochs", "1", "--subset", "200"], capture_output=True, text=True,
                            preexec_fn=_limit_file_size(2**20))  # the 25 MB checkpoint cannot be written
    assert_one_line_error(result, "cannot write", "File too large")
    assert not [name for name in os.listdir(run) if is_tmp_name(name)]

    z = keras.Input((4,), name="z")
    image = keras.layers.Reshape((28, 28, 1))(keras.layers.Dense(784, activation="sigmoid")(z))
    keras.Model(z, image).save(tmp_path / "g.keras")
    result = subprocess.run([sys.executable, "-m", "mnistgen_tf.cli", "sample", str(tmp_path / "g.keras"),
                             "-n", "2000", "--out", str(tmp_path / "x.npy")], capture_output=True, text=True,
                            preexec_fn=_limit_file_size(2**20))
    assert_one_line_error(result, "cannot write", "x.npy")
    assert sorted(os.listdir(tmp_path)) == ["g.keras", "run"]


# ---------------------------------------------------------------- sweeps

SWEEP = ["sweep", "seed002_autoencoders", "--quick"]


def _cell(results):
    cells = results / "quick" / "seed002_autoencoders" / "cells"
    return cells / sorted(os.listdir(cells))[0]


def test_a_sweep_killed_during_evaluation_finishes_the_same(tmp_path, mnist_available):
    straight, killed = tmp_path / "straight", tmp_path / "killed"
    assert mnistgen(*SWEEP, "--shard", "0/12", "--results", straight).returncode == 0
    # Two validations during training, then the cell's own evaluation: the third call.
    assert interrupted("kill-eval", 3, *SWEEP, "--shard", "0/12", "--results", killed).returncode == -signal.SIGKILL
    assert not (_cell(killed) / "cell.json").exists()
    assert mnistgen(*SWEEP, "--shard", "0/12", "--results", killed).returncode == 0
    a, b = (json.loads((_cell(r) / "cell.json").read_text()) for r in (straight, killed))
    assert a["metrics"] == b["metrics"]
    with np.load(_cell(straight) / "figure_data.npz") as x, np.load(_cell(killed) / "figure_data.npz") as y:
        for key in x.files:
            np.testing.assert_array_equal(x[key], y[key])


def test_two_sweeps_on_one_folder_need_shards(tmp_path, mnist_available):
    results = tmp_path / "results"
    first = subprocess.Popen([sys.executable, str(INTERRUPT), "stall-batch", "4", *SWEEP, "--shard", "0/12",
                              "--results", str(results)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 120
        while not (results / "quick").exists() or not list((results / "quick").rglob("last-1.keras")):
            assert time.time() < deadline
            time.sleep(0.5)
        assert_one_line_error(mnistgen(*SWEEP, "--results", results), "--shard I/N")
        # Other shards work beside it.
        others = [subprocess.Popen([sys.executable, "-m", "mnistgen_tf.cli", *SWEEP, "--shard", f"{i}/12",
                                    "--results", str(results)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                   text=True) for i in (1, 2)]
        for other in others:
            assert other.wait() == 0, other.stderr.read()[-2000:]
    finally:
        first.kill()
        first.wait()
    cells = sorted(p.parent.name for p in (results / "quick").rglob("cell.json"))
    assert len(cells) == 2
