"""What made a result: the code as it was when the process started, and where it ran.

`capture()` reads git and hashes the package's source files once per
process, the first time it is called; the CLI, the trainer, sweeps and the
experiment scripts call it before any work, so a result written hours later
still names the code that ran, not a commit made in the meantime.

``git_dirty`` counts untracked files too: a module that was never committed
cannot hide behind a clean commit.  Files under ``results/`` do not count:
they are what runs write, and a sweep started while another one is still
filling its cells would otherwise call its own code dirty.  ``source_sha256`` hashes every ``.py``
file of the package (path and bytes), which identifies the code even
without git, e.g. in an installed copy.
"""

import functools
import hashlib
import os
import platform
import subprocess
import time

PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))


def _git(*args):
    return subprocess.run(["git", *args], cwd=PACKAGE_DIR, capture_output=True, text=True, check=True,
                          timeout=30).stdout.strip()


def git_state():
    """``(commit, dirty)`` of the checkout holding the package, or ``("unknown", None)`` outside git."""
    try:
        commit = _git("rev-parse", "HEAD")
        dirty = bool(_git("status", "--porcelain", "--untracked-files=normal",
                          "--", ":(top)", ":(top,exclude)results"))
    except (OSError, subprocess.SubprocessError):
        return "unknown", None
    return commit, dirty


def source_hash():
    """SHA-256 over the package's ``.py`` files, in path order (path and contents of each)."""
    digest = hashlib.sha256()
    for root, dirs, files in os.walk(PACKAGE_DIR):
        dirs[:] = sorted(d for d in dirs if d != "__pycache__")
        for name in sorted(f for f in files if f.endswith(".py")):
            path = os.path.join(root, name)
            digest.update(os.path.relpath(path, PACKAGE_DIR).encode() + b"\0")
            with open(path, "rb") as f:
                digest.update(f.read() + b"\0")
    return digest.hexdigest()


@functools.cache
def capture():
    """The process's provenance, computed on the first call and the same ever after."""
    import keras
    import tensorflow as tf

    commit, dirty = git_state()
    return {
        "git_commit": commit + ("+dirty" if dirty else ""),
        "git_dirty": dirty,
        "source_sha256": source_hash(),
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "machine": f"{platform.node()} ({platform.machine()}, {os.cpu_count()} cpus)",
        "python": platform.python_version(),
        "keras": keras.__version__,
        "tensorflow": tf.__version__,
    }


def record():
    """`capture()` plus the moment the result is written (``date``)."""
    return {**capture(), "date": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
