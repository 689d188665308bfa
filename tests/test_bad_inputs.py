"""Bad inputs and damaged files: exit 2, one line on stderr, no traceback, nothing written or changed.

The `train` cases are generated from the registry, so every family added
later gets them too.  Each case calls the CLI's `main` in this process (the
same code the `mnistgen` command runs) and compares the watched folder,
byte for byte, before and after.
"""

import dataclasses
import hashlib
import os
import shutil

import keras
import numpy as np
import pytest

from cli_helpers import TINY, kit_lines
from mnistgen_tf.cli import main
from mnistgen_tf.files import lock_folder
from mnistgen_tf.registry import FAMILIES


def snapshot(folder):
    """Every file under `folder` (hidden ones included) with a hash of its bytes."""
    found = {}
    for root, dirs, names in os.walk(folder):
        for name in dirs + names:
            path = os.path.join(root, name)
            found[os.path.relpath(path, folder)] = (
                hashlib.sha256(open(path, "rb").read()).hexdigest() if os.path.isfile(path) else "dir")
    return found


def refused(argv, fragment, watched, capsys):
    """Run `mnistgen ARGV`; assert one error line holding `fragment`, exit 2 and `watched` unchanged."""
    before = snapshot(watched)
    try:
        code = main([str(a) for a in argv])
    except SystemExit as e:  # argparse exits by itself
        code = e.code
    err = capsys.readouterr().err
    lines = kit_lines(err)
    assert code == 2, err
    assert len(lines) == 1 and "Traceback" not in err, err
    assert fragment in lines[0], lines[0]
    assert snapshot(watched) == before


# ---------------------------------------------------------------- train: every family's options

def _option_cases(family):
    """(arguments, expected fragment) for bad values of every option of `family`."""
    cases = [
        (["--subset", 10], "at least 20"),
        (["--seed", -1], "seed must be"),
        (["--seed", 99999999999], "seed must be"),
        (["--learning-rate", 0], "above 0"),
        (["--learning-rate", "nan"], "finite"),
        (["--learning-rate", -1], "above 0"),
        (["--epochs", 0], "at least 1"),
        (["--batch-size", "abc"], "must be an integer"),
        (["--no-such-option", 1], "unrecognized"),
    ]
    if family.name == "draw":
        cases += [(["--read-n", 1], "read-n must be 0 (no attention) or at least 2"),
                  (["--write-n", 1], "write-n must be 0 (no attention) or at least 2")]
    for field in dataclasses.fields(family.options):
        flag = "--" + field.name.replace("_", "-")
        if field.name == "dataset" and "cifar10" in field.metadata["choices"]:
            cases.append((["--dataset", "cifar10"], "could not load cifar10"))  # made unreachable below
        meta = field.metadata
        if meta["choices"]:
            cases.append(([flag, "bogus"], "invalid choice"))
        elif field.name not in ("seed", "subset", "epochs"):  # those three are in the list above
            if meta["minimum"] is not None:
                cases.append(([flag, meta["minimum"] - 1], f"at least {meta['minimum']}"))
            if meta["maximum"] is not None:
                cases.append(([flag, meta["maximum"] + 1], f"at most {meta['maximum']}"))
    return cases


def _offline():
    raise OSError("network unreachable")


TRAIN_CASES = [(name, args, fragment) for name, family in FAMILIES.items() for args, fragment in _option_cases(family)]


@pytest.mark.parametrize("family,args,fragment", TRAIN_CASES,
                         ids=[f"{f}:{' '.join(map(str, a))}" for f, a, _ in TRAIN_CASES])
def test_train_refuses_bad_options_and_writes_nothing(family, args, fragment, tmp_path, capsys, monkeypatch,
                                                      mnist_available):
    # CIFAR-10 unreachable whatever this machine has: no prepared copy, no download.
    monkeypatch.setenv("TFDS_DATA_DIR", str(tmp_path / "tfds"))
    monkeypatch.setattr(keras.datasets.cifar10, "load_data", _offline)
    refused(["train", family, "--out", tmp_path / "run", *args], fragment, tmp_path, capsys)
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_a_bad_data_folder_writes_nothing(family, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("MNISTGEN_DATA_DIR", str(tmp_path / "no-data"))
    refused(["train", family, "--out", tmp_path / "run", "--epochs", 1], "no folder", tmp_path, capsys)


@pytest.mark.parametrize("family", sorted(FAMILIES))
@pytest.mark.parametrize("folder", ["missing", "empty"])
def test_resume_of_nothing_is_refused(family, folder, tmp_path, capsys, mnist_available):
    (tmp_path / "empty").mkdir()
    refused(["train", family, "--out", tmp_path / folder, "--resume", "--epochs", 1], "holds no run to continue",
            tmp_path, capsys)


# ---------------------------------------------------------------- train: an existing run, damaged or not

@pytest.fixture(scope="module")
def trained_runs(tmp_path_factory, mnist_available):
    """Each family trained for 2 tiny epochs (the tests copy these folders, never touch them)."""
    root = tmp_path_factory.mktemp("trained")
    for name in FAMILIES:
        assert main(["train", name, "--out", str(root / name), "--epochs", "2", "--subset", "200",
                     *TINY[name]]) == 0
    keras.backend.clear_session()
    return root


def _damage(run, how):
    if how == "state-garbage":
        (run / "state.json").write_text("{not json")
    elif how == "state-list":
        (run / "state.json").write_text("[1, 2]")
    elif how == "state-foreign":
        (run / "state.json").write_text("{}")
    elif how == "checkpoint-missing":
        (run / "last-2.keras").unlink()
    elif how == "checkpoint-truncated":
        data = (run / "last-2.keras").read_bytes()
        (run / "last-2.keras").write_bytes(data[:len(data) // 2])
    elif how == "config-missing":
        (run / "config.json").unlink()
    elif how == "config-garbage":
        (run / "config.json").write_text("\x00\x01")
    elif how == "checkpoints-cleaned":  # as a finished sweep cell keeps it
        for name in ("state.json", "last-2.keras", "best.keras"):
            (run / name).unlink(missing_ok=True)  # best.keras only where a monitor picks it


DAMAGE = {
    "state-garbage": "unreadable run state", "state-list": "does not hold a JSON object",
    "state-foreign": "not a run state", "checkpoint-missing": "names a checkpoint that is missing",
    "checkpoint-truncated": "cannot load", "config-missing": "has a run state but no config.json",
    "config-garbage": "unreadable run config", "checkpoints-cleaned": "checkpoints were removed",
}


@pytest.mark.parametrize("family", sorted(FAMILIES))
@pytest.mark.parametrize("how", sorted(DAMAGE))
def test_resume_of_a_damaged_run_names_the_file(family, how, trained_runs, tmp_path, capsys):
    run = tmp_path / "run"
    shutil.copytree(trained_runs / family, run)
    _damage(run, how)
    refused(["train", family, "--out", run, "--resume", "--epochs", 3, "--subset", 200, *TINY[family]],
            DAMAGE[how], tmp_path, capsys)


RUN_MISUSE = [
    ([], "already holds a run"),
    (["--resume", "--batch-size", 7], "settings that differ"),
    (["--resume", "--epochs", 1], "would undo them"),
]


@pytest.mark.parametrize("family", sorted(FAMILIES))
@pytest.mark.parametrize("args,fragment", RUN_MISUSE, ids=["no-resume", "other-settings", "fewer-epochs"])
def test_an_existing_run_is_not_clobbered(family, args, fragment, trained_runs, tmp_path, capsys):
    run = tmp_path / "run"
    shutil.copytree(trained_runs / family, run)
    epochs = [] if "--epochs" in args else ["--epochs", 2]
    refused(["train", family, "--out", run, *epochs, "--subset", 200, *TINY[family], *args], fragment,
            tmp_path, capsys)


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_a_second_writer_is_refused(family, trained_runs, tmp_path, capsys):
    run = tmp_path / "run"
    shutil.copytree(trained_runs / family, run)
    with lock_folder(str(run)):  # as another process would hold it
        refused(["train", family, "--out", run, "--resume", "--epochs", 3, "--subset", 200, *TINY[family]],
                "in use by another mnistgen process", tmp_path, capsys)


# ---------------------------------------------------------------- sample

@pytest.fixture(scope="module")
def fake_generators(tmp_path_factory):
    """Models with a ``z`` input that are not image generators of this kit."""
    root = tmp_path_factory.mktemp("fakes")
    z = keras.Input((4,), name="z")
    keras.Model(z, keras.layers.Dense(10)(z)).save(root / "vector.keras")  # no images
    grid = keras.layers.Reshape((2, 2, 1))(z)
    keras.Model(z, keras.layers.Conv2D(1, 1, kernel_initializer="ones", bias_initializer=keras.initializers.Constant(
        5.0))(grid)).save(root / "unbounded.keras")  # images, but far outside [0, 1]
    (root / "garbage.keras").write_text("not a zip archive")
    return root


SAMPLE_CASES = [
    (["{fakes}/vector.keras"], "not an image generator"),
    (["{fakes}/unbounded.keras"], "outside [0, 1]"),
    (["{fakes}/garbage.keras"], "cannot load"),
    (["{fakes}/missing.keras"], "no model file"),
    (["{fakes}/vector.keras", "--seed", "-1"], "seed must be"),
    (["{fakes}/vector.keras", "--seed", str(2**32)], "seed must be"),
    (["{fakes}/vector.keras", "-n", "0"], "positive integer"),
    (["{fakes}/vector.keras", "--digit", "11"], "outside 0-9"),
]


@pytest.mark.parametrize("args,fragment", SAMPLE_CASES, ids=[c[0][-1] + ":" + c[1] for c in SAMPLE_CASES])
def test_sample_refuses(args, fragment, fake_generators, tmp_path, capsys):
    argv = [a.format(fakes=fake_generators) for a in args]
    refused(["sample", *argv, "--out", tmp_path / "s.png"], fragment, tmp_path, capsys)


def test_sample_refuses_a_bad_output(fake_generators, tmp_path, capsys):
    refused(["sample", fake_generators / "unbounded.keras", "--out", tmp_path / "s.jpg"], ".png or .npy",
            tmp_path, capsys)
    refused(["sample", fake_generators / "unbounded.keras", "--out", tmp_path / "no" / "s.png"], "not writable",
            tmp_path, capsys)


# ---------------------------------------------------------------- fid: damaged image and statistics files

def _stats(path, mu, sigma, n=100):
    np.savez(path, mu=mu, sigma=sigma, n=np.int64(n))


FID_FILES = {
    "empty.npy": (lambda p: p.write_bytes(b""), "cannot read images"),
    "strings.npy": (lambda p: np.save(p, np.array(["a", "b"])), "dtype <U1"),
    "scalar.npy": (lambda p: np.save(p, np.float32(3.0)), "shape ()"),
    "binary_uint8.npy": (lambda p: np.save(p, (np.arange(20 * 28 * 28) % 2).astype(np.uint8).reshape(20, 28, 28)),
                         "only 0 and 1"),
    "complex.npy": (lambda p: np.save(p, np.zeros((4, 28, 28), np.complex64)), "dtype complex64"),
    "negative.npz": (lambda p: _stats(p, np.zeros(3), -np.eye(3)), "negative eigenvalue"),
    "skewed.npz": (lambda p: _stats(p, np.zeros(3), np.eye(3) + np.triu(np.ones((3, 3)), 1)), "not symmetric"),
    "complex.npz": (lambda p: _stats(p, np.zeros(3, np.complex128), np.eye(3)), "real numbers"),
    "truncated.npz": (lambda p: p.write_bytes(b"PK\x03\x04garbage"), "corrupt statistics file"),
}


@pytest.mark.parametrize("name", sorted(FID_FILES))
def test_fid_refuses_a_damaged_file(name, tmp_path, capsys):
    make, fragment = FID_FILES[name]
    make(tmp_path / name)
    good = tmp_path / "good.npz"
    _stats(good, np.zeros(3), np.eye(3))
    refused(["fid", tmp_path / name, good], fragment, tmp_path, capsys)


def test_fid_finds_an_unusable_cache_folder_first(tmp_path, capsys, monkeypatch, mnist_available):
    (tmp_path / "cache").write_text("a file where the cache folder should be")
    monkeypatch.setenv("MNISTGEN_CACHE_DIR", str(tmp_path / "cache"))
    refused(["fid", "mnist:test", "mnist:train"], "cannot create folder", tmp_path, capsys)


def test_fid_names_a_damaged_cache_file(tmp_path, capsys, monkeypatch, mnist_available):
    from mnistgen_tf.metrics.features import get_extractor

    monkeypatch.setenv("MNISTGEN_CACHE_DIR", str(tmp_path))
    extractor = get_extractor("mnist")
    (tmp_path / f"mnist_test_{extractor.name}_{extractor.fingerprint}.npz").write_bytes(b"")
    refused(["fid", "mnist:test", "mnist:test"], "delete the cache file", tmp_path, capsys)


def test_fid_refuses_a_bad_seed_and_source(tmp_path, capsys):
    refused(["fid", "mnist:test", "mnist:train", "--seed", "-1"], "seed must be", tmp_path, capsys)
    refused(["fid", "nonsense", "mnist:train"], "cannot read source", tmp_path, capsys)


# ---------------------------------------------------------------- sweep and figures

EXPERIMENT = "seed002_autoencoders"


@pytest.fixture(scope="module")
def one_cell(tmp_path_factory, mnist_available):
    """The first quick cell of the seed 002 sweep, finished."""
    results = tmp_path_factory.mktemp("results")
    assert main(["sweep", EXPERIMENT, "--quick", "--shard", "0/12", "--results", str(results)]) == 0
    keras.backend.clear_session()
    cells = results / "quick" / EXPERIMENT / "cells"
    return results, cells / sorted(os.listdir(cells))[0]


def _copy_results(one_cell, tmp_path):
    results, cell = one_cell
    copy = tmp_path / "results"
    shutil.copytree(results, copy)
    return copy, copy / os.path.relpath(cell, results)


def test_sweep_refuses_bad_shards(tmp_path, capsys):
    refused(["sweep", EXPERIMENT, "--quick", "--shard", "3/2", "--results", tmp_path], "--shard", tmp_path, capsys)
    refused(["sweep", EXPERIMENT, "--quick", "--shard", "x", "--results", tmp_path], "--shard", tmp_path, capsys)
    refused(["sweep", EXPERIMENT, "--quick", "--aggregate", "--shard", "x", "--results", tmp_path], "no --shard",
            tmp_path, capsys)


def test_aggregate_and_figures_refuse_missing_results(tmp_path, capsys):
    refused(["sweep", EXPERIMENT, "--quick", "--aggregate", "--results", tmp_path / "none"], "no results",
            tmp_path, capsys)
    refused(["figures", "--quick", "--results", tmp_path / "none"], "no experiment results", tmp_path, capsys)


CELL_DAMAGE = {
    "garbage": ("{oops", "unreadable cell file"),
    "list": ("[]", "does not hold a JSON object"),
    "no-settings": ('{"metrics": {}}', "has no settings"),
}


@pytest.mark.parametrize("how", sorted(CELL_DAMAGE))
@pytest.mark.parametrize("command", ["sweep", "aggregate", "figures"])
def test_a_damaged_cell_file_is_named(how, command, one_cell, tmp_path, capsys):
    results, cell = _copy_results(one_cell, tmp_path)
    text, fragment = CELL_DAMAGE[how]
    (cell / "cell.json").write_text(text)
    argv = {"sweep": ["sweep", EXPERIMENT, "--shard", "0/12"], "aggregate": ["sweep", EXPERIMENT, "--aggregate"],
            "figures": ["figures"]}[command]
    refused([*argv, "--quick", "--results", results], fragment, tmp_path, capsys)


def test_figures_name_truncated_figure_data(one_cell, tmp_path, capsys):
    results, cell = _copy_results(one_cell, tmp_path)
    data = (cell / "figure_data.npz").read_bytes()
    (cell / "figure_data.npz").write_bytes(data[:len(data) // 2])
    refused(["figures", "--quick", "--results", results], "cannot read figure data", tmp_path, capsys)


def test_a_second_sweep_on_a_cell_is_refused(one_cell, tmp_path, capsys):
    results, cell = _copy_results(one_cell, tmp_path)
    with lock_folder(str(cell)):  # as another sweep working on this cell would hold it
        refused(["sweep", EXPERIMENT, "--quick", "--results", results], "--shard I/N", tmp_path, capsys)


# ---------------------------------------------------------------- add

ADD_CASES = [
    (["--image", "0", "--number", "-1"], "0 to 9"),
    (["--image", "0", "--number", "x"], "must be a number"),
    (["--image", "0", "--number", "3"], "is a 7: 7 + 3 is above 9"),  # test image 0 is a 7
    (["--image", "99999", "--number", "1"], "test split has 10000 images"),
    (["--image", "{tmp}/big.png", "--number", "1"], "expected a 28x28 digit"),
    (["--image", "{tmp}/missing.png", "--number", "1"], "--image must be"),
    (["--image", "{tmp}/broken.png", "--number", "1"], "cannot read"),
    (["--image", "0", "--number", "1", "--generator", "{runs}/autoencoder/generator.keras"], "not an adder"),
    (["--image", "0", "--number", "1", "--generator", "{tmp}/broken.png"], "not a .keras"),
    (["--image", "0", "--number", "1", "--out", "{tmp}/sum.jpg"], "must end in .png"),
]


@pytest.mark.parametrize("args,fragment", ADD_CASES, ids=[c[1] for c in ADD_CASES])
def test_add_refuses(args, fragment, trained_runs, tmp_path, capsys):
    from mnistgen_tf.figures import plt

    plt.imsave(tmp_path / "big.png", np.zeros((32, 32)), cmap="gray")
    (tmp_path / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\nbroken")
    argv = ["add", "--generator", trained_runs / "adder" / "generator.keras", "--out", tmp_path / "sum.png"]
    argv += [a.format(tmp=tmp_path, runs=trained_runs) for a in args]  # a later --generator/--out wins
    refused(argv, fragment, tmp_path, capsys)
