"""Seed 004's zoo sweep, quick profile: every model trains, samples and is measured the same way."""

import json

import pytest


@pytest.fixture(scope="module")
def zoo(tmp_path_factory, mnist_available):
    from mnistgen_tf.cli import main

    results = tmp_path_factory.mktemp("seed004")
    assert main(["sweep", "seed004_zoo", "--quick", "--results", str(results)]) == 0
    assert main(["figures", "--quick", "--results", str(results)]) == 0
    return results / "quick"


def test_every_model_is_measured(zoo):
    cells = zoo / "seed004_zoo" / "cells"
    records = {r["settings"]["model"]: r for r in (json.loads(p.read_text()) for p in cells.glob("*/cell.json"))}
    assert sorted(records) == ["ae", "beta_vae", "cvae", "ddpm", "gan", "vae", "vqvae"]
    for model, record in records.items():
        metrics = record["metrics"]
        assert metrics["fid"] > metrics["fid_real_vs_real"] > 0 and metrics["sampling_seconds_per_1000"] > 0
        assert sum(record["class_histogram"]) == record["eval_samples"] == 300
        assert ("test_mse" in metrics) == (record["family"] in ("autoencoder", "vae", "vqvae")), model
        assert ("test_neg_elbo" in metrics) == (record["family"] == "vae"), model
    assert len(records["cvae"]["label_accuracy_per_digit"]) == 10 and "label_accuracy" not in records["vae"]["metrics"]
    assert records["beta_vae"]["options"]["beta"] == 4.0
    vq = records["vqvae"]["metrics"]
    assert 1 <= vq["codebook_perplexity"] <= 8 and 0 <= vq["dead_codes"] < 8
    ddpm = records["ddpm"]["metrics"]
    assert ddpm["chain_fid"] > 0 and ddpm["chain_sampling_seconds_per_1000"] > ddpm["sampling_seconds_per_1000"]
    assert (zoo / "figures" / "seed004_zoo_samples.png").stat().st_size > 10_000
    table = (zoo / "seed004_zoo" / "table.md").read_text()
    assert "20-step chain: FID (20)" in table and table.count("\n| ") == 8  # header + seven models
