"""Every registered family trains through `mnistgen train`, reloads in a fresh process and samples."""

import ast
import json
import pathlib
import subprocess
import sys

import numpy as np
import pytest

from cli_helpers import TINY, mnistgen
from mnistgen_tf.registry import FAMILIES, get_family

PACKAGE = pathlib.Path(__file__).resolve().parent.parent / "mnistgen_tf"



def test_every_family_has_a_smoke_run():
    assert set(TINY) == set(FAMILIES)


@pytest.fixture(scope="module", params=sorted(FAMILIES))
def trained(request, tmp_path_factory, mnist_available):
    run = tmp_path_factory.mktemp(request.param) / "run.keras"  # a folder name with .keras in it
    result = mnistgen("train", request.param, "--out", run, "--epochs", 1, "--subset", 200, *TINY[request.param])
    assert result.returncode == 0, result.stderr[-2000:]
    return request.param, run


def test_generator_reloads_in_a_fresh_process_and_takes_dict_or_list(trained):
    family, run = trained
    if not get_family(family).samples_noise:
        pytest.skip("its generator maps images and numbers, not noise: see the next test")
    script = """
import sys, json, keras, numpy as np
import mnistgen_tf
from mnistgen_tf.sampling import generator_inputs, sample
g = keras.models.load_model(sys.argv[1])
inputs = generator_inputs(g, 4, seed=0)
by_name = g.predict(inputs, verbose=0)
in_order = g.predict([inputs[name] for name in ("z", "label") if name in inputs], verbose=0)
images = sample(g, 4, seed=0)
print(json.dumps({"same": bool(np.array_equal(by_name, in_order) and np.array_equal(by_name, images)),
                  "shape": list(images.shape), "low": float(images.min()), "high": float(images.max())}))
"""
    result = subprocess.run([sys.executable, "-c", script, str(run / "generator.keras")],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
    out = json.loads(result.stdout.strip().splitlines()[-1])
    assert out["same"] and out["shape"] == [4, 28, 28, 1] and 0 <= out["low"] <= out["high"] <= 1


def test_a_generator_of_other_inputs_reloads_in_a_fresh_process(trained):
    family, run = trained
    if get_family(family).samples_noise:
        pytest.skip("a noise generator: see the previous test")
    script = """
import sys, json, keras, numpy as np
import mnistgen_tf
g = keras.models.load_model(sys.argv[1])
inputs = {t.name: np.full((4, *t.shape[1:]), 0.5, "float32") for t in g.inputs}
images = g.predict([inputs[t.name] for t in g.inputs], verbose=0)
print(json.dumps({"names": sorted(inputs), "shape": list(images.shape), "low": float(images.min()),
                  "high": float(images.max())}))
"""
    result = subprocess.run([sys.executable, "-c", script, str(run / "generator.keras")],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
    out = json.loads(result.stdout.strip().splitlines()[-1])
    assert out["names"] and out["shape"] == [4, 28, 28, 1] and 0 <= out["low"] <= out["high"] <= 1


def test_checkpoints_reload_in_a_fresh_process(trained):
    family, run = trained
    script = "import sys, keras, mnistgen_tf; [keras.models.load_model(p) for p in sys.argv[1:]]; print('ok')"
    companions = {"generator.keras", *get_family(family).companions}
    checkpoints = [str(p) for p in run.glob("*.keras") if p.name not in companions]
    result = subprocess.run([sys.executable, "-c", script, *checkpoints], capture_output=True, text=True)
    monitored = get_family(family).monitor_for(get_family(family).make_options())
    assert len(checkpoints) == (2 if monitored else 1) and result.returncode == 0, result.stderr[-2000:]
    assert "Skipping variable loading" not in result.stderr  # every saved variable found its place


def test_companions_are_saved_and_reload_in_a_fresh_process(trained):
    family, run = trained
    names = sorted(get_family(family).companions)
    if not names:
        pytest.skip("this family saves its generator alone")
    script = """
import sys, json, keras, numpy as np
import mnistgen_tf
out = {}
for path in sys.argv[1:]:
    m = keras.models.load_model(path)
    inputs = {t.name: np.zeros((2, *t.shape[1:]), t.dtype) for t in m.inputs}
    outputs = m.predict([inputs[t.name] for t in m.inputs], verbose=0)
    out[path] = {"inputs": sorted(inputs), "shapes": [list(o.shape) for o in outputs]}
print(json.dumps(out))
"""
    result = subprocess.run([sys.executable, "-c", script, *(str(run / name) for name in names)],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
    out = json.loads(result.stdout.strip().splitlines()[-1])
    if family == "vae":  # the tiny run is a CVAE with a code of 3: the mean and log-variance of q(z | x, y)
        assert out[str(run / "encoder.keras")] == {"inputs": ["image", "label"], "shapes": [[2, 3], [2, 3]]}


def test_config_names_the_family_and_every_option(trained):
    family, run = trained
    config = json.loads((run / "config.json").read_text())
    assert config["family"] == family and config["epochs"] == 1 and config["subset"] == 200
    assert set(config) == {"family"} | set(vars(get_family(family).make_options()))
    info = json.loads((run / "run.json").read_text())
    assert info["source_sha256"] and info["git_commit"] and "git_dirty" in info


def test_the_draw_default_is_the_elbo():
    assert get_family("draw").make_options().loss_scaling == "elbo"


def _imports(path):
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            yield node.module
        elif isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)


def test_models_do_not_import_training_and_nothing_imports_cli():
    for path in PACKAGE.rglob("*.py"):
        imported = set(_imports(path))
        if path.parent.name in ("models", "layers"):
            assert not {m for m in imported if m.startswith(("mnistgen_tf.train", "mnistgen_tf.sweep"))}, path
        if path.name != "cli.py":
            assert "mnistgen_tf.cli" not in imported and not any(m.startswith("experiments") for m in imported), path


def test_no_lambda_layers():
    for path in PACKAGE.rglob("*.py"):
        assert "layers.Lambda" not in path.read_text() and "keras.layers.Lambda" not in path.read_text(), path


def test_options_reject_unknown_and_wrongly_typed_values():
    from mnistgen_tf.errors import MnistgenError

    draw = get_family("draw")
    with pytest.raises(MnistgenError, match="no option 'z'"):
        draw.make_options(z=3)
    with pytest.raises(MnistgenError, match="timesteps must be an integer"):
        draw.make_options(timesteps=2.5)
    with pytest.raises(MnistgenError, match="reconstruction must be one of"):
        draw.make_options(reconstruction="l1")
    assert draw.make_options(timesteps=4).timesteps == 4
    assert np.isclose(draw.make_options(learning_rate=1).learning_rate, 1.0)
