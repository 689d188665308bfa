"""Seed 004's VQ-VAE: quantisation, the straight-through gradient, EMA, the PixelCNN's causality, sampling."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from mnistgen_tf.models.vqvae import (GRID, VQVAE, MaskedConv2D, VectorQuantizer, build_prior, build_sampler,
                                      code_usage)
from mnistgen_tf.sampling import sample
from mnistgen_tf.train import train


def test_quantizer_picks_the_nearest_vector_and_passes_the_gradient_straight_through():
    quantizer = VectorQuantizer(4, 2)
    quantizer.codebook.assign(np.array([[0, 0], [1, 0], [0, 1], [5, 5]], np.float32))
    z_e = tf.Variable(np.array([[[[0.9, 0.2], [0.1, 0.1], [4.0, 4.5]]]], np.float32))  # (1, 1, 3, 2)
    with tf.GradientTape() as tape:
        z_q, indices = quantizer(z_e)
        loss = tf.reduce_sum(z_q * np.array([1.0, 2.0], np.float32))
    assert indices.numpy().tolist() == [[[1, 0, 3]]]
    np.testing.assert_allclose(z_q.numpy(), [[[[1, 0], [0, 0], [5, 5]]]])
    # Straight through: dloss/dz_e is dloss/dz_q, as if quantisation were the identity.
    np.testing.assert_allclose(tape.gradient(loss, z_e).numpy(), np.broadcast_to([1.0, 2.0], (1, 1, 3, 2)))


def test_the_encoder_gets_the_decoders_gradient_and_the_codebook_its_own():
    keras.utils.set_random_seed(0)
    model = VQVAE(num_embeddings=8, embedding_dim=4, prior_filters=8)
    model.build()
    batch = {"image": np.random.default_rng(0).random((4, 28, 28, 1), np.float32)}
    with tf.GradientTape(persistent=True) as tape:
        terms = model.terms(batch, training=True)
    encoder_kernel = model.encoder.get_layer("conv1").kernel
    assert np.any(tape.gradient(terms["reconstruction"], encoder_kernel).numpy())  # through the quantizer
    assert tape.gradient(terms["reconstruction"], model.quantizer.codebook) is None
    assert np.any(tf.convert_to_tensor(tape.gradient(terms["codebook"], model.quantizer.codebook)).numpy())
    assert tape.gradient(terms["prior"], encoder_kernel) is None  # the prior never moves the VQ-VAE


def test_ema_moves_each_used_vector_towards_its_members():
    quantizer = VectorQuantizer(2, 2, ema=True, decay=0.5)
    quantizer.codebook.assign(np.array([[0, 0], [10, 10]], np.float32))
    assert not quantizer.codebook.trainable
    z_e = np.array([[[[1, 1], [3, 3]]]], np.float32)  # both nearer vector 0
    indices = quantizer.indices(z_e)
    quantizer.update_ema(z_e, indices)
    vector, unused = quantizer.codebook.numpy()
    np.testing.assert_allclose(vector, [2, 2], rtol=1e-4)  # sums / sizes: the members' mean
    np.testing.assert_array_equal(unused, [10, 10])  # no members yet: kept, not zeroed


def test_the_pixelcnn_sees_only_earlier_positions():
    keras.utils.set_random_seed(0)
    prior = build_prior(8, filters=8, layers_b=2)
    grid = np.random.default_rng(0).integers(0, 8, (1, GRID, GRID)).astype("int32")
    changed = grid.copy()
    changed[0, 3, 4] = (grid[0, 3, 4] + 1) % 8  # position 3 * 7 + 4
    moved = np.abs(prior.predict(changed, verbose=0) - prior.predict(grid, verbose=0)).sum(axis=-1)[0].reshape(-1)
    assert not moved[: 3 * 7 + 5].any() and moved[3 * 7 + 5:].any()  # itself and before: untouched
    assert MaskedConv2D("A", 1, 3).get_config()["mask_type"] == "A"


def test_code_usage():
    assert code_usage([0, 1, 2, 3], 8) == (pytest.approx(4.0), 4)
    assert code_usage([5, 5, 5], 8) == (pytest.approx(1.0), 7)


def test_training_and_the_sampler(tmp_path, mnist_available):
    trainer, generator, _ = train("vqvae", str(tmp_path / "run"), epochs=2, subset=300, num_embeddings=8,
                                  embedding_dim=4, prior_filters=8, batch_size=50, verbose=0)
    z = np.random.default_rng(0).standard_normal((3, GRID, GRID, 8)).astype("float32")
    once, twice = generator.predict(z, verbose=0), generator.predict(z, verbose=0)
    assert once.shape == (3, 28, 28, 1) and 0 <= once.min() <= once.max() <= 1
    np.testing.assert_array_equal(once, twice)  # z fixes the draw
    assert sample(generator, 5, seed=1).shape == (5, 28, 28, 1)
    rebuilt = build_sampler(trainer)
    np.testing.assert_allclose(rebuilt.predict(z, verbose=0), once, atol=1e-6)
