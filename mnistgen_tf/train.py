"""The one trainer: any registered family, `model.fit`, checkpoints, resume.

A run lives in one folder::

    config.json      the family and its options (written once the inputs are checked)
    history.csv      one row per finished epoch
    last-<E>.keras   the trainer after epoch E, optimizer included (resume)
    state.json       epochs done, best monitored value, history rows, epochs' wall time: the epoch's record
    best.keras       the trainer at the best monitored value (families with a monitor)
    generator.keras  the generator made from the selected epoch at the end
    encoder.keras    (and other companions of the family) saved beside it, e.g. the VAE's encoder
    run.json         sizes, parameters, wall time and provenance
    tensorboard/     when asked for

Each epoch's record is one atomic step: the epoch's checkpoint is saved under
its own name (``last-<epoch>.keras``) and ``state.json``, written next, is
what points to it, so a run killed at any moment resumes from a complete
epoch.  Keras's `BackupAndRestore` and `ModelCheckpoint` are not used: the
first keeps its weights and its epoch counter in separate files and deletes
them when training ends, the second saves in place, so a kill during the save
loses the only copy.  `history.csv` is rewritten from the state rather than
appended by `CSVLogger`, for the same reason.

A run stops at ``epochs``, or earlier with ``convergence_delta`` once the
family's watched validation loss has settled (`converged`, read from the
recorded history, so resuming does not change where it stops).

The data order of epoch e depends only on the seed and e
(`data.training_pipeline`), and the model's noise generator state is in the
checkpoint, so a resumed run ends with the weights and history of an
uninterrupted one.
"""

import contextlib
import csv
import dataclasses
import functools
import io
import math
import os
import signal
import threading
import time

import keras

from mnistgen_tf import data, provenance
from mnistgen_tf.errors import MnistgenError
from mnistgen_tf.files import ensure_dir, is_tmp_name, lock_folder, read_json, save_model, write_json, write_text
from mnistgen_tf.registry import get_family

STATE, CONFIG, HISTORY, BEST, GENERATOR, RUN = (
    "state.json", "config.json", "history.csv", "best.keras", "generator.keras", "run.json")


CONVERGENCE_EPOCHS = 2  # a converged run's watched loss moved less than its delta over this many epochs


def checkpoint_name(epochs_done):
    return f"last-{epochs_done}.keras"


def converged(history, key, delta):
    """Whether `key` of the history rows stayed within `delta` over the last `CONVERGENCE_EPOCHS` epochs.

    The spread (largest minus smallest) of its last ``CONVERGENCE_EPOCHS + 1``
    values, so a spike between them counts.  A function of the recorded
    history alone, so a resumed run stops where an uninterrupted one would.
    """
    if delta <= 0 or len(history) <= CONVERGENCE_EPOCHS:
        return False
    values = [row[key] for row in history[-(CONVERGENCE_EPOCHS + 1):]]
    return max(values) - min(values) < delta


class EpochRecord(keras.callbacks.Callback):
    """Saves each finished epoch as one record: checkpoint, best model, state and history.

    ``stop_when(history)`` true after a record ends training there (convergence).
    """

    def __init__(self, out_dir, monitor, state, stop_when=None):
        super().__init__()
        self.out_dir = out_dir
        self.monitor = monitor
        self.state = state
        self.stop_when = stop_when

    def on_epoch_begin(self, epoch, logs=None):
        self.started = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        seconds = time.perf_counter() - self.started
        logs = {key: float(value) for key, value in (logs or {}).items()}
        if not all(math.isfinite(value) for value in logs.values()):
            # A diverged epoch is not recorded, and the run stops there: TerminateOnNaN watches only the
            # training loss, and epochs recorded after a gap would leave a history with a hole in it.
            self.model.stop_training = True
            return
        state = dict(self.state)
        value = logs.get(self.monitor) if self.monitor else None
        if value is not None and (state["best"] is None or value < state["best"]):
            save_model(self.model, os.path.join(self.out_dir, BEST))
            state.update(best=value, best_epoch=epoch + 1)
        save_model(self.model, os.path.join(self.out_dir, checkpoint_name(epoch + 1)))
        # Wall time beside the history, not in it: a resumed run's history equals an uninterrupted one's.
        state.update(epochs_done=epoch + 1, checkpoint=checkpoint_name(epoch + 1),
                     history=state["history"] + [{"epoch": epoch, **logs}],
                     train_seconds=state.get("train_seconds", 0.0) + seconds)
        write_json(os.path.join(self.out_dir, STATE), state)  # the commit point of this epoch
        write_text(os.path.join(self.out_dir, HISTORY), history_csv(state["history"]))
        stale = os.path.join(self.out_dir, self.state["checkpoint"] or "")
        if self.state["checkpoint"] and os.path.exists(stale):
            os.remove(stale)
        self.state = state
        if self.stop_when and self.stop_when(state["history"]):
            print(f"Epoch {epoch + 1}: converged, stopping")
            self.model.stop_training = True


class Interrupted(keras.callbacks.Callback):
    """Raises a Ctrl-C again at the next batch end if Python swallowed it.

    A KeyboardInterrupt that lands while a finaliser (``__del__``, e.g. of a
    TensorFlow iterator) runs is printed as "Exception ignored" and dropped;
    the run would go on as if nothing was pressed.  `catch_ctrl_c` notes every
    Ctrl-C, and this callback turns a noted one into a KeyboardInterrupt at a
    point where it cannot be lost.
    """

    def __init__(self, pressed):
        super().__init__()
        self.pressed = pressed

    def on_train_batch_end(self, batch, logs=None):
        if self.pressed.is_set():
            raise KeyboardInterrupt

    on_test_batch_end = on_train_batch_end


@contextlib.contextmanager
def catch_ctrl_c():
    """Inside: Ctrl-C raises KeyboardInterrupt as usual and is also noted in the yielded event."""
    pressed = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield pressed  # signals reach the main thread only
        return

    def note_and_raise(signum, frame):
        pressed.set()
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGINT, note_and_raise)
    try:
        yield pressed
    finally:
        signal.signal(signal.SIGINT, previous)


def history_csv(rows):
    """Rows of per-epoch logs as CSV (the columns `CSVLogger` would write)."""
    buffer = io.StringIO()
    if rows:
        # Every row's columns: a run resumed after the kit logs more (DRAW's neg_elbo) leaves its first
        # rows' new columns empty.
        columns = sorted({key for row in rows for key in row} - {"epoch"})
        writer = csv.DictWriter(buffer, fieldnames=["epoch"] + columns, restval="", lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    return buffer.getvalue()


def fresh_state():
    return {"epochs_done": 0, "checkpoint": None, "best": None, "best_epoch": None, "history": []}


def read_state(out_dir):
    """The run's state: epochs done, its checkpoint, best value, history rows."""
    path = os.path.join(out_dir, STATE)
    if not os.path.exists(path):
        if os.path.exists(os.path.join(out_dir, RUN)):
            raise MnistgenError(f"{out_dir} holds a finished run whose checkpoints were removed; there is nothing "
                                "to resume (train into another --out to train again)")
        return fresh_state()
    state = read_json(path, "run state")
    if not set(fresh_state()) <= set(state):
        raise MnistgenError(f"{path} is not a run state of this kit; delete the run folder to start over")
    checkpoint = os.path.join(out_dir, state["checkpoint"] or "")
    if state["epochs_done"] and not os.path.isfile(checkpoint):
        raise MnistgenError(f"{path} names a checkpoint that is missing ({checkpoint}); delete the run folder "
                            "to start over")
    return state


def _is_epoch_checkpoint(name):
    return name.startswith("last-") and name.endswith(".keras")


def is_checkpoint(name):
    """Whether a run folder's file is only for resuming: trainer checkpoints and the state naming them."""
    return name in (BEST, STATE) or _is_epoch_checkpoint(name)


def remove_checkpoints(out_dir, keep=()):
    """Delete what only resuming needs from a finished run, but the files named in `keep`."""
    for name in os.listdir(out_dir) if os.path.isdir(out_dir) else ():
        if is_checkpoint(name) and name not in keep:
            os.remove(os.path.join(out_dir, name))


def epochs_done(out_dir):
    """Epochs finished in the run folder `out_dir` (0 before the first one)."""
    return read_state(out_dir)["epochs_done"]


def read_config(out_dir):
    """The config.json of a run folder; a one-line error when there is none."""
    if not has_run(out_dir):
        raise MnistgenError(f"{out_dir} holds no training run (no {CONFIG})")
    return read_json(os.path.join(out_dir, CONFIG), "run config")


def load_trainer(out_dir):
    """``(trainer, config)`` of a run folder: its best.keras, else its last checkpoint; one-line errors."""
    config = read_config(out_dir)
    if os.path.exists(os.path.join(out_dir, BEST)):
        return load_checkpoint(out_dir, BEST), config
    if os.path.exists(os.path.join(out_dir, STATE)):
        state = read_state(out_dir)  # checked: a kit's state whose checkpoint exists
        if state["checkpoint"]:
            return load_checkpoint(out_dir, state["checkpoint"]), config
    raise MnistgenError(f"{out_dir} keeps no trained model (no {BEST} or checkpoint), only what it generated")


def has_run(out_dir):
    """Whether `out_dir` holds a run (its config.json), finished or not."""
    return os.path.isfile(os.path.join(out_dir, CONFIG))


def _check_run_dir(out_dir, config, resume, defaults):
    """Refuse to overwrite another run, to resume none, or to resume one with other settings.

    An option missing from the saved config was added to the kit after the
    run started; the run used what is now its default (`defaults`).
    """
    path = os.path.join(out_dir, CONFIG)
    if not os.path.exists(path):
        if resume and os.path.exists(os.path.join(out_dir, STATE)):
            raise MnistgenError(f"{out_dir} has a run state but no {CONFIG}; delete the run folder to start over")
        if resume:
            raise MnistgenError(f"--resume: {out_dir} holds no run to continue; leave out --resume to start one")
        return
    if not resume:
        raise MnistgenError(f"{out_dir} already holds a run; pass --resume to continue it or choose another --out")
    saved = read_json(path, "run config")
    # More epochs may be added to a run, unless its learning-rate schedule is laid out over its epochs.
    scheduled = saved.get("lr_schedule", "constant") != "constant"
    changed = sorted(k for k in set(saved) | set(config)
                     if (k != "epochs" or scheduled) and saved.get(k, defaults.get(k)) != config.get(k))
    if changed:
        why = " (its learning-rate schedule is laid out over its epochs)" if "epochs" in changed else ""
        raise MnistgenError(f"--resume with settings that differ from the run in {out_dir}: "
                            f"{', '.join(changed)}{why}")


def train(family_name, out_dir, resume=False, tensorboard=False, verbose="auto", **options):
    """Train one family into `out_dir`, or continue the run there when `resume`.

    `options` are the family's (see `mnistgen_tf.registry`); everything is
    checked, and the data loaded, before the first file is written.
    Returns ``(trainer, generator, config)``: the trainer at the selected
    epoch, the saved generator, and the config as written to config.json.
    """
    made_by = provenance.capture()  # the code as it was when the run started
    family = get_family(family_name)
    opts = family.make_options(**options)
    config = {"family": family.name, **dataclasses.asdict(opts)}
    monitor = family.monitor_for(opts)
    if opts.convergence_delta and family.convergence_key(opts) is None:
        raise MnistgenError(f"{family.name} logs no validation loss to converge on; leave out --convergence-delta")
    images, labels = data.load(opts.dataset, "train")
    (x_train, y_train), (x_val, y_val) = data.split_train_val(images, labels, opts.subset)
    data.check_kind(family.data, y_train, "training split")
    data.check_kind(family.data, y_val, "validation split")
    _check_run_dir(out_dir, config, resume, dataclasses.asdict(family.make_options()))

    ensure_dir(out_dir)
    with lock_folder(out_dir):
        state = read_state(out_dir) if resume else fresh_state()
        if state["epochs_done"] > opts.epochs:
            raise MnistgenError(f"{out_dir} has already trained {state['epochs_done']} epochs; --epochs "
                                f"{opts.epochs} would undo them (pass at least {state['epochs_done']})")
        finished = _done(family, opts, state) and os.path.exists(os.path.join(out_dir, RUN))
        if finished and os.path.exists(os.path.join(out_dir, GENERATOR)):
            # Nothing to do: the finished run and its record stay as they are.
            model = load_checkpoint(out_dir, BEST if monitor else state["checkpoint"])
            return model, load_checkpoint(out_dir, GENERATOR), config
        model = load_checkpoint(out_dir, state["checkpoint"]) if state["epochs_done"] else None
        if resume:
            _tidy(out_dir, state)
        write_json(os.path.join(out_dir, CONFIG), config)
        return _fit(family, opts, config, state, model, out_dir, (x_train, y_train), (x_val, y_val),
                    tensorboard, verbose, made_by)


def _done(family, opts, state):
    """Whether the run has trained all its epochs or converged."""
    return state["epochs_done"] == opts.epochs or converged(
        state["history"], family.convergence_key(opts), opts.convergence_delta)


def load_checkpoint(out_dir, name):
    """A model saved in the run folder; a one-line error when it cannot be loaded."""
    path = os.path.join(out_dir, name)
    try:
        return keras.models.load_model(path)
    except MnistgenError:  # a model that names its own problem (an older DRAW trainer)
        raise
    except Exception as e:  # zip, JSON and deserialisation errors all mean a damaged file
        raise MnistgenError(f"cannot load {path} ({type(e).__name__}): the file is damaged; delete the run "
                            "folder to start over") from None


def _tidy(out_dir, state):
    """Finish what a process killed between the steps of an epoch's record left undone.

    The lock says no other writer is alive: its temporary files and the
    checkpoints the state does not name go, and history.csv is rewritten
    from the state when it lags behind (a kill just after state.json).
    """
    for name in os.listdir(out_dir):
        path = os.path.join(out_dir, name)
        stale = _is_epoch_checkpoint(name) and name != state["checkpoint"]
        if os.path.isfile(path) and (is_tmp_name(name) or stale):
            os.remove(path)
    history = history_csv(state["history"])
    path = os.path.join(out_dir, HISTORY)
    if not os.path.exists(path) or open(path).read() != history:
        write_text(path, history)


def _fit(family, opts, config, state, model, out_dir, train_split, val_split, tensorboard, verbose, made_by):
    (x_train, y_train), (x_val, y_val) = train_split, val_split
    monitor = family.monitor_for(opts)
    keras.utils.set_random_seed(opts.seed)
    binarize, balanced = getattr(opts, "binarize", False), getattr(opts, "balanced", False)
    dynamic_binarization = getattr(opts, "dynamic_binarization", False)
    if dynamic_binarization:
        x_val = data.bernoulli_draw(data.to_float(x_val), data.VALIDATION_BINARIZATION_SEED)
    train_seed, val_seed = data.example_seeds(opts.seed)  # drawn examples (addition pairs), one stream each
    val_ds = data.pipeline(family.data, x_val, y_val, family.val_batch_size or opts.batch_size, binarize,
                           seed=val_seed, balanced=balanced)
    if model is None:
        model = family.build(opts, image_shape=data.to_float(x_train[:1]).shape[1:])
    epochs_before, started = state["epochs_done"], time.time()
    if not _done(family, opts, state):
        train_ds = data.training_pipeline(family.data, x_train, y_train, opts.batch_size, opts.seed,
                                          opts.epochs, state["epochs_done"], binarize, balanced, train_seed,
                                          dynamic_binarization)
        own = family.callbacks(opts, out_dir) if family.callbacks else []
        stop_when = functools.partial(converged, key=family.convergence_key(opts), delta=opts.convergence_delta)
        record = EpochRecord(out_dir, monitor, state, stop_when)
        callbacks = [keras.callbacks.TerminateOnNaN(), *own, record]
        if tensorboard:
            callbacks.append(keras.callbacks.TensorBoard(os.path.join(out_dir, "tensorboard")))
        with catch_ctrl_c() as pressed:
            model.fit(train_ds, validation_data=val_ds, epochs=opts.epochs, initial_epoch=state["epochs_done"],
                      steps_per_epoch=data.steps_per_epoch(len(x_train), opts.batch_size),
                      callbacks=[Interrupted(pressed), *callbacks], verbose=verbose,
                      shuffle=False)  # the pipeline orders epochs
    state = read_state(out_dir)
    if not _done(family, opts, state):
        raise MnistgenError(f"training in {out_dir} stopped after {state['epochs_done']} of {opts.epochs} "
                            "epochs: a loss became NaN or infinite (diverged?)")
    if monitor:
        if state["best"] is None:
            raise MnistgenError(f"training in {out_dir} produced no finite {monitor} (diverged?)")
        model.load_weights(os.path.join(out_dir, BEST))
    generator = family.generator(model, opts)
    save_model(generator, os.path.join(out_dir, GENERATOR))
    for name, companion in family.companions.items():
        save_model(companion(model), os.path.join(out_dir, name))
    write_json(os.path.join(out_dir, RUN), {
        "config": config, "data_source": data.source(opts.dataset), "train_images": len(x_train),
        "val_images": len(x_val),
        "parameters": model.count_params(), "generator_parameters": generator.count_params(),
        "selected_epoch": state["best_epoch"] if monitor else state["epochs_done"],
        "epochs_trained": state["epochs_done"],
        "converged": converged(state["history"], family.convergence_key(opts), opts.convergence_delta),
        "epochs_before_last_session": epochs_before,
        "wall_time_s_last_session": round(time.time() - started, 1),
        # Epochs' wall times summed over sessions (from the epochs recorded since the kit kept them).
        "train_seconds_all_sessions": round(state.get("train_seconds", 0.0), 1), **made_by})
    return model, generator, config
