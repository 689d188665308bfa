"""Running the `mnistgen` command as a user does, and checking its errors."""

import subprocess
import sys


def mnistgen(*args):
    return subprocess.run([sys.executable, "-m", "mnistgen_tf.cli", *map(str, args)],
                          capture_output=True, text=True)


def assert_one_line_error(result, *fragments):
    assert result.returncode == 2, result.stderr[-1500:]
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    for fragment in fragments:
        assert fragment in lines[0]
