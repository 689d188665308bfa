"""Training runs: `model.fit` with checkpoints, logs and resume.

A run lives in one folder::

    config.json      what was asked for (written first)
    history.csv      one row per finished epoch (Keras CSVLogger)
    last.keras       trainer after the latest epoch, optimizer included (resume)
    best.keras       trainer with the best validation loss so far
    state.json       epochs done and best validation loss, matching last.keras
    generator.keras  the generator made from best.keras at the end
    tensorboard/     when asked for

Every file is written under a temporary name and renamed, so a run killed at
any moment leaves the previous good copy in place.
"""

import json
import os
import platform
import subprocess
import time

import keras

from mnistgen_tf import data
from mnistgen_tf.errors import MnistgenError
from mnistgen_tf.files import ensure_dir, write_text
from mnistgen_tf.models.draw import build_draw, build_generator


def atomic_save(model, path):
    """`model.save` under a temporary name, then rename."""
    tmp = path.replace(".keras", ".tmp.keras")
    model.save(tmp)
    os.replace(tmp, path)


def git_commit():
    """The commit of the working tree (suffixed ``+dirty`` when it has changes)."""
    here = os.path.dirname(os.path.abspath(__file__))
    try:
        sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=here, capture_output=True,
                             text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=here,
                               capture_output=True, text=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return sha + ("+dirty" if dirty else "")


def provenance():
    """Who, where and with what a result was made."""
    return {"git_commit": git_commit(), "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "machine": f"{platform.node()} ({platform.machine()}, {os.cpu_count()} cpus)",
            "python": platform.python_version(), "keras": keras.__version__,
            "tensorflow": __import__("tensorflow").__version__}


class RunCheckpoint(keras.callbacks.Callback):
    """Saves ``last.keras`` every epoch and ``best.keras`` on a new best ``val_loss``."""

    def __init__(self, out_dir, best=float("inf")):
        super().__init__()
        self.out_dir = out_dir
        self.best = best

    def on_epoch_end(self, epoch, logs=None):
        val_loss = (logs or {}).get("val_loss", float("inf"))
        if val_loss < self.best:
            self.best = val_loss
            atomic_save(self.model, os.path.join(self.out_dir, "best.keras"))
        atomic_save(self.model, os.path.join(self.out_dir, "last.keras"))
        state = {"epochs_done": epoch + 1, "best_val_loss": self.best}
        write_text(os.path.join(self.out_dir, "state.json"), json.dumps(state))


def epochs_done(out_dir):
    """Epochs finished in the run folder `out_dir` (0 before the first one)."""
    try:
        with open(os.path.join(out_dir, "state.json")) as f:
            return json.load(f)["epochs_done"]
    except (OSError, ValueError, KeyError):
        return 0


def _trim_history(path, rows):
    """Keep the header and the first `rows` epochs (the ones last.keras has seen)."""
    if not os.path.exists(path):
        return
    with open(path, newline="") as f:
        lines = f.readlines()  # one line per epoch: CSVLogger writes only numbers
    write_text(path, "".join(lines[: rows + 1]))


def fit(model, train_ds, val_ds, out_dir, epochs, resume=False, tensorboard=False, verbose="auto"):
    """Train `model` into `out_dir`, or continue the run there when `resume`.

    Returns the trainer with the best validation weights loaded.
    """
    state_path = os.path.join(out_dir, "state.json")
    history_path = os.path.join(out_dir, "history.csv")
    initial_epoch, best = 0, float("inf")
    if resume and os.path.exists(state_path):
        with open(state_path) as f:
            state = json.load(f)
        initial_epoch, best = state["epochs_done"], state["best_val_loss"]
        model = keras.models.load_model(os.path.join(out_dir, "last.keras"))
        _trim_history(history_path, initial_epoch)
    callbacks = [
        keras.callbacks.TerminateOnNaN(),
        RunCheckpoint(out_dir, best),
        keras.callbacks.CSVLogger(history_path, append=initial_epoch > 0),
    ]
    if tensorboard:
        callbacks.append(keras.callbacks.TensorBoard(os.path.join(out_dir, "tensorboard")))
    if initial_epoch < epochs:
        model.fit(train_ds, validation_data=val_ds, epochs=epochs, initial_epoch=initial_epoch,
                  callbacks=callbacks, verbose=verbose, shuffle=False)  # the pipeline shuffles itself
    best_path = os.path.join(out_dir, "best.keras")
    if not os.path.exists(best_path):
        raise MnistgenError(f"training in {out_dir} produced no finite validation loss (diverged?)")
    model.load_weights(best_path)
    return model


def split_train_val(images, labels, subset=None, val_size=5000):
    """First `subset` training images, the last tenth (at most `val_size`) held out."""
    if subset is not None:
        if subset < 20:
            raise MnistgenError(f"--subset must be at least 20 images, got {subset}")
        images, labels = images[:subset], labels[:subset]
    n_val = min(val_size, len(images) // 10)
    return (images[:-n_val], labels[:-n_val]), (images[-n_val:], labels[-n_val:])


def prepare_run_dir(out_dir, config, resume):
    """Create the run folder, refusing to overwrite a different or finished run."""
    config_path = os.path.join(out_dir, "config.json")
    if os.path.exists(config_path):
        if not resume:
            raise MnistgenError(f"{out_dir} already holds a run; pass --resume to continue it or choose another --out")
        with open(config_path) as f:
            saved = json.load(f)
        changed = sorted(k for k in config if k not in ("epochs",) and saved.get(k) != config[k])
        if changed:
            raise MnistgenError(f"--resume with settings that differ from the run in {out_dir}: {', '.join(changed)}")
    ensure_dir(out_dir)
    write_text(config_path, json.dumps(config, indent=2))


DRAW_DEFAULTS = {
    "dataset": "mnist", "conditional": False, "timesteps": 16, "z_dim": 16, "units": 256,
    "shared_weights": True, "reconstruction": "bce", "loss_scaling": "thesis",
    "binarize": False, "epochs": 10, "batch_size": 100, "learning_rate": 1e-3,
    "subset": None, "seed": 0, "xla": True,
}


def train_draw(out_dir, resume=False, tensorboard=False, verbose="auto", **options):
    """Train DRAW with `options` (see `DRAW_DEFAULTS`); writes the run folder.

    Returns ``(trainer, generator, config)``.
    """
    unknown = set(options) - set(DRAW_DEFAULTS)
    if unknown:
        raise TypeError(f"unknown DRAW options: {sorted(unknown)}")
    config = {**DRAW_DEFAULTS, **options}
    prepare_run_dir(out_dir, config, resume)
    keras.utils.set_random_seed(config["seed"])
    images, labels = data.load(config["dataset"], "train")
    (x_train, y_train), (x_val, y_val) = split_train_val(images, labels, config["subset"])
    train_ds = data.pipeline(x_train, y_train, config["batch_size"], binarize=config["binarize"],
                             seed=config["seed"])
    val_ds = data.pipeline(x_val, y_val, config["batch_size"], shuffle=False, binarize=config["binarize"])
    model = build_draw(
        timesteps=config["timesteps"], z_dim=config["z_dim"], units=config["units"],
        shared_weights=config["shared_weights"], reconstruction=config["reconstruction"],
        conditional=config["conditional"], loss_scaling=config["loss_scaling"],
        image_shape=x_train.shape[1:] + (1,) * (x_train.ndim == 3), seed=config["seed"],
    )
    # XLA fuses DRAW's many small per-step ops: about 1.5x faster training on CPU.
    model.compile(optimizer=keras.optimizers.Adam(config["learning_rate"]), jit_compile=config["xla"])
    started, made_by = time.time(), provenance()  # the code as it was when training began
    model = fit(model, train_ds, val_ds, out_dir, config["epochs"], resume, tensorboard, verbose)
    generator = build_generator(model)
    atomic_save(generator, os.path.join(out_dir, "generator.keras"))
    run_info = {"config": config, "train_images": len(x_train), "val_images": len(x_val),
                "parameters": model.count_params(), "wall_time_s_last_session": round(time.time() - started, 1),
                **made_by}
    write_text(os.path.join(out_dir, "run.json"), json.dumps(run_info, indent=2))
    return model, generator, config
