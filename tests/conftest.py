import os

import pytest

# The shared offline datasets sit beside the checkout; tests never download.
_SHARED = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "datasets")
if "MNISTGEN_DATA_DIR" not in os.environ and os.path.isdir(_SHARED):
    os.environ["MNISTGEN_DATA_DIR"] = os.path.abspath(_SHARED)
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


@pytest.fixture(scope="session")
def mnist_available():
    # A failure, not a skip: a suite that silently skips its data tests proves nothing.
    if not os.path.isdir(os.path.join(os.environ.get("MNISTGEN_DATA_DIR", ""), "mnist")):
        pytest.fail("MNIST IDX files not found: set MNISTGEN_DATA_DIR to the folder holding mnist/ "
                    "(../shared/datasets beside the checkout)")


@pytest.fixture(scope="session")
def quick_zoo(tmp_path_factory, mnist_available):
    """A results folder holding the quick profile's zoo cells AE, CVAE, DDPM (shard 0/3) and VAE (1/7):
    the trained models the seed 004 applications read."""
    from mnistgen_tf.cli import main

    results = tmp_path_factory.mktemp("results")
    for shard in ("0/3", "1/7"):
        assert main(["sweep", "seed004_zoo", "--quick", "--results", str(results), "--shard", shard]) == 0
    return results


@pytest.fixture(scope="module")
def binarized_run(tmp_path_factory, mnist_available):
    """A tiny DRAW (T 2, z 4) trained one epoch on dynamically binarized MNIST: a run folder for the
    commands that measure one.  Per module, so what one module writes into it stays there."""
    from mnistgen_tf.cli import main

    out = tmp_path_factory.mktemp("binarized") / "run"
    assert main(["train", "draw", "--out", str(out), "--timesteps", "2", "--z-dim", "4", "--units", "16",
                 "--epochs", "1", "--subset", "200", "--dynamic-binarization", "--no-xla"]) == 0
    return out
