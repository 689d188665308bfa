"""The trainer: exact resume, atomic epoch records, one writer per run, true provenance."""

import json
import subprocess

import pytest

from mnistgen_tf import files, provenance
from mnistgen_tf.errors import MnistgenError
from mnistgen_tf.train import EpochRecord, converged, fresh_state, read_state, train

TINY = dict(conditional=True, timesteps=2, z_dim=2, units=8, subset=300, batch_size=50, xla=False)


@pytest.fixture(scope="module")
def straight_and_resumed(tmp_path_factory, mnist_available):
    root = tmp_path_factory.mktemp("resume")
    train("draw", str(root / "straight"), epochs=3, verbose=0, **TINY)
    train("draw", str(root / "resumed"), epochs=1, verbose=0, **TINY)
    train("draw", str(root / "resumed"), epochs=3, resume=True, verbose=0, **TINY)
    return root / "straight", root / "resumed"


def test_resume_gives_the_uninterrupted_history_byte_for_byte(straight_and_resumed):
    straight, resumed = straight_and_resumed
    assert (straight / "history.csv").read_bytes() == (resumed / "history.csv").read_bytes()
    assert len((straight / "history.csv").read_text().splitlines()) == 4


def test_resume_gives_the_uninterrupted_weights(straight_and_resumed):
    import keras
    import numpy as np

    a, b = (keras.models.load_model(run / "generator.keras") for run in straight_and_resumed)
    for x, y in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_array_equal(x, y)


def test_one_checkpoint_named_by_the_state(straight_and_resumed):
    _, resumed = straight_and_resumed
    state = read_state(str(resumed))
    assert state["epochs_done"] == 3 and state["checkpoint"] == "last-3.keras"
    assert sorted(p.name for p in resumed.glob("last*.keras")) == ["last-3.keras"]
    assert [row["epoch"] for row in state["history"]] == [0, 1, 2]
    assert not [p for p in resumed.iterdir() if files.is_tmp_name(p.name)]


def test_resume_of_a_finished_run_changes_nothing(straight_and_resumed):
    straight, _ = straight_and_resumed
    before = {p.name: p.read_bytes() for p in straight.iterdir() if p.is_file()}
    train("draw", str(straight), epochs=3, resume=True, verbose=0, **TINY)
    assert {p.name: p.read_bytes() for p in straight.iterdir() if p.is_file()} == before


def test_resume_reads_an_option_added_since_the_run_as_its_default(straight_and_resumed, tmp_path):
    import shutil

    run = tmp_path / "run"
    shutil.copytree(straight_and_resumed[0], run)
    config = json.loads((run / "config.json").read_text())
    for added, refused in (("learning_rate", False), ("units", True)):  # at its default; not
        saved = {k: v for k, v in config.items() if k != added}
        (run / "config.json").write_text(json.dumps(saved))
        if refused:
            with pytest.raises(MnistgenError, match="differ from the run .*: units"):
                train("draw", str(run), epochs=3, resume=True, verbose=0, **TINY)
        else:
            train("draw", str(run), epochs=3, resume=True, verbose=0, **TINY)


def test_resume_finishes_an_epoch_record_cut_short(straight_and_resumed, tmp_path):
    import shutil

    straight, _ = straight_and_resumed
    run = tmp_path / "run"
    shutil.copytree(straight, run)
    # Killed in the last epoch just after state.json: history.csv lags, an older checkpoint lingers.
    lines = (run / "history.csv").read_text().splitlines(keepends=True)
    (run / "history.csv").write_text("".join(lines[:-1]))
    shutil.copy(run / "last-3.keras", run / "last-2.keras")
    (run / "run.json").unlink()
    train("draw", str(run), epochs=3, resume=True, verbose=0, **TINY)
    assert (run / "history.csv").read_bytes() == (straight / "history.csv").read_bytes()
    assert sorted(p.name for p in run.glob("last*.keras")) == ["last-3.keras"]


def test_resume_with_fewer_epochs_than_done_is_refused(straight_and_resumed):
    straight, _ = straight_and_resumed
    config = (straight / "config.json").read_bytes()
    with pytest.raises(MnistgenError, match="already trained 3 epochs"):
        train("draw", str(straight), epochs=2, resume=True, verbose=0, **TINY)
    assert (straight / "config.json").read_bytes() == config


def test_converged_reads_the_spread_over_the_last_two_epochs():
    history = [{"v": 100.0}, {"v": 99.0}, {"v": 98.8}, {"v": 98.7}]
    assert not converged(history[:2], "v", 5)  # too few epochs to tell
    assert not converged(history[:3], "v", 1.2)  # 100 -> 98.8 moved 1.2
    assert converged(history[:3], "v", 1.3)
    assert converged(history, "v", 0.5)  # 99 -> 98.7
    assert not converged(history, "v", 0)  # 0: off
    assert not converged([{"v": 1.0}, {"v": 5.0}, {"v": 1.2}], "v", 0.5)  # a spike between: not settled


def test_a_non_finite_validation_loss_stops_the_run_and_is_not_recorded(tmp_path):
    import keras

    model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
    record = EpochRecord(str(tmp_path), "val_loss", fresh_state())
    record.set_model(model)
    record.on_epoch_begin(0)
    record.on_epoch_end(0, {"loss": 1.0, "val_loss": float("nan")})  # TerminateOnNaN sees only the loss
    assert model.stop_training  # no later epoch may be recorded after the gap
    assert record.state == fresh_state() and not any(tmp_path.iterdir())


def test_a_converging_run_stops_early_and_resumes_to_the_same_stop(straight_and_resumed, tmp_path):
    straight, _ = straight_and_resumed
    neg_elbo = [row["val_neg_elbo"] for row in read_state(str(straight))["history"]]
    delta = max(neg_elbo) - min(neg_elbo) + 1e-3  # epoch 3 of the straight run converges under it
    options = dict(TINY, epochs=20, convergence_delta=delta)
    train("draw", str(tmp_path / "a"), verbose=0, **options)
    train("draw", str(tmp_path / "b"), verbose=0, **{**options, "epochs": 1})
    with pytest.raises(MnistgenError, match="convergence_delta"):  # the stop rule is part of the run
        train("draw", str(tmp_path / "b"), resume=True, verbose=0, **{**options, "convergence_delta": 9.0})
    train("draw", str(tmp_path / "b"), resume=True, verbose=0, **options)
    for run in (tmp_path / "a", tmp_path / "b"):
        assert (run / "history.csv").read_bytes() == (straight / "history.csv").read_bytes()
        info = json.loads((run / "run.json").read_text())
        assert info["epochs_trained"] == 3 and info["converged"]
    # Finished by convergence: a rerun changes nothing.
    before = {p.name: p.read_bytes() for p in (tmp_path / "a").iterdir() if p.is_file()}
    train("draw", str(tmp_path / "a"), resume=True, verbose=0, **options)
    assert {p.name: p.read_bytes() for p in (tmp_path / "a").iterdir() if p.is_file()} == before


def test_test_every_epoch_logs_the_test_split_neg_elbo_and_trains_as_without(tmp_path):
    for name, flag in (("run", True), ("plain", False)):
        train("draw", str(tmp_path / name), epochs=2, test_every_epoch=flag, dynamic_binarization=True, verbose=0,
              **TINY)
    rows = read_state(str(tmp_path / "run"))["history"]
    plain = read_state(str(tmp_path / "plain"))["history"]
    assert [{k: v for k, v in row.items() if k != "test_neg_elbo"} for row in rows] == plain
    assert [row["epoch"] for row in rows] == [0, 1]
    for row in rows:  # the held-out and the test images are alike: their -ELBOs are close
        assert row["test_neg_elbo"] == pytest.approx(row["val_neg_elbo"], rel=0.1)
    assert rows[1]["test_neg_elbo"] < rows[0]["test_neg_elbo"]
    assert "test_neg_elbo" in (tmp_path / "run" / "history.csv").read_text().splitlines()[0]


def test_resume_of_a_run_from_before_a_logged_column_was_added(straight_and_resumed, tmp_path):
    import shutil

    run = tmp_path / "run"
    shutil.copytree(straight_and_resumed[0], run)
    # As if the run's 3 epochs came from a kit that did not log DRAW's neg_elbo yet.
    state = json.loads((run / "state.json").read_text())
    state["history"] = [{k: v for k, v in row.items() if "neg_elbo" not in k} for row in state["history"]]
    (run / "state.json").write_text(json.dumps(state))
    (run / "run.json").unlink()
    train("draw", str(run), epochs=4, resume=True, verbose=0, **TINY)
    lines = (run / "history.csv").read_text().splitlines()
    header = lines[0].split(",")
    column = header.index("val_neg_elbo")
    values = [line.split(",")[column] for line in lines[1:]]
    assert values[:3] == ["", "", ""] and float(values[3]) > 0


def test_convergence_needs_a_validation_loss(tmp_path):
    with pytest.raises(MnistgenError, match="gan logs no validation loss"):
        train("gan", str(tmp_path / "g"), convergence_delta=0.5, verbose=0)
    assert not (tmp_path / "g").exists()


def test_atomic_writes_keep_the_suffix_and_leave_nothing_on_failure(tmp_path):
    name = files.tmp_name(str(tmp_path / "gen.keras"))
    assert name.endswith(".keras") and files.is_tmp_name(name.rsplit("/", 1)[1])
    (tmp_path / "x.keras").write_text("old")
    with pytest.raises(MnistgenError, match="cannot write"):
        with files.atomic_path(str(tmp_path / "x.keras")) as tmp:
            with open(tmp, "w") as f:
                f.write("half")
            raise OSError(28, "No space left on device")
    assert (tmp_path / "x.keras").read_text() == "old" and len(list(tmp_path.iterdir())) == 1


def test_json_refuses_nan(tmp_path):
    with pytest.raises(MnistgenError, match="NaN or infinity"):
        files.write_json(str(tmp_path / "s.json"), {"best": float("inf")})
    assert not list(tmp_path.iterdir())


# ---------------------------------------------------------------- provenance

def _git(folder, *args):
    subprocess.run(["git", "-C", str(folder), *args], check=True, capture_output=True)


def test_untracked_files_make_the_checkout_dirty(tmp_path, monkeypatch):
    _git(tmp_path, "init", "-q")
    (tmp_path / "a.py").write_text("x = 1\n")
    _git(tmp_path, "add", "a.py")
    _git(tmp_path, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "a")
    monkeypatch.setattr(provenance, "PACKAGE_DIR", str(tmp_path))
    commit, dirty = provenance.git_state()
    assert len(commit) == 40 and dirty is False
    (tmp_path / "new_module.py").write_text("y = 2\n")  # never committed
    assert provenance.git_state() == (commit, True)


def test_results_being_written_leave_the_code_clean(tmp_path, monkeypatch):
    _git(tmp_path, "init", "-q")
    (tmp_path / "a.py").write_text("x = 1\n")
    _git(tmp_path, "add", "a.py")
    _git(tmp_path, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "a")
    (tmp_path / "pkg").mkdir()
    monkeypatch.setattr(provenance, "PACKAGE_DIR", str(tmp_path / "pkg"))  # git runs from inside the package
    (tmp_path / "results" / "sweep" / "cell").mkdir(parents=True)
    (tmp_path / "results" / "sweep" / "cell" / "history.csv").write_text("epoch\n0\n")
    assert provenance.git_state()[1] is False
    (tmp_path / "pkg" / "new_module.py").write_text("y = 2\n")
    assert provenance.git_state()[1] is True


def test_source_hash_follows_the_code(tmp_path, monkeypatch):
    monkeypatch.setattr(provenance, "PACKAGE_DIR", str(tmp_path))
    (tmp_path / "a.py").write_text("x = 1\n")
    first = provenance.source_hash()
    (tmp_path / "a.py").write_text("x = 2\n")
    assert provenance.source_hash() != first


def test_provenance_is_captured_once():
    first = provenance.capture()
    assert provenance.capture() is first
    record = provenance.record()
    assert record["started"] == first["started"] and "date" in record
    json.dumps(record)


def test_a_swallowed_ctrl_c_still_stops_training():
    import signal

    import keras
    import numpy as np

    from mnistgen_tf.train import Interrupted, catch_ctrl_c

    class SwallowedPress(keras.callbacks.Callback):  # as when the KeyboardInterrupt hit a __del__
        def __init__(self, pressed):
            super().__init__()
            self.pressed, self.batches = pressed, 0

        def on_train_batch_end(self, batch, logs=None):
            self.batches += 1
            if self.batches == 2:
                self.pressed.set()

    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    model.compile("sgd", "mse")
    before = signal.getsignal(signal.SIGINT)
    with catch_ctrl_c() as pressed:
        swallowed = SwallowedPress(pressed)
        with pytest.raises(KeyboardInterrupt):
            model.fit(np.zeros((40, 3)), np.zeros((40, 1)), batch_size=4, epochs=1, verbose=0,
                      callbacks=[swallowed, Interrupted(pressed)])
    assert swallowed.batches == 2  # stopped at the batch where the press was noted
    assert signal.getsignal(signal.SIGINT) is before
