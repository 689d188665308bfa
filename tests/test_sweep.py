"""Sweeps: cells, shards, resume and tables; both thesis experiments end to end (quick profile)."""

import contextlib
import csv
import dataclasses
import functools
import io
import json
import os
import signal
import subprocess
import sys
import time

import matplotlib.image
import numpy as np
import pytest

from mnistgen_tf import cli, sweep
from mnistgen_tf.errors import MnistgenError
from mnistgen_tf.sweep import Column, Experiment, Profile
from mnistgen_tf.sweeps import EXPERIMENTS

from cli_helpers import assert_one_line_error, module_from_path

TIMESTEPS = EXPERIMENTS["thesis_timesteps"]
CONDITIONAL = EXPERIMENTS["thesis_conditional"]


def clean_env(**extra):
    """The environment without any scheduler's shard variables, plus `extra`."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("SLURM_ARRAY_") and k not in ("JOB_COMPLETION_INDEX", sweep.SHARD_COUNT_ENV)}
    return {**env, **extra}




# ---------------------------------------------------------------- cells and shards (no training)

def test_thesis_grids_are_declared_as_in_the_thesis():
    ids = [cell.id for cell in sweep.cells(TIMESTEPS)]
    assert ids == ["T1_z64_cond0_seed0", "T2_z32_cond0_seed0", "T4_z16_cond0_seed0", "T8_z8_cond0_seed0",
                   "T16_z4_cond0_seed0", "T32_z2_cond0_seed0",  # T*z = 64
                   "T16_z8_cond0_seed0", "T16_z16_cond0_seed0", "T16_z32_cond0_seed0"]  # z at T = 16
    full = sweep.cells(TIMESTEPS)
    assert full[4].grids == (0, 1)  # T=16, z=4 belongs to both grids, and runs once
    for cell in full:
        s = cell.settings
        assert (s["units"], s["loss_scaling"], s["dataset"], s["fid_samples"], s["test_images"], s["subset"]) == \
            (256, "elbo", "mnist", 10_000, None, None)
    conditional = sweep.cells(CONDITIONAL)
    assert len(conditional) == 12
    assert {c.settings["timesteps"] * c.settings["z_dim"] for c in conditional} == {64}
    assert sorted(c.settings["conditional"] for c in conditional) == [False] * 6 + [True] * 6
    # Unconditional cells are the timesteps sweep's own: same id, same settings.
    shared = {c.id: c.settings for c in full}
    for cell in conditional:
        if not cell.settings["conditional"]:
            assert shared[cell.id] == cell.settings
    # The quick profile differs only in size.
    quick = sweep.cells(TIMESTEPS, quick=True)
    assert [c.id for c in quick] == ["T1_z4_cond0_seed0", "T2_z2_cond0_seed0", "T2_z4_cond0_seed0"]
    assert quick[0].settings["epochs"] == 1 and quick[0].settings["fid_samples"] == 200


def test_shards_partition_the_cells():
    cells = sweep.cells(TIMESTEPS)
    for n in (1, 2, 3, 4, 9, 12):
        parts = [sweep.shard_cells(cells, (i, n)) for i in range(n)]
        ids = [c.id for part in parts for c in part]
        assert sorted(ids) == sorted(c.id for c in cells) and len(ids) == len(set(ids))
    assert [c.index for c in sweep.shard_cells(cells, (1, 4))] == [1, 5]


def test_shard_from_flag_and_environment():
    assert sweep.parse_shard("0/1") == (0, 1)
    assert sweep.parse_shard(" 2 / 3 ") == (2, 3)
    for bad in ("3/3", "1/0", "-1/2", "a/b", "1", "1/2/3", ""):
        with pytest.raises(MnistgenError, match="shard"):
            sweep.parse_shard(bad)
    assert sweep.resolve_shard(None, {}) is None
    slurm = {"SLURM_ARRAY_TASK_ID": "5", "SLURM_ARRAY_TASK_MIN": "4", "SLURM_ARRAY_TASK_COUNT": "3"}
    assert sweep.resolve_shard(None, slurm) == (1, 3)
    assert sweep.resolve_shard(None, {"SLURM_ARRAY_TASK_ID": "2", "SLURM_ARRAY_TASK_COUNT": "4"}) == (2, 4)
    stepped = {"SLURM_ARRAY_TASK_ID": "14", "SLURM_ARRAY_TASK_MIN": "10", "SLURM_ARRAY_TASK_STEP": "2",
               "SLURM_ARRAY_TASK_COUNT": "3"}
    assert sweep.resolve_shard(None, stepped) == (2, 3)
    assert sweep.resolve_shard(None, {"JOB_COMPLETION_INDEX": "3", "MNISTGEN_SHARD_COUNT": "4"}) == (3, 4)
    assert sweep.resolve_shard("0/2", slurm) == (0, 2)  # the flag wins
    for env, message in (({"JOB_COMPLETION_INDEX": "0"}, "MNISTGEN_SHARD_COUNT"),
                         ({"JOB_COMPLETION_INDEX": "4", "MNISTGEN_SHARD_COUNT": "4"}, "0..N-1"),
                         ({"SLURM_ARRAY_TASK_ID": "1"}, "SLURM_ARRAY_TASK_COUNT"),
                         ({"SLURM_ARRAY_TASK_ID": "x", "SLURM_ARRAY_TASK_COUNT": "2"}, "integer")):
        with pytest.raises(MnistgenError, match=message):
            sweep.resolve_shard(None, env)


# ---------------------------------------------------------------- the machinery on a toy experiment

def toy_cell(cell_dir, settings, verbose=0, fail_at=None):
    """A cell that trains nothing: its metric is a function of its settings."""
    if settings["a"] == fail_at:
        raise KeyboardInterrupt  # as if the machine went away in the middle of this cell
    os.makedirs(os.path.join(cell_dir, "run"), exist_ok=True)
    for name in ("last-1.keras", "best.keras", "state.json", "history.csv"):
        with open(os.path.join(cell_dir, "run", name), "w") as f:
            f.write("x")
    value = settings["a"] * 10 + settings["b"] + settings["seed"] / 10
    return {"metrics": {"value": value}, "timing": {"train_seconds": 0.1}}, {"samples": np.zeros((2, 3), "uint8")}


def toy(fail_at=None, scale=1):
    profile = Profile(settings={"scale": scale},
                      grids=({"a": (1, 2, 3), "b": (0, 1), "seed": (0,)}, {"a": (1,), "b": (0, 5), "seed": (0, 1)}))
    return Experiment(name="toy", title="Toy", profiles={"full": profile, "quick": profile},
                      run_cell=functools.partial(toy_cell, fail_at=fail_at),
                      columns=(Column("a", "settings.a"), Column("b", "settings.b"),
                               Column("value", "metrics.value", ".2f"), Column("missing", "metrics.nothing")),
                      id_labels=(("a", "a"), ("b", "b"), ("seed", "seed")))


def quiet(line):
    pass


def test_a_setting_added_later_keeps_the_earlier_cells(tmp_path):
    sweep.run(toy(), tmp_path, log=quiet)
    before = sorted(p.parent.name for p in (tmp_path / "toy" / "cells").glob("*/cell.json"))
    base = toy()
    profile = Profile(settings={**base.profiles["full"].settings, "c": 0},
                      grids=base.profiles["full"].grids + ({"a": (1,), "b": (0,), "seed": (0,), "c": (1,)},))
    later = dataclasses.replace(base, profiles={"full": profile, "quick": profile},
                                id_labels=base.id_labels + (("c", "c"),), settings_added={"c": 0})
    assert [c.id for c in sweep.cells(later)] == [c.id for c in sweep.cells(toy())] + ["a1_b0_seed0_c1"]
    summary = sweep.run(later, tmp_path, log=quiet)
    assert summary["skipped"] == len(before) and summary["ran"] == 1
    results = sweep.Results(later, str(tmp_path))
    assert [r["settings"]["c"] for r in results.records] == [0] * len(before) + [1]


def test_toy_sweep_resumes_skips_and_merges_shards(tmp_path):
    ids = [c.id for c in sweep.cells(toy())]
    assert ids == ["a1_b0_seed0", "a1_b1_seed0", "a2_b0_seed0", "a2_b1_seed0", "a3_b0_seed0", "a3_b1_seed0",
                   "a1_b0_seed1", "a1_b5_seed0", "a1_b5_seed1"]

    # Killed in the middle of the third cell: the first two stay finished.
    with pytest.raises(KeyboardInterrupt):
        sweep.run(toy(fail_at=2), tmp_path / "killed", log=quiet)
    cells_dir = tmp_path / "killed" / "toy" / "cells"
    assert sorted(p.parent.name for p in cells_dir.glob("*/cell.json")) == ["a1_b0_seed0", "a1_b1_seed0"]
    # Other settings must not pass for the finished cells ...
    with pytest.raises(MnistgenError, match=r"other settings \(scale: 1 -> 2\)"):
        sweep.run(toy(scale=2), tmp_path / "killed", log=quiet)
    # ... and the same settings skip them.
    first = cells_dir / "a1_b0_seed0" / "cell.json"
    stamp = first.stat().st_mtime_ns
    lines = []
    summary = sweep.run(toy(), tmp_path / "killed", log=lines.append)
    assert summary["skipped"] == 2 and summary["ran"] == 7
    assert first.stat().st_mtime_ns == stamp
    assert any("a1_b0_seed0: finished before, skipped" in line for line in lines)
    # Finished cells keep no checkpoints and no temporary files.
    killed = tmp_path / "killed"
    assert not list(killed.rglob("*.keras")) and not list(killed.rglob("*tmp*"))
    assert not list(killed.rglob("state.json")) and len(list(killed.rglob("history.csv"))) == 9

    # Two shards into one folder give the same tables as one unsharded run.
    for i in (1, 0):
        sweep.run(toy(), tmp_path / "sharded", shard=(i, 2), log=quiet)
    for name in ("table.csv", "table.md"):
        assert (tmp_path / "sharded" / "toy" / name).read_text() == (killed / "toy" / name).read_text()
    with open(tmp_path / "sharded" / "toy" / "table.csv", newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["cell", "a", "b", "value", "missing"]
    assert [r[0] for r in rows[1:]] == ids
    assert rows[1][3:] == ["10.00", ""]
    timing = (tmp_path / "sharded" / "toy" / "timing.csv").read_text()
    assert ",1/2," in timing and ",0/2," in timing


def test_aggregate_lists_missing_cells_and_refuses_corrupt_ones(tmp_path):
    experiment = toy()
    sweep.run(experiment, tmp_path, shard=(0, 3), log=quiet)
    md = (tmp_path / "toy" / "table.md").read_text()
    assert "3 of 9 cells finished; missing: a1_b1_seed0, a2_b0_seed0" in md
    (tmp_path / "toy" / "cells" / "a1_b0_seed0" / "cell.json").write_text('{"cell": "a1_b0_s')  # damaged by hand
    with pytest.raises(MnistgenError, match="unreadable cell file .*delete it"):
        sweep.aggregate(experiment, tmp_path)


# ---------------------------------------------------------------- the thesis experiments, quick, end to end

SCRIPTS = os.path.join(os.path.dirname(__file__), "..", "experiments")


def script(name):
    """An experiments/ script as a module (its main(argv) is `mnistgen sweep NAME ...`)."""
    return module_from_path(os.path.join(SCRIPTS, f"{name}.py"), name)


def captured(function, *args, **kwargs):
    """(result, stdout, stderr) of a call that prints."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        result = function(*args, **kwargs)
    return result, out.getvalue(), err.getvalue()


def wait_for(path, process, log, timeout=300):
    deadline = time.monotonic() + timeout
    while not path.exists():
        if process.poll() is not None:
            pytest.fail(f"the sweep ended before {path} appeared:\n{log.read_text()[-2000:]}")
        if time.monotonic() > deadline:
            process.kill()
            pytest.fail(f"{path} did not appear within {timeout} s")
        time.sleep(0.02)


@pytest.fixture(scope="module")
def quick_results(tmp_path_factory, mnist_available):
    """thesis_timesteps --quick in a subprocess, killed in its second cell just after that cell's
    checkpoint, then rerun to the end; then thesis_conditional --quick into the same folder."""
    root = tmp_path_factory.mktemp("results")
    cells_dir = root / "quick" / "thesis_timesteps" / "cells"
    command = [sys.executable, os.path.join(SCRIPTS, "thesis_timesteps.py"), "--quick", "--results", str(root)]
    with open(root / "killed.log", "w") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=clean_env())
        wait_for(cells_dir / "T2_z2_cond0_seed0" / "run" / "state.json", process, root / "killed.log")
        process.send_signal(signal.SIGKILL)  # no clean-up of any kind
        process.wait()
    first = cells_dir / "T1_z4_cond0_seed0" / "cell.json"
    assert first.exists() and not (cells_dir / "T2_z2_cond0_seed0" / "cell.json").exists()
    stamp = first.stat().st_mtime_ns

    # The reruns run in this process (cheaper than starting TensorFlow again).
    code, rerun, err = captured(script("thesis_timesteps").main, ["--quick", "--results", str(root)])
    assert code == 0, err[-3000:]
    code, conditional, err = captured(script("thesis_conditional").main, ["--quick", "--results", str(root)])
    assert code == 0, err[-3000:]
    return {"root": root, "stamp": stamp, "rerun": rerun, "conditional": conditional}


def read_table(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_killed_sweep_resumes_and_finishes(quick_results):
    root = quick_results["root"] / "quick" / "thesis_timesteps"
    assert "T1_z4_cond0_seed0: finished before, skipped" in quick_results["rerun"]
    assert (root / "cells" / "T1_z4_cond0_seed0" / "cell.json").stat().st_mtime_ns == quick_results["stamp"]
    resumed = json.loads((root / "cells" / "T2_z2_cond0_seed0" / "cell.json").read_text())
    assert resumed["timing"]["resumed_from_epoch"] == 1  # evaluated from its checkpoint, not retrained
    assert resumed["timing"]["epochs_this_session"] == 0
    rows = read_table(root / "table.csv")
    assert [r["cell"] for r in rows] == [c.id for c in sweep.cells(TIMESTEPS, quick=True)]
    assert "3 of 3 cells finished." in (root / "table.md").read_text()
    # Nothing half-written, no checkpoints left behind.
    assert not list(quick_results["root"].rglob("*tmp*"))
    assert not list(quick_results["root"].rglob("last*.keras")) and not list(quick_results["root"].rglob("best.keras"))


def test_cell_files_hold_what_the_tables_need(quick_results):
    root = quick_results["root"] / "quick" / "thesis_timesteps"
    record = json.loads((root / "cells" / "T2_z4_cond0_seed0" / "cell.json").read_text())
    assert record["settings"]["timesteps"] == 2 and record["settings"]["z_dim"] == 4
    assert record["settings"]["loss_scaling"] == "elbo"
    metrics = record["metrics"]
    assert 0 < metrics["bce_per_pixel"] < 1 and metrics["fid"] > 0 and metrics["kl_nats"] >= 0
    assert metrics["neg_elbo_nats"] == pytest.approx(metrics["reconstruction_nats"] + metrics["kl_nats"])
    assert metrics["reconstruction_nats"] == pytest.approx(784 * metrics["bce_per_pixel"])
    assert 0 <= metrics["inactive_count"] <= 8 and metrics["inactive_fraction"] == metrics["inactive_count"] / 8
    assert len(record["latent"]["variance_law"]) == 2 and len(record["latent"]["kl_per_step_nats"]) == 2
    assert record["samples"]["fid_samples"] == 200 and record["samples"]["fid_reference_images"] == 10_000
    assert record["samples"]["test_images"] == 300 and record["extractor"] == "mnist-cnn"
    assert record["epochs"] == 1 and record["train_images"] == 270 and record["parameters"] > 0
    assert record["timing"]["train_seconds"] > 0 and record["wall_seconds"] > 0
    for key in ("git_commit", "date", "machine"):
        assert record["provenance"][key]
    arrays = np.load(root / "cells" / "T2_z4_cond0_seed0" / "figure_data.npz")
    assert arrays["test_images"].shape == (8, 28, 28, 1) and arrays["test_images"].dtype == np.uint8
    assert arrays["reconstruction_steps"].shape == (8, 2, 28, 28, 1)
    assert arrays["samples"].shape == (64, 28, 28, 1) and int(arrays["samples_digit"]) == -1


def test_conditional_sweep_reuses_unconditional_cells(quick_results):
    root = quick_results["root"] / "quick" / "thesis_conditional"
    assert quick_results["conditional"].count("copied from an identical finished cell") == 2
    rows = read_table(root / "table.csv")
    assert [r["cell"] for r in rows] == [c.id for c in sweep.cells(CONDITIONAL, quick=True)]
    for row in rows:
        accuracy = row["label accuracy"]
        assert (accuracy == "") == (row["conditional"] == "0")
        if accuracy:
            assert 0 <= float(accuracy) <= 1
    timesteps = {r["cell"]: r for r in read_table(quick_results["root"] / "quick" / "thesis_timesteps" / "table.csv")}
    fid = "FID[mnist-cnn], 200 samples"
    assert [row[fid] == timesteps[row["cell"]][fid] for row in rows if row["cell"] in timesteps] == [True, True]
    record = json.loads((root / "cells" / "T2_z2_cond1_seed0" / "cell.json").read_text())
    assert len(record["label_accuracy_per_digit"]) == 10
    assert int(np.load(root / "cells" / "T2_z2_cond1_seed0" / "figure_data.npz")["samples_digit"]) == 9


def test_two_shards_merge_into_the_unsharded_table(quick_results, tmp_path):
    # Shard 0 as from a flag, shard 1 as from a Kubernetes indexed Job, one after the other.
    shards = [sweep.resolve_shard("0/2", {}),
              sweep.resolve_shard(None, {"JOB_COMPLETION_INDEX": "1", sweep.SHARD_COUNT_ENV: "2"})]
    outputs = []
    for shard in shards:
        summary, out, _ = captured(sweep.run, TIMESTEPS, tmp_path, quick=True, shard=shard)
        assert summary["ran"] == len(sweep.shard_cells(sweep.cells(TIMESTEPS, quick=True), shard))
        outputs.append(out)
    assert "2 of 3 cells in shard 0/2" in outputs[0] and "1 of 3 cells in shard 1/2" in outputs[1]
    captured(sweep.aggregate, TIMESTEPS, tmp_path, quick=True)
    # The reference run was killed and resumed: its table must not show it.
    reference = quick_results["root"] / "quick" / "thesis_timesteps"
    for name in ("table.csv", "table.md"):
        assert (tmp_path / "quick" / "thesis_timesteps" / name).read_text() == (reference / name).read_text()


def test_figures_come_from_saved_results(quick_results):
    code, out, err = captured(cli.main, ["figures", "--quick", "--results", str(quick_results["root"])])
    assert code == 0, err[-3000:]
    figures = quick_results["root"] / "quick" / "figures"
    names = ["thesis_fig3_1_iterative_reconstruction.png", "thesis_fig3_3_timesteps.png",
             "thesis_fig3_5_reconstructions.png", "thesis_fig4_1_conditional.png", "thesis_fig4_2_digit9.png"]
    assert sorted(p.name for p in figures.iterdir()) == sorted(names)
    assert "wrote 5 figures" in out
    for name in names:
        assert (figures / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", name
    # Figure 3.1 of the quick profile (T=2): 8 rows of 1 + 2 images of 28 pixels with 2-pixel gaps;
    # Figure 3.5: 2 rows of 8; Figure 4.2: 8 x 8 samples.
    for name, rows, cols in (("thesis_fig3_1_iterative_reconstruction.png", 8, 3),
                             ("thesis_fig3_5_reconstructions.png", 2, 8), ("thesis_fig4_2_digit9.png", 8, 8)):
        assert matplotlib.image.imread(figures / name).shape[:2] == (rows * 30 + 2, cols * 30 + 2), name


@pytest.mark.slow  # about a minute: three tiny DRAWs trained to their stop
def test_converged_variant_stops_each_cell_and_draws_one_line_per_loss(tmp_path, mnist_available):
    import matplotlib.pyplot as plt

    experiment = EXPERIMENTS["thesis_timesteps_converged"]
    all_cells = sweep.cells(experiment, quick=True)
    assert [c.id for c in all_cells] == [  # each grid under each loss
        "thesis_kl_mean_T1_z4_cond0_seed0", "thesis_kl_mean_T2_z2_cond0_seed0", "elbo_T1_z4_cond0_seed0",
        "elbo_T2_z2_cond0_seed0", "thesis_kl_mean_T2_z4_cond0_seed0", "elbo_T2_z4_cond0_seed0"]
    assert all_cells[0].settings["loss_scaling"] == "thesis_kl_mean" and all_cells[2].settings["loss_scaling"] == "elbo"
    shard = (0, 2)  # T1_z4 under each loss, and one cell of the second grid
    captured(sweep.run, experiment, tmp_path, quick=True, shard=shard)
    root = tmp_path / "quick" / experiment.name
    for cell in sweep.shard_cells(all_cells, shard):
        record = json.loads((root / "cells" / cell.id / "cell.json").read_text())
        assert record["settings"]["epochs"] == 4 and record["epochs"] == 3 and record["converged"]
    rows = read_table(root / "table.csv")
    assert [(r["loss"], r["epochs"]) for r in rows] == [("thesis_kl_mean", "3"), ("elbo", "3"), ("thesis_kl_mean", "3")]
    assert "until the validation -ELBO moved by less than" in (root / "table.md").read_text()
    path = tmp_path / "fig.png"
    lines = []
    original = plt.Axes.plot
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(plt.Axes, "plot", lambda ax, *a, **k: lines.append(k.get("label")) or original(ax, *a, **k))
        assert dict(experiment.figures)["thesis_fig3_3_timesteps_converged.png"](
            sweep.Results(experiment, tmp_path, quick=True), path)
    assert lines == ["thesis_kl_mean", "elbo"] * 3  # three panels, a line per loss


def test_figures_skip_what_is_missing(tmp_path):
    (tmp_path / "thesis_timesteps" / "cells").mkdir(parents=True)  # an experiment started, no cell finished
    code, out, _ = captured(cli.main, ["figures", "--results", str(tmp_path)])
    assert code == 0 and "wrote 0 figures" in out and "no results" in out and "skipped" in out
    assert not (tmp_path / "figures").exists()


def test_bad_shard_and_experiment_are_one_line_errors(tmp_path, monkeypatch):
    for var in [k for k in os.environ if k.startswith("SLURM_ARRAY_") or k == "JOB_COMPLETION_INDEX"]:
        monkeypatch.delenv(var)
    code, _, err = captured(cli.main, ["sweep", "thesis_timesteps", "--quick", "--shard", "2/2",
                                       "--results", str(tmp_path)])
    assert code == 2 and err.count("\n") == 1 and "--shard" in err and "2/2" in err
    monkeypatch.setenv("JOB_COMPLETION_INDEX", "0")
    monkeypatch.delenv(sweep.SHARD_COUNT_ENV, raising=False)
    code, _, err = captured(cli.main, ["sweep", "thesis_timesteps", "--quick", "--results", str(tmp_path)])
    assert code == 2 and err.count("\n") == 1 and "MNISTGEN_SHARD_COUNT" in err
    code, _, err = captured(cli.main, ["sweep", "thesis_timesteps", "--aggregate", "--results", str(tmp_path)])
    assert code == 2 and err.count("\n") == 1 and "no results of thesis_timesteps" in err
    assert not list(tmp_path.iterdir())  # nothing written
    # argparse's own errors are one line too (and exit 2).
    result = subprocess.run([sys.executable, "-m", "mnistgen_tf.cli", "sweep", "no_such_experiment"],
                            capture_output=True, text=True)
    assert_one_line_error(result, "invalid choice")


def test_a_finished_cells_clean_up_drops_its_sampling_parts_and_keeps_its_record(tmp_path):
    from mnistgen_tf.sweep import CELL_FILE, SAMPLE_PARTS, _clean_cell

    (tmp_path / SAMPLE_PARTS).mkdir()
    (tmp_path / SAMPLE_PARTS / "part0.npz").write_bytes(b"x")
    (tmp_path / CELL_FILE).write_text("{}")
    _clean_cell(str(tmp_path))
    assert not (tmp_path / SAMPLE_PARTS).exists() and (tmp_path / CELL_FILE).exists()
    _clean_cell(str(tmp_path))  # nothing left to drop: no error
