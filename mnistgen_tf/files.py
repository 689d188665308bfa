"""The one way the kit writes files: a run killed at any moment leaves no half-written file.

Everything is written under a temporary name in the destination folder and
renamed into place, so readers see the old file or the new one, never a mix.
Temporary names are unique per process and keep the file's suffix (Keras
insists on ``.keras``, NumPy appends ``.npy`` to other names); they are removed
when writing fails, and the failure is one line naming the file.
"""

import contextlib
import fcntl
import json
import os
import re
import uuid

import numpy as np

from mnistgen_tf.errors import MnistgenError


def tmp_name(path):
    """A temporary name beside `path`, unique per process and writer, with the same suffix."""
    folder, base = os.path.split(path)
    stem, suffix = os.path.splitext(base)
    return os.path.join(folder, f".{stem}.{os.getpid()}-{uuid.uuid4().hex[:8]}.tmp{suffix}")


_TMP_NAME = re.compile(r"^\..*\.\d+-[0-9a-f]{8}\.tmp(\.[^.]*)?$")


def is_tmp_name(name):
    """Whether a file name is one `tmp_name` makes (left behind only by a killed process)."""
    return bool(_TMP_NAME.match(name))


@contextlib.contextmanager
def atomic_path(path):
    """Yield a temporary path to write; on success it replaces `path`, on failure it is removed."""
    tmp = tmp_name(path)
    try:
        yield tmp
        os.replace(tmp, path)
    except OSError as e:
        folder = os.path.dirname(os.path.abspath(path))
        raise MnistgenError(f"cannot write {path}: {_reason(e, folder)}") from None
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def _reason(error, folder):
    """Why writing failed, in words (some writers raise OSErrors without a message)."""
    if not os.path.isdir(folder):
        return f"folder {folder} does not exist"
    if error.strerror:
        return error.strerror
    if error.errno:
        return os.strerror(error.errno)
    text = str(error) if str(error) not in ("", "None") else type(error).__name__
    return f"{text} (is the disk full?)"  # e.g. NumPy's "N requested and M written"


def write_text(path, text):
    """Write `text` to `path` atomically."""
    with atomic_path(path) as tmp, open(tmp, "w", newline="") as f:
        f.write(text)


def write_json(path, value):
    """`value` as indented JSON; NaN and infinities are refused (they are not JSON)."""
    try:
        text = json.dumps(value, indent=2, allow_nan=False)
    except ValueError:
        raise MnistgenError(f"cannot write {path}: it would hold NaN or infinity, which JSON cannot") from None
    write_text(path, text + "\n")


def write_arrays(path, arrays):
    """`np.savez_compressed(path, **arrays)`, atomically."""
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        np.savez_compressed(f, **arrays)


def write_array(path, array):
    """`np.save(path, array)`, atomically."""
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        np.save(f, array)


def save_figure(figure, path, **options):
    """`figure.savefig(path, format="png", **options)`, atomically."""
    with atomic_path(path) as tmp:
        figure.savefig(tmp, format="png", **options)


def save_model(model, path):
    """`model.save(path)`, atomically."""
    with atomic_path(path) as tmp:
        model.save(tmp)


def read_json(path, what="file"):
    """The JSON object in `path`; a one-line error when it is missing, damaged or not an object."""
    try:
        with open(path) as f:
            value = json.load(f)
    except FileNotFoundError:
        raise MnistgenError(f"missing {what} {path}") from None
    except (OSError, ValueError) as e:
        raise MnistgenError(f"unreadable {what} {path} ({type(e).__name__}); delete it or restore it") from None
    if not isinstance(value, dict):
        raise MnistgenError(f"{what} {path} does not hold a JSON object; delete it or restore it")
    return value


def ensure_dir(path):
    """Create folder `path` if needed; a one-line error when that fails or it is read-only."""
    try:
        os.makedirs(path, exist_ok=True)
    except OSError as e:
        raise MnistgenError(f"cannot create folder {path}: {e.strerror or e}") from None
    if not os.access(path, os.W_OK):
        raise MnistgenError(f"folder {path} is not writable")


@contextlib.contextmanager
def lock_folder(path, hint="wait for it to finish"):
    """Hold an exclusive OS lock on folder `path`; a second writer gets a one-line error ending in `hint`.

    `flock` on the folder itself: no lock file is left behind, and the lock
    goes when the process dies, however it dies.
    """
    fd = os.open(path, os.O_RDONLY)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise MnistgenError(f"{path} is in use by another mnistgen process; {hint}") from None
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock
