"""Seed 004's DDPM: schedules, the forward process against its closed form, the sampler's update, training."""

import keras
import numpy as np
import pytest

from mnistgen_tf.models.ddpm import (DDPM, ReverseDiffusion, alpha_bars, build_sampler, build_unet, diffuse,
                                     noise_schedule, sampling_steps, with_sampler)
from mnistgen_tf.sampling import sample
from mnistgen_tf.train import train


def test_the_schedules():
    linear, cosine = noise_schedule("linear"), noise_schedule("cosine")
    assert linear[0] == pytest.approx(1e-4) and linear[-1] == pytest.approx(0.02)  # Ho et al.
    for betas in (linear, cosine):
        a = alpha_bars(betas)
        assert len(betas) == 1000 and np.all(np.diff(a) < 0) and 0 < a[-1] < 1e-4  # x_T is nearly pure noise
    # The cosine schedule destroys information more slowly in the middle (Nichol & Dhariwal's point).
    assert alpha_bars(cosine)[499] > alpha_bars(linear)[499] + 0.2
    for timesteps in (2, 10, 20):  # few steps: the scaled linear betas stay below 1, so every ᾱ_t > 0
        assert np.all(alpha_bars(noise_schedule("linear", timesteps)) > 0)
    with pytest.raises(ValueError, match="schedule"):
        noise_schedule("quadratic")


@pytest.mark.parametrize("schedule", ["linear", "cosine"])
def test_the_step_by_step_forward_process_matches_its_closed_form(schedule):
    """x_t = √(1-β_t) x_{t-1} + √β_t ε, step by step, has q(x_t|x_0)'s mean √ᾱ_t x_0 and variance 1-ᾱ_t."""
    betas = noise_schedule(schedule, 100)
    a = alpha_bars(betas)
    rng = np.random.default_rng(0)
    x0 = np.array([-1.0, -0.3, 0.5, 1.0])
    x = np.repeat(x0[None], 20_000, axis=0)
    for t, beta in enumerate(betas):
        x = np.sqrt(1 - beta) * x + np.sqrt(beta) * rng.standard_normal(x.shape)
        if t in (0, 9, 49, 99):
            np.testing.assert_allclose(x.mean(axis=0), np.sqrt(a[t]) * x0, atol=0.03)
            np.testing.assert_allclose(x.var(axis=0), 1 - a[t], rtol=0.05, atol=2e-4)
    # ... and `diffuse` draws from that closed form.
    eps = rng.standard_normal((20_000, 1, 1, 1)).astype("float32")
    t = np.full(20_000, 49, "int32")
    drawn = np.asarray(diffuse(np.full((20_000, 1, 1, 1), 0.5, "float32"), t, eps, a.astype("float32")))
    assert drawn.mean() == pytest.approx(np.sqrt(a[49]) * 0.5, abs=0.02)
    assert drawn.var() == pytest.approx(1 - a[49], rel=0.05)


def test_sampling_steps_are_evenly_spaced_and_end_at_t():
    assert sampling_steps(1000, 1000).tolist() == list(range(1000))
    steps = sampling_steps(1000, 50)
    assert len(steps) == 50 and steps[0] == 0 and steps[-1] == 999 and np.all(np.diff(steps) > 0)
    assert sampling_steps(1000, 1).tolist() == [999]  # one step still starts from pure noise
    with pytest.raises(ValueError, match="between 1 and 1000"):
        sampling_steps(1000, 1001)


def test_eta_one_over_every_step_is_hos_algorithm_2():
    """x_{t-1} = (x_t - β_t/√(1-ᾱ_t) ε_θ)/√α_t + σ_t z with σ_t² = β̃_t = β_t (1-ᾱ_{t-1})/(1-ᾱ_t)."""
    keras.utils.set_random_seed(0)
    unet = build_unet(8)
    last = unet.get_layer("noise")  # zero-initialised: give it weights so ε_θ is not 0
    last.set_weights([w + 0.01 * np.random.default_rng(1).standard_normal(w.shape) for w in last.get_weights()])
    sampler = ReverseDiffusion(unet, "linear", 100, steps=100, eta=1.0)
    betas = noise_schedule("linear", 100)
    a = alpha_bars(betas)
    rng = np.random.default_rng(2)
    x = (0.1 * rng.standard_normal((3, 28, 28, 1))).astype("float32")
    z = rng.standard_normal(x.shape).astype("float32")
    for t in (20, 5):  # loop index i visits step T - 1 - i
        i = 99 - t
        eps = np.asarray(unet([x, np.full(3, t, "int32")]))
        assert np.abs(eps).max() > 1e-3
        assert np.abs((x - np.sqrt(1 - a[t]) * eps) / np.sqrt(a[t])).max() < 1  # x̂_0 is not clipped here
        sigma = np.sqrt(betas[t] * (1 - a[t - 1]) / (1 - a[t]))
        expected = (x - betas[t] / np.sqrt(1 - a[t]) * eps) / np.sqrt(1 - betas[t]) + sigma * z
        step = sampler.step(keras.ops.convert_to_tensor(x), i, keras.ops.convert_to_tensor(z))
        np.testing.assert_allclose(np.asarray(step), expected, atol=2e-5)


def test_ddim_is_deterministic_and_ddpm_is_not():
    keras.utils.set_random_seed(0)
    unet = build_unet(8)
    ddim, ddpm = build_sampler(unet, "cosine", 50, steps=5, eta=0.0), build_sampler(unet, "cosine", 50, 5, 1.0, 0)
    z = np.random.default_rng(0).standard_normal((4, 28, 28, 1)).astype("float32")
    once, twice = ddim.predict(z, verbose=0), ddim.predict(z, verbose=0)
    assert once.shape == (4, 28, 28, 1) and 0 <= once.min() <= once.max() <= 1
    np.testing.assert_array_equal(once, twice)
    assert not np.array_equal(ddpm.predict(z, verbose=0), ddpm.predict(z, verbose=0))


def test_training_lowers_the_noise_loss_and_the_sampler_can_be_swapped(tmp_path, mnist_available):
    trainer, generator, _ = train("ddpm", str(tmp_path / "run"), epochs=3, subset=400, timesteps=50, base_channels=8,
                                  sample_steps=5, batch_size=50, learning_rate=2e-3, verbose=0)
    import csv

    losses = [float(row["loss"]) for row in csv.DictReader(open(tmp_path / "run" / "history.csv"))]
    assert losses[-1] < 0.8 * losses[0]  # noise is far from what an untrained net predicts (ε_θ = 0: loss 1)
    assert isinstance(trainer, DDPM)
    images = sample(generator, 6, seed=0)
    assert images.shape == (6, 28, 28, 1) and 0 <= images.min() <= images.max() <= 1
    longer = with_sampler(generator, steps=50, eta=1.0)
    assert longer.get_layer("reverse_diffusion").steps == 50 and sample(longer, 2, seed=0).shape == (2, 28, 28, 1)
    # The generator samples with the averaged weights, which lag behind the trained ones.
    saved = generator.get_layer("reverse_diffusion").unet.get_weights()
    for average, trained, mine in zip(trainer.ema_unet.get_weights(), trainer.unet.get_weights(), saved):
        np.testing.assert_array_equal(mine, average)
    assert any(not np.allclose(a, t) for a, t in zip(trainer.ema_unet.get_weights(), trainer.unet.get_weights()))


@pytest.mark.parametrize("ema", [0.0, 0.75])
def test_the_weight_average_follows_every_step(ema):
    model = DDPM(timesteps=10, base_channels=8, ema=ema, seed=0)
    model.build()
    model.compile(optimizer=keras.optimizers.Adam(1e-2))
    assert model.count_params() == model.unet.count_params()  # the average is a copy, not more model
    before = model.ema_unet.get_weights()
    np.testing.assert_array_equal(before[0], model.unet.get_weights()[0])  # it starts at the weights
    model.train_step({"image": np.random.default_rng(0).random((4, 28, 28, 1)).astype("float32")})
    decay = min(ema, 1 / 10)  # warmed up: (1 + n) / (10 + n) after n = 0 earlier steps
    for average, old, new in zip(model.ema_unet.get_weights(), before, model.unet.get_weights()):
        np.testing.assert_allclose(average, decay * old + (1 - decay) * new, rtol=1e-5, atol=1e-7)
    assert any(not np.allclose(w, b) for w, b in zip(model.unet.get_weights(), before))  # the step moved some


@pytest.mark.parametrize("args, fragment", [
    (["--base-channels", "12"], "base_channels must be a multiple of 8"),
    (["--timesteps", "20", "--sample-steps", "50"], "sample_steps must be at most timesteps (20)"),
])
def test_impossible_samplers_and_widths_are_refused(tmp_path, args, fragment, mnist_available):
    from cli_helpers import assert_one_line_error, mnistgen

    run = tmp_path / "run"
    assert_one_line_error(mnistgen("train", "ddpm", "--out", run, "--epochs", 1, "--subset", 100, *args), fragment)
    assert not run.exists()
