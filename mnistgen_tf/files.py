"""Writing results so that a run killed at any moment leaves no half-written file.

Everything is written under a temporary name in the destination folder and
renamed into place; readers see the old file or the new one, never a mix.
"""

import os
import uuid

import numpy as np

from mnistgen_tf.errors import MnistgenError


def tmp_name(path):
    # Unique per writer: shards on several machines may write the same table at once.
    folder, base = os.path.split(path)
    return os.path.join(folder, f".{base}.{uuid.uuid4().hex[:12]}.tmp")


def write_text(path, text):
    """Write `text` to `path` atomically."""
    tmp = tmp_name(path)
    try:
        with open(tmp, "w", newline="") as f:
            f.write(text)
        os.replace(tmp, path)
    except OSError as e:
        raise MnistgenError(f"cannot write {path}: {e.strerror or e}") from None
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def write_arrays(path, arrays):
    """`np.savez_compressed(path, **arrays)`, atomically."""
    tmp = tmp_name(path)
    try:
        with open(tmp, "wb") as f:
            np.savez_compressed(f, **arrays)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def ensure_dir(path):
    """Create folder `path` if needed; a one-line error when that fails or it is read-only."""
    try:
        os.makedirs(path, exist_ok=True)
    except OSError as e:
        raise MnistgenError(f"cannot create folder {path}: {e.strerror or e}") from None
    if not os.access(path, os.W_OK):
        raise MnistgenError(f"folder {path} is not writable")
