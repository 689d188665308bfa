"""Running the `mnistgen` command as a user does, and checking its errors."""

import importlib.util
import re
import subprocess
import sys

# TensorFlow 2.21 logs a few start-up lines (oneDNN, the CUDA probe) through abseil before
# abseil's logging is initialised, and such lines ignore TF_CPP_MIN_LOG_LEVEL (abseil-cpp
# issues #1718, #1957).  They are TensorFlow's, not the kit's; everything else must be one line.
_TF_STARTUP = re.compile(r"^(WARNING: All log messages before absl::InitializeLog\(\) is called"
                         r"|[IWE]\d{4} \d\d:\d\d:\d+\.\d+ +\d+ \w+\.cc:\d+\])")


# One tiny epoch of each family; a new family fails `test_every_family_has_a_smoke_run` until it is added here.
TINY = {
    "draw": ["--conditional", "--timesteps", "2", "--z-dim", "2", "--units", "8"],
    "label-decoder": ["--variant", "B", "--batch-size", "50"],
    "autoencoder": ["--decoder", "interpolate", "--latent-dim", "3", "--loss", "bce"],
    "adder": ["--kind", "generative", "--latent-dim", "3"],
    "vae": ["--latent-dim", "3", "--conditional", "--beta", "2"],
    "gan": ["--latent-dim", "8", "--batch-size", "50", "--fid-samples", "100"],
    "vqvae": ["--num-embeddings", "8", "--embedding-dim", "4", "--prior-filters", "8", "--ema", "--batch-size", "50"],
    "ddpm": ["--timesteps", "20", "--base-channels", "8", "--sample-steps", "4", "--batch-size", "50"],
}


def kit_lines(stderr):
    """The lines of stderr that are not TensorFlow's start-up log."""
    return [line for line in stderr.strip().splitlines() if not _TF_STARTUP.match(line)]


def mnistgen(*args):
    return subprocess.run([sys.executable, "-m", "mnistgen_tf.cli", *map(str, args)],
                          capture_output=True, text=True)


def assert_one_line_error(result, *fragments):
    assert result.returncode == 2, result.stderr[-1500:]
    lines = kit_lines(result.stderr)
    assert len(lines) == 1, result.stderr
    for fragment in fragments:
        assert fragment in lines[0]


def module_from_path(path, name):
    """A script outside the package (experiments/, benchmarks/) loaded as the module `name`."""
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
