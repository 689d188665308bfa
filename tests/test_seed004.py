"""Seed 004's zoo sweep, quick profile: every model trains, samples and is measured the same way.

The default suite checks the zoo cells the applications' tests share (`quick_zoo`: AE, CVAE,
DDPM, VAE: the reconstruction, label and chain columns) and the β study; ``-m slow`` runs all seven models, the structure study and the DDPM study.
"""

import json

import pytest


def test_every_model_is_measured(quick_zoo):
    _check_zoo(quick_zoo, ["ae", "cvae", "ddpm", "vae"])


@pytest.mark.slow
def test_every_model_of_the_full_list_is_measured(tmp_path, mnist_available):
    from mnistgen_tf.cli import main

    assert main(["sweep", "seed004_zoo", "--quick", "--results", str(tmp_path)]) == 0
    _check_zoo(tmp_path, ["ae", "beta_vae", "cvae", "ddpm", "gan", "vae", "vqvae"])


def _check_zoo(results, models):
    from mnistgen_tf.cli import main

    assert main(["figures", "--quick", "--results", str(results)]) == 0
    zoo = results / "quick"
    cells = zoo / "seed004_zoo" / "cells"
    records = {r["settings"]["model"]: r for r in (json.loads(p.read_text()) for p in cells.glob("*/cell.json"))}
    assert sorted(records) == models
    for model, record in records.items():
        metrics = record["metrics"]
        assert metrics["fid"] > metrics["fid_real_vs_real"] > 0 and metrics["sampling_seconds_per_1000"] > 0
        assert sum(record["class_histogram"]) == record["eval_samples"] == 300
        assert ("test_mse" in metrics) == (record["family"] in ("autoencoder", "vae", "vqvae")), model
        assert ("test_neg_elbo" in metrics) == (record["family"] == "vae"), model
        assert ("label_accuracy" in metrics) == (model == "cvae"), model
    assert len(records["cvae"]["label_accuracy_per_digit"]) == 10
    ddpm = records["ddpm"]["metrics"]
    assert ddpm["chain_fid"] > 0 and ddpm["chain_sampling_seconds_per_1000"] > 0  # timings: too noisy to order here
    if "vqvae" in records:
        vq = records["vqvae"]["metrics"]
        # Perplexity is exp(entropy) of the code usage: at least 1, at most the number of codes in use.
        codes = records["vqvae"]["options"]["num_embeddings"]
        assert 0 <= vq["dead_codes"] < codes and 1 <= vq["codebook_perplexity"] <= codes - vq["dead_codes"] + 1e-6
        assert records["beta_vae"]["options"]["beta"] == 4.0
    assert (zoo / "figures" / "seed004_zoo_samples.png").stat().st_size > 10_000
    table = (zoo / "seed004_zoo" / "table.md").read_text()
    assert "20-step chain: FID (20)" in table and table.count("\n| ") == len(models) + 1  # header + models


def test_the_beta_study_measures_rate_distortion_and_unused_variables(tmp_path, mnist_available):
    from mnistgen_tf.cli import main

    assert main(["sweep", "seed004_beta", "--quick", "--results", str(tmp_path)]) == 0
    assert main(["figures", "--quick", "--results", str(tmp_path)]) == 0
    cells = tmp_path / "quick" / "seed004_beta" / "cells"
    records = sorted((json.loads(p.read_text()) for p in cells.glob("*/cell.json")), key=lambda r: r["settings"]["beta"])
    assert [r["settings"]["beta"] for r in records] == [0.1, 10.0]
    low, high = (r["metrics"] for r in records)
    assert high["rate"] < low["rate"]  # a heavier KL weight buys a lower rate ...
    assert 0 <= low["inactive"] <= high["inactive"] <= 3  # ... and leaves more variables unused
    assert all(m["fid"] > m["fid_real_vs_real"] > 0 and m["distortion"] > 0 for m in (low, high))
    assert (tmp_path / "quick" / "figures" / "seed004_beta_tradeoff.png").stat().st_size > 10_000


@pytest.mark.slow  # five samplers on two U-Nets, one of them trained here: over a minute
def test_the_ddpm_study_scores_every_sampler_and_takes_its_linear_ddpm_from_the_zoo(quick_zoo):
    from mnistgen_tf.cli import main

    assert main(["sweep", "seed004_ddpm", "--quick", "--results", str(quick_zoo)]) == 0
    assert main(["figures", "--quick", "--results", str(quick_zoo)]) == 0
    cells = quick_zoo / "quick" / "seed004_ddpm" / "cells"
    linear, cosine = (json.loads((cells / f"{s}_seed0" / "cell.json").read_text()) for s in ("linear", "cosine"))
    assert linear["uses"]["model"]["cell"].endswith("seed004_zoo/cells/ddpm_seed0") and "uses" not in cosine
    assert not (cells / "linear_seed0" / "run").exists() and (cells / "cosine_seed0" / "run" / "run.json").exists()
    for metrics in (linear["metrics"], cosine["metrics"]):
        for name in ("ddim10", "ddim20", "ddim50", "ddim100", "ddpm1000"):
            assert metrics[f"{name}_fid"] > metrics["fid_real_vs_real"] > 0
            assert metrics[f"{name}_seconds_per_1000"] > 0
    assert (quick_zoo / "quick" / "figures" / "seed004_ddpm_steps.png").stat().st_size > 10_000


def test_the_ddpm_study_refuses_a_zoo_ddpm_trained_otherwise(tmp_path):
    from mnistgen_tf.errors import MnistgenError
    from mnistgen_tf.sweeps.seed004_ddpm import _zoo_ddpm

    import dataclasses

    from mnistgen_tf.registry import FAMILIES

    (tmp_path / "run").mkdir()
    defaults = dataclasses.asdict(FAMILIES["ddpm"].make_options())
    for config, differs in (({**defaults, "epochs": 20}, "epochs"),
                            ({k: v for k, v in defaults.items() if k != "ema"} | {"epochs": 12}, "ema")):  # pre-EMA
        (tmp_path / "run" / "run.json").write_text(json.dumps({"config": {**config, "family": "ddpm"}}))
        with pytest.raises(MnistgenError, match=rf"other settings than this study's \({differs}\)"):
            _zoo_ddpm(str(tmp_path), {"schedule": "linear", "epochs": 12})


@pytest.mark.slow  # three VAEs trained and scored; the beta study covers the same cell runner by default
def test_the_structure_study_changes_one_thing_per_cell(tmp_path, mnist_available):
    from mnistgen_tf.cli import main

    assert main(["sweep", "seed004_structure", "--quick", "--results", str(tmp_path)]) == 0
    cells = tmp_path / "quick" / "seed004_structure" / "cells"
    records = {p.name: json.loads((p / "cell.json").read_text()) for p in cells.iterdir()}
    assert sorted(records) == ["z2_depth1_width1_lr0.001_seed0", "z8_depth1_width2_lr0.001_seed0",
                               "z8_depth2_width1_lr0.001_seed0"]
    params = {name: r["parameters"] for name, r in records.items()}
    base_like = params["z2_depth1_width1_lr0.001_seed0"]
    assert params["z8_depth2_width1_lr0.001_seed0"] > base_like and params["z8_depth1_width2_lr0.001_seed0"] > base_like
    assert all(r["metrics"]["fid"] > 0 and r["metrics"]["test_mse"] > 0 for r in records.values())


def test_a_long_sampling_cut_off_resumes_at_its_last_part(tmp_path, monkeypatch):
    import keras
    import numpy as np

    from mnistgen_tf.sweeps import seed004_zoo

    z = keras.Input((28, 28, 1), name="z")

    def squash(scale):
        conv = keras.layers.Conv2D(1, 1, kernel_initializer=keras.initializers.Constant(scale))
        return keras.Model(z, keras.layers.Activation("sigmoid")(conv(z)), name="squash")

    generator = squash(1.0)
    monkeypatch.setattr(seed004_zoo, "PART", 4)
    parts = tmp_path / "parts"
    images, seconds = seed004_zoo.timed_sample(generator, 10, seed=3, parts_dir=str(parts))
    assert images.shape == (10, 28, 28, 1) and seconds > 0
    assert len(list(parts.iterdir())) == 3  # parts of 4, 4 and 2
    assert len(np.unique(images.reshape(10, -1), axis=0)) == 10  # each part from its own seed

    (parts / sorted(p.name for p in parts.iterdir())[-1]).unlink()  # the last part was cut off
    drawn = []
    real_sample = seed004_zoo.sample
    monkeypatch.setattr(seed004_zoo, "sample", lambda g, n, seed: drawn.append(n) or real_sample(g, n, seed=seed))
    again, _ = seed004_zoo.timed_sample(generator, 10, seed=3, parts_dir=str(parts))
    assert drawn == [2]  # only the missing part is drawn again
    np.testing.assert_array_equal(again, images)

    seed004_zoo.timed_sample(squash(2.0), 10, seed=3, parts_dir=str(parts))  # the same name, other weights
    assert drawn == [2, 4, 4, 2]  # another model's parts are not taken up
