"""Sweeps: grids of settings declared as data, one result file per cell.

An `Experiment` has two profiles, ``full`` (the paper's settings) and
``quick`` (tiny data and models, for tests and CI).  A `Profile` holds the
settings shared by every cell and a list of grids, each a dict from an axis
(a setting) to its values; the cells are the product of each grid's axes,
grid after grid, with repeated cells dropped.  A cell's id names its axis
values, e.g. ``T16_z4_cond0_seed0``, and the seed is an axis like any other.

Files, under the results folder (``RESULTS/quick/`` for the quick profile,
so tiny runs never mix with real ones)::

    <experiment>/cells/<cell id>/run/               the training run folder (see train.py)
    <experiment>/cells/<cell id>/figure_data.npz    the small arrays its figures need
    <experiment>/cells/<cell id>/cell.json          settings, metrics, sample counts, timing, provenance
    <experiment>/table.csv, table.md                metrics of the finished cells, in cell order
    <experiment>/timing.csv                         wall times, dates, machines, commits, shards
    <experiment>/baseline.json                      FID of as many real training images as samples (FID's bias)
    figures/*.png                                   drawn by `make_figures` from those files

``cell.json`` is written last, atomically: a cell is finished exactly when
it exists, and a rerun skips it.  A run killed at any moment loses at most
the cell in progress, and that cell's training resumes from its last
epoch checkpoint.  Tables hold settings and metrics only, so they come out
the same whichever shards or machines made the cells; what differs from run
to run (times, dates, machines) goes to ``timing.csv``.

Shards: ``shard=(i, n)`` runs cells i, i+n, i+2n, ... of the cell list, so
n machines sharing one results folder split a sweep without talking to each
other (one process per shard).  `resolve_shard` also reads a SLURM job
array (``SLURM_ARRAY_TASK_ID``/``_MIN``/``_STEP``/``_COUNT``) or a
Kubernetes indexed Job (``JOB_COMPLETION_INDEX`` with the number of shards
in ``MNISTGEN_SHARD_COUNT``).  Each shard rebuilds the tables from whatever
cells exist when it ends; `aggregate` does it on demand.
"""

import csv
import io
import itertools
import json
import os
import re
import shutil
import time
import zipfile
from dataclasses import dataclass, field
from typing import Callable, Optional

import numpy as np

from mnistgen_tf.errors import MnistgenError
from mnistgen_tf.files import (ensure_dir, is_tmp_name, lock_folder, read_json, tmp_name, write_arrays, write_json,
                               write_text)

SHARD_COUNT_ENV = "MNISTGEN_SHARD_COUNT"
CELL_FILE = "cell.json"
FIGURE_DATA = "figure_data.npz"
RUN_DIR = "run"
SAMPLE_PARTS = "sample_parts"  # a cell's saved parts of a long sampling, until the cell is finished
KEEP_GENERATOR_BYTES = 5 * 2**20  # keep a finished cell's generator.keras when smaller than this


@dataclass(frozen=True)
class Profile:
    """Settings shared by every cell, the grids of axes, and the cells figures show.

    A grid maps an axis to its values; an axis may be a tuple of settings
    taking tuples of values together, e.g. ``{("timesteps", "z_dim"):
    ((1, 64), (2, 32)), "seed": (0,)}``.

    ``featured`` maps a figure's role (e.g. "reconstruction") to the settings
    that pick the one cell it draws, e.g. ``{"timesteps": 16, "z_dim": 16}``.
    """

    settings: dict
    grids: tuple
    featured: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Column:
    """One table column: a header (formatted with the profile's settings) and a value.

    ``key`` is a dotted path into a cell record ("settings.timesteps",
    "metrics.fid") or a function of the record; ``fmt`` a format spec.
    """

    header: str
    key: object
    fmt: str = ""

    def value(self, record):
        if callable(self.key):
            return self.key(record)
        value = record
        for part in self.key.split("."):
            if not isinstance(value, dict) or part not in value:
                return None
            value = value[part]
        return value

    def text(self, record):
        value = self.value(record)
        if value is None:
            return ""
        if isinstance(value, bool):
            return str(int(value))
        return format(value, self.fmt)


@dataclass(frozen=True)
class Experiment:
    """A sweep: its profiles, how to run one cell, its table and its figures.

    ``run_cell(cell_dir, settings, verbose)`` trains and evaluates one cell
    and returns ``(record, arrays)``: a JSON-ready dict (metrics, sample
    counts, extractor, epochs, timing...) and a dict of small NumPy arrays
    for the figures.  ``figures`` are ``(file name, draw)`` pairs, where
    ``draw(results, path)`` writes a PNG from a `Results` and returns False
    when the cells it needs are missing.  Finished cells with the same id
    and settings in the experiments named in ``shares_cells_with`` are
    copied instead of retrained.  An experiment that reads other
    experiments' finished cells (e.g. trained generators) names them with
    ``uses(settings) -> {key: (experiment name, cell id)}`` (or a folder
    under the results, such as a committed training run); its ``run_cell``
    then takes a fourth argument, ``{key: that folder}``.  ``summary(results)
    -> (headers, rows)`` adds a table over the cells (e.g. means over seeds),
    written as summary.csv and summary.md.  A finished cell drops its
    checkpoints and a generator.keras over KEEP_GENERATOR_BYTES, unless
    ``keeps_models``: then it keeps the selected trainer (run/best.keras) and
    the generator, for runs too long to train again.
    """

    name: str
    title: str
    profiles: dict
    run_cell: object
    columns: tuple
    id_labels: tuple  # (label, setting) pairs, e.g. (("T", "timesteps"), ("z", "z_dim"))
    figures: tuple = ()
    shares_cells_with: tuple = ()
    notes: tuple = ()  # lines under the Markdown table, formatted with the profile's settings
    # Settings added after cells were made, with the value those cells ran with: a saved
    # record without one reads as that value, and the id leaves it out while it has it,
    # so the earlier cells keep their folders.
    settings_added: dict = field(default_factory=dict)
    # Reference numbers the cells are read against, computed when the table is written:
    # ``baseline(settings) -> (record for baseline.json, a note under the table)``.
    baseline: Optional[Callable] = None
    uses: Optional[Callable] = None
    summary: Optional[Callable] = None
    keeps_models: bool = False

    def profile(self, quick=False):
        return self.profiles["quick" if quick else "full"]

    def cell_id(self, settings):
        return "_".join(f"{label}{_id_value(settings[key])}" for label, key in self.id_labels
                        if key not in self.settings_added or settings[key] != self.settings_added[key])

    def saved_settings(self, record):
        """A cell record's settings, with `settings_added` filled in."""
        return {**self.settings_added, **record.get("settings", {})}


def _id_value(value):
    return str(int(value)) if isinstance(value, bool) else str(value)


@dataclass(frozen=True)
class Cell:
    index: int  # position in the experiment's cell list
    id: str
    settings: dict
    grids: tuple  # indices of the grids that contain this cell


def cells(experiment, quick=False):
    """The experiment's cells, in a fixed order (the grids', then their axes')."""
    profile = experiment.profile(quick)
    found = {}
    for g, grid in enumerate(profile.grids):
        axes = list(grid)
        for values in itertools.product(*(grid[axis] for axis in axes)):
            settings = dict(profile.settings)
            for axis, value in zip(axes, values):
                # A tuple of settings is one axis whose values are tuples: points
                # such as (timesteps, z_dim) at a fixed total latent size.
                settings.update(zip(axis, value) if isinstance(axis, tuple) else [(axis, value)])
            cell_id = experiment.cell_id(settings)
            if cell_id in found:
                if found[cell_id]["settings"] != settings:
                    raise ValueError(f"{experiment.name}: two different cells are both named {cell_id}")
                found[cell_id]["grids"].append(g)
            else:
                found[cell_id] = {"settings": settings, "grids": [g]}
    return [Cell(i, cell_id, entry["settings"], tuple(entry["grids"]))
            for i, (cell_id, entry) in enumerate(found.items())]


# ---------------------------------------------------------------- shards

def parse_shard(text, source="--shard"):
    """``"i/n"`` -> (i, n), with 0 <= i < n."""
    match = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", str(text))
    if not match:
        raise MnistgenError(f"{source} must be I/N with 0 <= I < N (e.g. 0/4), got {text!r}")
    return _checked_shard(int(match[1]), int(match[2]), source)


def _checked_shard(index, count, source):
    if count < 1 or not 0 <= index < count:
        raise MnistgenError(f"{source}: shard index must be 0..N-1 and N at least 1, got {index}/{count}")
    return index, count


def _env_int(environ, name):
    try:
        return int(environ[name])
    except ValueError:
        raise MnistgenError(f"${name} must be an integer, got {environ[name]!r}") from None


def shard_from_env(environ=None):
    """The (i, n) of a SLURM job array or a Kubernetes indexed Job, or None.

    SLURM: ``--array=A-B[:S]`` gives task ids A, A+S, ..., numbered here
    0..N-1.  Kubernetes gives only ``JOB_COMPLETION_INDEX``; set
    ``MNISTGEN_SHARD_COUNT`` to the Job's ``completions``.
    """
    environ = os.environ if environ is None else environ
    if "SLURM_ARRAY_TASK_ID" in environ:
        if "SLURM_ARRAY_TASK_COUNT" not in environ:
            raise MnistgenError("$SLURM_ARRAY_TASK_ID is set but $SLURM_ARRAY_TASK_COUNT is not")
        task = _env_int(environ, "SLURM_ARRAY_TASK_ID")
        low = _env_int(environ, "SLURM_ARRAY_TASK_MIN") if "SLURM_ARRAY_TASK_MIN" in environ else 0
        step = _env_int(environ, "SLURM_ARRAY_TASK_STEP") if "SLURM_ARRAY_TASK_STEP" in environ else 1
        index, remainder = divmod(task - low, max(step, 1))
        if remainder:
            raise MnistgenError(f"SLURM array task {task} is not on the array's range {low}, {low + step}, ...")
        return _checked_shard(index, _env_int(environ, "SLURM_ARRAY_TASK_COUNT"), "SLURM array")
    if "JOB_COMPLETION_INDEX" in environ:
        if SHARD_COUNT_ENV not in environ:
            raise MnistgenError(f"$JOB_COMPLETION_INDEX is set: set ${SHARD_COUNT_ENV} to the number of shards "
                                "(the Job's completions)")
        return _checked_shard(_env_int(environ, "JOB_COMPLETION_INDEX"), _env_int(environ, SHARD_COUNT_ENV),
                              "Kubernetes indexed Job")
    return None


def resolve_shard(text=None, environ=None):
    """An explicit ``--shard`` wins over the environment; None means every cell."""
    return parse_shard(text) if text is not None else shard_from_env(environ)


def shard_cells(all_cells, shard):
    """Cells i, i+n, i+2n, ...: consecutive cells (similar sizes) go to different shards."""
    if shard is None:
        return list(all_cells)
    index, count = shard
    return list(all_cells)[index::count]


# ---------------------------------------------------------------- files

def profile_root(results_dir, quick=False):
    return os.path.join(results_dir, "quick") if quick else results_dir


def experiment_dir(results_dir, name, quick=False):
    return os.path.join(profile_root(results_dir, quick), name)


def cell_dir(results_dir, name, cell_id, quick=False):
    return os.path.join(experiment_dir(results_dir, name, quick), "cells", cell_id)


def read_record(path):
    """The record in a cell.json, or None when the cell has not finished."""
    if not os.path.exists(path):
        return None
    record = read_json(path, "cell file")
    if not isinstance(record.get("settings"), dict):
        raise MnistgenError(f"cell file {path} has no settings; delete it to rerun the cell")
    return record


def _check_settings(experiment, record, cell, path):
    """A finished cell made with other settings must not pass for this one."""
    saved = experiment.saved_settings(record)
    changed = sorted(k for k in set(saved) | set(cell.settings) if saved.get(k) != cell.settings.get(k))
    if changed:
        diffs = ", ".join(f"{k}: {saved.get(k)!r} -> {cell.settings.get(k)!r}" for k in changed)
        raise MnistgenError(f"{path} was made with other settings ({diffs}); move it away or use another --results")


def _clean_cell(folder, keeps_models=False):
    """Drop what a finished cell no longer needs: checkpoints (but the selected trainer when it
    `keeps_models`), big generators (idem), sampling parts, stray temporaries."""
    from mnistgen_tf.train import BEST, remove_checkpoints

    run = os.path.join(folder, RUN_DIR)
    remove_checkpoints(run, keep=(BEST,) if keeps_models else ())
    shutil.rmtree(os.path.join(folder, SAMPLE_PARTS), ignore_errors=True)
    generator = os.path.join(run, "generator.keras")
    if not keeps_models and os.path.exists(generator) and os.path.getsize(generator) >= KEEP_GENERATOR_BYTES:
        os.remove(generator)
    for base in (folder, run):
        if os.path.isdir(base):
            for name in os.listdir(base):
                if is_tmp_name(name):
                    os.remove(os.path.join(base, name))


# ---------------------------------------------------------------- running

@dataclass(frozen=True)
class TrainedCell:
    """A cell's training run, finished: what `train` returns, its records, and how long this session took."""

    trainer: object
    generator: object
    config: dict
    run_info: dict  # run.json
    history: list  # one dict of logs per epoch
    timing: dict  # train_seconds, resumed_from_epoch, epochs_this_session, seconds_per_epoch


def train_cell(family, cell_dir, options, verbose=0):
    """Train the run of a cell in ``CELL/run/``, resuming it when it holds one (a finished run is reloaded)."""
    from mnistgen_tf.train import RUN, STATE, epochs_done, has_run, train

    run_dir = os.path.join(cell_dir, RUN_DIR)
    done_before = epochs_done(run_dir)
    started = time.perf_counter()
    trainer, generator, config = train(family, run_dir, resume=has_run(run_dir), verbose=verbose, **options)
    seconds = time.perf_counter() - started
    history = read_json(os.path.join(run_dir, STATE), "run state")["history"]
    epochs_run = len(history) - done_before  # fewer than asked for when the run converged
    return TrainedCell(trainer, generator, config, read_json(os.path.join(run_dir, RUN), "run record"), history,
                       {"train_seconds": round(seconds, 1), "resumed_from_epoch": done_before,
                        "epochs_this_session": epochs_run,
                        "seconds_per_epoch": round(seconds / epochs_run, 1) if epochs_run else None})


def run(experiment, results_dir, quick=False, shard=None, verbose=0, log=print):
    """Run this shard's unfinished cells, then rebuild the tables.

    Returns a dict with the counts of cells run, skipped and copied, and
    the paths of the tables.
    """
    from mnistgen_tf import provenance

    provenance.capture()  # before the first cell: every cell names the code that started the sweep
    all_cells = cells(experiment, quick)
    mine = shard_cells(all_cells, shard)
    exp_dir = experiment_dir(results_dir, experiment.name, quick)
    ensure_dir(os.path.join(exp_dir, "cells"))
    if quick:  # tiny runs are for tests and CI, never for committing
        ignore = os.path.join(profile_root(results_dir, quick), ".gitignore")
        if not os.path.exists(ignore):
            write_text(ignore, "*\n")
    shard_text = "all" if shard is None else f"{shard[0]}/{shard[1]}"
    log(f"{experiment.name} ({'quick' if quick else 'full'} profile): {len(mine)} of {len(all_cells)} cells "
        f"in shard {shard_text}, results in {exp_dir}")
    counts = {"ran": 0, "skipped": 0, "copied": 0}
    for k, cell in enumerate(mine, 1):
        folder = os.path.join(exp_dir, "cells", cell.id)
        ensure_dir(folder)
        # One writer per cell: shards never share a cell, two unsharded sweeps would.
        with lock_folder(folder, "give each process its own --shard I/N, or wait for it to finish"):
            counts[_run_one(experiment, results_dir, quick, cell, folder, shard_text, verbose,
                            say=lambda text: log(f"[{k}/{len(mine)}] {cell.id}: {text}"))] += 1
    paths = aggregate(experiment, results_dir, quick)
    log("wrote " + ", ".join(paths))
    return {**counts, "cells": len(mine), "paths": paths}


def _run_one(experiment, results_dir, quick, cell, folder, shard_text, verbose, say):
    """Finish one cell (its folder locked): skip it, copy it or run it; returns which."""
    from mnistgen_tf import provenance

    record_path = os.path.join(folder, CELL_FILE)
    record = read_record(record_path)
    if record is not None:
        _check_settings(experiment, record, cell, record_path)
        _check_sources(experiment, results_dir, quick, cell, record, record_path)
        _clean_cell(folder, experiment.keeps_models)  # in case a run died between cell.json and the clean-up
        say("finished before, skipped")
        return "skipped"
    if _copy_shared_cell(experiment, results_dir, quick, cell, folder):
        say("copied from an identical finished cell")
        return "copied"
    used = _used_cells(experiment, results_dir, quick, cell.settings)
    say("running")
    started = time.perf_counter()
    record, arrays = experiment.run_cell(folder, dict(cell.settings), verbose, *([used] if experiment.uses else []))
    uses = {key: {"cell": os.path.relpath(path, folder), "provenance": _made_by(path)} for key, path in used.items()}
    record = {"experiment": experiment.name, "profile": "quick" if quick else "full", "cell": cell.id,
              "index": cell.index, "settings": cell.settings, **({"uses": uses} if uses else {}), **record,
              "wall_seconds": round(time.perf_counter() - started, 1), "shard": shard_text,
              "provenance": provenance.record()}
    write_arrays(os.path.join(folder, FIGURE_DATA), arrays)
    write_text(record_path, json.dumps(record, indent=2) + "\n")
    _clean_cell(folder, experiment.keeps_models)
    say(f"done in {record['wall_seconds']:.0f} s")
    return "ran"


def _used_cells(experiment, results_dir, quick, settings):
    """``{key: folder}`` of what a cell reads from other experiments; a one-line error names what is
    missing and how to make it."""
    used = {}
    for key, source in (experiment.uses(settings) if experiment.uses else {}).items():
        if isinstance(source, str):  # a folder under the results, e.g. a committed training run
            folder = os.path.join(profile_root(results_dir, quick), source)
            if not os.path.isdir(folder):
                raise MnistgenError(f"{experiment.name} needs {folder}, which is missing")
        else:
            name, cell_id = source
            folder = cell_dir(results_dir, name, cell_id, quick)
            if read_record(os.path.join(folder, CELL_FILE)) is None:
                raise MnistgenError(f"{experiment.name} needs the finished cell {cell_id} of {name}: run "
                                    f"`mnistgen sweep {name}{' --quick' * quick}` first")
        used[key] = folder
    return used


def _check_sources(experiment, results_dir, quick, cell, record, path):
    """A finished cell made from a cell of another experiment that has been redone since must not pass."""
    for key, folder in _used_cells(experiment, results_dir, quick, cell.settings).items():
        used = record.get("uses", {}).get(key)
        if used is not None and used["provenance"] != _made_by(folder):
            raise MnistgenError(f"{path} was made from an earlier {os.path.relpath(folder, results_dir)}, redone "
                                "since; move the cell away to remake it")


def _made_by(folder):
    """The provenance of a cell folder (cell.json) or a training run (run.json inside it, or in run/)."""
    record = read_record(os.path.join(folder, CELL_FILE))
    if record is not None:
        return record.get("provenance")
    for run in (os.path.join(folder, "run.json"), os.path.join(folder, RUN_DIR, "run.json")):
        if os.path.exists(run):
            info = read_json(run, "run record")
            return {key: info.get(key) for key in ("git_commit", "source_sha256", "date")}
    return None


def _copy_shared_cell(experiment, results_dir, quick, cell, folder):
    """Copy a finished identical cell of a sibling experiment; True when done."""
    for other in experiment.shares_cells_with:
        source = cell_dir(results_dir, other, cell.id, quick)
        record = read_record(os.path.join(source, CELL_FILE))
        if record is None or experiment.saved_settings(record) != cell.settings:
            continue
        # Everything but cell.json (written last, below), checkpoints and temporaries.
        from mnistgen_tf.train import is_checkpoint

        hidden_or_tmp = shutil.ignore_patterns(CELL_FILE, ".*", "*.tmp", "*.tmp.*")

        def skip(folder_, names):
            return set(hidden_or_tmp(folder_, names)) | {name for name in names if is_checkpoint(name)}

        shutil.copytree(source, folder, ignore=skip, dirs_exist_ok=True)
        record = {**record, "experiment": experiment.name, "index": cell.index,
                  "copied_from": os.path.relpath(source, folder)}
        write_text(os.path.join(folder, CELL_FILE), json.dumps(record, indent=2) + "\n")  # last: marks it finished
        return True
    return False


# ---------------------------------------------------------------- reading results back

class Results:
    """The finished cells of one experiment and profile, read back from their files."""

    def __init__(self, experiment, results_dir, quick=False):
        self.experiment = experiment
        self.quick = quick
        self.profile = experiment.profile(quick)
        self.dir = experiment_dir(results_dir, experiment.name, quick)
        self.cells = cells(experiment, quick)
        self.records = []
        for cell in self.cells:
            path = os.path.join(self.dir, "cells", cell.id, CELL_FILE)
            record = read_record(path)
            if record is not None:
                _check_settings(experiment, record, cell, path)
                self.records.append({**record, "settings": experiment.saved_settings(record)})
        finished = {r["cell"] for r in self.records}
        self.missing = [cell.id for cell in self.cells if cell.id not in finished]

    def in_grid(self, index):
        """Finished records of the cells that grid `index` declares, in cell order."""
        ids = {cell.id for cell in self.cells if index in cell.grids}
        return [r for r in self.records if r["cell"] in ids]

    def featured(self, role):
        """The finished record of the cell shown in figure role `role`, or None."""
        wanted = self.profile.featured.get(role, {})
        for record in self.records:
            if all(record["settings"].get(k) == v for k, v in wanted.items()):
                return record
        return None

    def arrays(self, record):
        path = os.path.join(self.dir, "cells", record["cell"], FIGURE_DATA)
        try:
            with np.load(path, allow_pickle=False) as data:
                return {key: data[key] for key in data.files}
        except (OSError, ValueError, EOFError, zipfile.BadZipFile) as e:
            raise MnistgenError(f"cannot read figure data {path} ({type(e).__name__}); delete its cell folder "
                                "and rerun the sweep to remake it") from None


def aggregate(experiment, results_dir, quick=False):
    """table.csv, table.md and timing.csv from the finished cells; returns their paths.

    When the profile sets ``fid_samples``, also the FID of that many real
    training images against the cells' reference, the test split
    (`mnistgen_tf.metrics.fid.real_baseline`), noted under the Markdown table
    and kept in ``baseline.json`` (returned last); table.csv holds the cells'
    settings and metrics only.
    """
    results = Results(experiment, results_dir, quick)
    if not os.path.isdir(results.dir):
        raise MnistgenError(f"no results of {experiment.name} in {profile_root(results_dir, quick)}: "
                            f"run `mnistgen sweep {experiment.name}{' --quick' * quick}` first")
    settings = results.profile.settings
    headers = ["cell"] + [c.header.format(**settings) for c in experiment.columns]
    rows = [[r["cell"]] + [c.text(r) for c in experiment.columns] for r in results.records]

    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(headers)
    writer.writerows(rows)
    table_csv = os.path.join(results.dir, "table.csv")
    write_text(table_csv, buffer.getvalue())

    paths, baseline_note = [], None
    if experiment.baseline is not None:
        baseline, baseline_note = experiment.baseline(settings)
        paths.append(os.path.join(results.dir, "baseline.json"))
        write_json(paths[-1], baseline)

    table_md = os.path.join(results.dir, "table.md")
    write_text(table_md, _markdown(experiment, results, headers, rows, baseline_note))

    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["cell", "train_seconds", "epochs_this_session", "seconds_per_epoch", "eval_seconds",
                     "wall_seconds", "date", "machine", "git_commit", "shard", "copied_from"])
    for r in results.records:
        timing, prov = r.get("timing", {}), r.get("provenance", {})
        writer.writerow([r["cell"], timing.get("train_seconds"), timing.get("epochs_this_session"),
                         timing.get("seconds_per_epoch"), timing.get("eval_seconds"), r.get("wall_seconds"),
                         prov.get("date"), prov.get("machine"), prov.get("git_commit"), r.get("shard"),
                         r.get("copied_from", "")])
    timing_csv = os.path.join(results.dir, "timing.csv")
    write_text(timing_csv, buffer.getvalue())
    if experiment.summary is not None:
        paths = _write_summary(experiment, results) + paths
    return [table_csv, table_md, timing_csv] + paths


def _write_summary(experiment, results):
    headers, rows = experiment.summary(results)
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows([headers, *rows])
    paths = [os.path.join(results.dir, "summary.csv"), os.path.join(results.dir, "summary.md")]
    write_text(paths[0], buffer.getvalue())
    lines = [f"# {experiment.title}: summary", "", f"Over the {len(results.records)} finished cells of "
             "`table.md`.", "", "| " + " | ".join(headers) + " |", "|" + "---|" * len(headers),
             *("| " + " | ".join(map(str, row)) + " |" for row in rows)]
    write_text(paths[1], "\n".join(lines) + "\n")
    return paths


def fid_baseline(settings):
    """The bias floor of a FID column: a perfect generator, drawing real training images,
    scored against the cells' reference (the whole test split) at the same sample size."""
    from mnistgen_tf.metrics.features import get_extractor
    from mnistgen_tf.metrics.fid import real_baseline

    extractor = get_extractor(settings["features"])
    dataset = settings["dataset"]
    distance, train, reference = real_baseline(dataset, extractor, settings["fid_samples"], "test")
    baseline = {"fid": distance, "images": f"{dataset}:train", "n": train.count,
                "reference": f"{dataset}:test", "reference_images": reference.count,
                "extractor": extractor.name, "extractor_fingerprint": getattr(extractor, "fingerprint", None)}
    note = (f"FID of {baseline['n']} real training images against the reference at the same sample "
            f"size: {baseline['fid']:.3f} (the first {baseline['n']} images of {baseline['images']} "
            f"against the {baseline['reference_images']} of {baseline['reference']}, "
            f"{baseline['extractor']} features; also in `baseline.json`): what a generator drawing real "
            f"images would score, the bias of FID at this sample size.")
    return baseline, note


def _markdown(experiment, results, headers, rows, baseline_note=None):
    settings = results.profile.settings
    axes = {name for grid in results.profile.grids for axis in grid
            for name in (axis if isinstance(axis, tuple) else (axis,))}
    fixed = ", ".join(f"{k}={v}" for k, v in settings.items() if k not in axes)
    done = f"{len(results.records)} of {len(results.cells)} cells finished"
    if results.missing:
        done += "; missing: " + ", ".join(results.missing)
    lines = [f"# {experiment.title}", "",
             f"Profile `{'quick' if results.quick else 'full'}`. {done}.", "",
             f"Settings of every cell: `{fixed}`.", "",
             "| " + " | ".join(headers) + " |",
             "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    notes = [note.format(**settings) for note in experiment.notes]
    if baseline_note is not None:
        notes.append(baseline_note)
    notes.append("Each cell's settings, metrics, sample counts and provenance: `cells/<cell>/cell.json`; "
                 "wall times, dates, machines and commits: `timing.csv`.")
    lines += [""] + [f"- {note}" for note in notes]
    return "\n".join(lines) + "\n"


def make_figures(experiments, results_dir, quick=False, log=print):
    """Draw every experiment's figures from its saved cells into RESULTS/figures/.

    Figures whose cells are missing are skipped with a message; returns the
    paths written.
    """
    root = profile_root(results_dir, quick)
    if not any(os.path.isdir(experiment_dir(results_dir, e.name, quick)) for e in experiments):
        raise MnistgenError(f"no experiment results in {root}: run `mnistgen sweep EXPERIMENT"
                            f"{' --quick' * quick} --results {results_dir}` first")
    out = os.path.join(root, "figures")
    written = []
    for experiment in experiments:
        if not os.path.isdir(experiment_dir(results_dir, experiment.name, quick)):
            log(f"{experiment.name}: no results in {profile_root(results_dir, quick)}, no figures")
            continue
        results = Results(experiment, results_dir, quick)
        for filename, draw in experiment.figures:
            path = os.path.join(out, filename)
            tmp = tmp_name(os.path.join(root, filename))  # figures/ is made only once a figure is drawn
            try:
                if not draw(results, tmp):
                    log(f"{filename}: skipped, its cells of {experiment.name} are not finished")
                    continue
                ensure_dir(out)
                os.replace(tmp, path)
            finally:
                if os.path.exists(tmp):
                    os.remove(tmp)
            written.append(path)
    return written
