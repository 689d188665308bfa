"""The conv VAE, beta-VAE and CVAE: shapes, the loss as written, conditioning."""

import keras
import numpy as np
import pytest

from mnistgen_tf.models.vae import VAE


def batch(n=6, seed=0):
    rng = np.random.default_rng(seed)
    return {"image": rng.random((n, 28, 28, 1), np.float32), "label": rng.integers(0, 10, n).astype("int32")}


@pytest.mark.parametrize("reconstruction", ["bce", "l2"])
def test_the_loss_is_the_reconstruction_summed_over_pixels_plus_beta_kl(reconstruction):
    keras.utils.set_random_seed(0)
    data = batch()
    vae = VAE(latent_dim=3, beta=4.0, reconstruction=reconstruction, seed=1)
    terms = {k: float(v) for k, v in vae.terms(data).items()}
    assert terms["loss"] == pytest.approx(terms["reconstruction"] + 4.0 * terms["kl"], rel=1e-5)
    # The same draw by hand: the noise generator restarts from the same seed.
    again = VAE(latent_dim=3, beta=4.0, reconstruction=reconstruction, seed=1)
    again.set_weights(vae.get_weights())
    mean, log_var = (t.numpy() for t in again.encoder(data["image"]))
    x_hat = again.decoder(again.sample_code([mean, log_var])).numpy()
    x = data["image"]
    if reconstruction == "bce":
        p = np.clip(x_hat, 1e-7, 1 - 1e-7)
        per_image = -(x * np.log(p) + (1 - x) * np.log(1 - p)).sum(axis=(1, 2, 3))
    else:
        per_image = ((x - x_hat) ** 2).sum(axis=(1, 2, 3))
    assert terms["reconstruction"] == pytest.approx(per_image.mean(), rel=1e-4)
    kl = 0.5 * (mean ** 2 + np.exp(log_var) - log_var - 1).sum(axis=1).mean()
    assert terms["kl"] == pytest.approx(kl, rel=1e-4)


def test_the_cvae_decoder_reads_the_digit():
    keras.utils.set_random_seed(0)
    vae = VAE(latent_dim=2, conditional=True, seed=0)
    z = np.zeros((10, 2), np.float32)
    images = vae.decoder([z, np.arange(10, dtype="int32")]).numpy()
    assert images.shape == (10, 28, 28, 1) and 0 < images.min() <= images.max() < 1
    assert not np.allclose(images[0], images[1])  # same code, other digit, other image
    reconstruction, mean, _ = vae(batch(), training=False)
    assert reconstruction.shape == (6, 28, 28, 1) and mean.shape == (6, 2)


def test_nearest_neighbour_accuracy_and_pca_on_known_clusters():
    from mnistgen_tf.sweeps.seed003_vae import nearest_neighbour_accuracy, pca_2d

    rng = np.random.default_rng(0)
    centres = rng.standard_normal((10, 5)) * 10
    labels = np.repeat(np.arange(10), 50)
    codes, reference = (centres[labels] + rng.standard_normal((500, 5)) for _ in range(2))
    overall, per_class = nearest_neighbour_accuracy(codes, labels, reference, labels, k=5, chunk=64)
    assert overall == 1.0 and per_class == [1.0] * 10  # far-apart clusters
    shuffled, _ = nearest_neighbour_accuracy(codes, labels, reference, rng.permutation(labels), k=5)
    assert shuffled < 0.3  # reference labels that mean nothing
    flat = np.c_[rng.standard_normal(500) * 5, rng.standard_normal(500), np.zeros(500)]
    projected = pca_2d(flat)
    assert projected.shape == (500, 2) and abs(np.corrcoef(projected[:, 0], flat[:, 0])[0, 1]) > 0.99


def test_seed003_vae_cell_measures_and_draws(tmp_path, mnist_available):
    import json

    from mnistgen_tf.cli import main

    assert main(["sweep", "seed003_vae", "--quick", "--shard", "1/3", "--results", str(tmp_path)]) == 0
    assert main(["figures", "--quick", "--results", str(tmp_path)]) == 0
    (cell,) = (tmp_path / "quick" / "seed003_vae" / "cells").iterdir()
    record = json.loads((cell / "cell.json").read_text())
    assert cell.name == "fashion_mnist_z16_seed0" and list(record["per_class"])[8] == "Bag"
    metrics = record["metrics"]
    assert metrics["test_neg_elbo"] == pytest.approx(metrics["test_bce"] + metrics["test_kl"], rel=1e-4)
    assert 0 <= metrics["knn_accuracy"] <= 1 and metrics["fid"] > metrics["fid_real_vs_real"]
    for name in ("seed003_vae_losses.png", "seed003_vae_reconstructions.png", "seed003_vae_latent_map.png"):
        assert (tmp_path / "quick" / "figures" / name).stat().st_size > 10_000
