"""Seed 004's denoising diffusion model (DDPM, Ho et al. 2020), with DDPM and DDIM sampling.

The forward process adds Gaussian noise over T steps; in closed form, with
ᾱ_t = Π_{s<=t} (1 - β_s) and images scaled to [-1, 1],

    q(x_t | x_0) = N(√ᾱ_t x_0, (1 - ᾱ_t) I).

A U-Net ε_θ(x_t, t) learns the noise: the loss is ‖ε - ε_θ(√ᾱ_t x_0 +
√(1 - ᾱ_t) ε, t)‖² averaged over pixels, with t uniform over 1..T (Ho's
Algorithm 1; in the code t is 0-based, 0..T-1).  Schedules of β (`noise_schedule`): ``linear`` (Ho: 1e-4 to
0.02) and ``cosine`` (Nichol & Dhariwal 2021: ᾱ_t follows a squared cosine).

Sampling (`ReverseDiffusion`) walks back over an evenly spaced subsequence
τ_1 < ... < τ_S of the T steps, with the update of DDIM (Song et al. 2021):

    x̂_0 = (x_t - √(1 - ᾱ_t) ε_θ) / √ᾱ_t, clipped to [-1, 1]
    x_prev = √ᾱ_prev x̂_0 + √(1 - ᾱ_prev - σ²) ε̂ + σ z,
    σ = η √((1 - ᾱ_prev) / (1 - ᾱ_t)) √(1 - ᾱ_t / ᾱ_prev)

where ε̂ is the noise that x̂_0 implies.  η = 1 over all T steps is Ho's
Algorithm 2 with σ_t² = β̃_t (the posterior variance), x̂_0 clipped as in
Ho's code; η = 0 is DDIM's deterministic sampler, which needs far fewer
steps.  The loop runs inside the model (`keras.ops.fori_loop`), so the
saved generator is loaded and sampled like any other.
"""

import math

import keras
import numpy as np
from keras import layers, ops

from mnistgen_tf.errors import MnistgenError
from mnistgen_tf.models.terms import TermsTrainer

IMAGE_SHAPE = (28, 28, 1)
TIMESTEPS = 1000
SCHEDULES = ("linear", "cosine")
TIME_FEATURES = 64


def noise_schedule(name, timesteps=TIMESTEPS):
    """β_1..β_T (float64) of schedule `name`."""
    if name == "linear":  # Ho et al.'s 1e-4 to 0.02 are for T = 1000; scaled by 1000 / T for other T,
        scale = 1000 / timesteps  # and clipped below 1 (for small T), as the cosine schedule is
        return np.clip(np.linspace(scale * 1e-4, scale * 0.02, timesteps, dtype=np.float64), 0, 0.999)
    if name == "cosine":
        s = 0.008
        f = np.cos((np.arange(timesteps + 1) / timesteps + s) / (1 + s) * math.pi / 2) ** 2
        return np.clip(1 - f[1:] / f[:-1], 0, 0.999)
    raise ValueError(f"schedule must be one of {SCHEDULES}, got {name!r}")


def alpha_bars(betas):
    """ᾱ_t = Π_{s<=t} (1 - β_s) for t = 1..T."""
    return np.cumprod(1.0 - np.asarray(betas, np.float64))


def sampling_steps(timesteps, steps):
    """The S steps τ_1 < ... < τ_S (0-based, the last T - 1) a sampler visits, evenly spaced."""
    if not 1 <= steps <= timesteps:
        raise ValueError(f"sampling steps must be between 1 and {timesteps}, got {steps}")
    # Spaced down from T - 1, so even a single step starts from pure noise.
    return np.unique(np.round(np.linspace(timesteps - 1, 0, steps)).astype(np.int64))


# ---------------------------------------------------------------- the noise predictor

@keras.saving.register_keras_serializable(package="mnistgen")
class TimeFeatures(layers.Layer):
    """Sinusoidal features of the step (Vaswani et al.'s positions), as in Ho's U-Net."""

    def __init__(self, features=TIME_FEATURES, **kwargs):
        super().__init__(**kwargs)
        self.features = features

    def call(self, t):
        half = self.features // 2
        frequencies = ops.exp(-math.log(10_000.0) * ops.arange(half, dtype="float32") / half)
        angles = ops.expand_dims(ops.cast(t, "float32"), -1) * frequencies
        return ops.concatenate([ops.sin(angles), ops.cos(angles)], axis=-1)

    def compute_output_shape(self, input_shape):
        return (*input_shape, self.features)

    def get_config(self):
        return {**super().get_config(), "features": self.features}


def _res_block(x, time, channels, name):
    h = layers.GroupNormalization(8, name=f"{name}_norm1")(x)
    h = layers.Conv2D(channels, 3, padding="same", name=f"{name}_conv1")(layers.Activation("swish")(h))
    h = h + layers.Reshape((1, 1, channels))(layers.Dense(channels, name=f"{name}_time")(time))
    h = layers.GroupNormalization(8, name=f"{name}_norm2")(h)
    h = layers.Conv2D(channels, 3, padding="same", name=f"{name}_conv2")(layers.Activation("swish")(h))
    if x.shape[-1] != channels:
        x = layers.Conv2D(channels, 1, name=f"{name}_skip")(x)
    return x + h


def build_unet(base_channels=32, name="unet"):
    """ε_θ: inputs ``x`` (28, 28, 1) and integer step ``t`` (0-based) -> predicted noise.

    Three resolutions (28, 14, 7) with base, 2× and 2× channels, one residual
    block each way, skip connections across; the step enters every block.
    """
    x_in = keras.Input(IMAGE_SHAPE, name="x")
    t_in = keras.Input((), dtype="int32", name="t")
    time = TimeFeatures(name="time_features")(t_in)
    time = layers.Dense(4 * base_channels, activation="swish", name="time_dense1")(time)
    time = layers.Dense(4 * base_channels, activation="swish", name="time_dense2")(time)
    widths = (base_channels, 2 * base_channels, 2 * base_channels)

    x = layers.Conv2D(base_channels, 3, padding="same", name="stem")(x_in)
    skips = []
    for level, width in enumerate(widths):
        x = _res_block(x, time, width, f"down{level}")
        skips.append(x)
        if level < len(widths) - 1:
            x = layers.Conv2D(width, 3, strides=2, padding="same", name=f"downsample{level}")(x)
    x = _res_block(x, time, widths[-1], "middle")
    for level in reversed(range(len(widths))):
        x = _res_block(layers.Concatenate()([x, skips[level]]), time, widths[level], f"up{level}")
        if level > 0:
            x = layers.UpSampling2D(2, name=f"upsample{level}")(x)
            x = layers.Conv2D(widths[level - 1], 3, padding="same", name=f"upsample{level}_conv")(x)
    x = layers.Activation("swish")(layers.GroupNormalization(8, name="out_norm")(x))
    eps = layers.Conv2D(1, 3, padding="same", kernel_initializer="zeros", name="noise")(x)
    return keras.Model([x_in, t_in], eps, name=name)


# ---------------------------------------------------------------- training

@keras.saving.register_keras_serializable(package="mnistgen")
class DiffusionNoise(layers.Layer):
    """Draws (t, ε) for a batch of images: t uniform over 0..T-1, ε ~ N(0, I).

    Its generator's position is saved with the layer, so a resumed run draws
    what an uninterrupted one would (as `GaussianSample`).
    """

    def __init__(self, timesteps=TIMESTEPS, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.timesteps, self.seed = timesteps, seed
        self.generator = keras.random.SeedGenerator(seed)

    def call(self, x):
        batch = ops.shape(x)[0]
        t = keras.random.randint((batch,), 0, self.timesteps, dtype="int32", seed=self.generator)
        return t, keras.random.normal(ops.shape(x), seed=self.generator)

    def save_own_variables(self, store):
        store["noise_state"] = keras.ops.convert_to_numpy(self.generator.state.value)

    def load_own_variables(self, store):
        if "noise_state" in store:
            self.generator.state.assign(store["noise_state"])

    def get_config(self):
        return {**super().get_config(), "timesteps": self.timesteps, "seed": self.seed}


def diffuse(x0, t, eps, alpha_bar):
    """x_t = √ᾱ_t x_0 + √(1 - ᾱ_t) ε: a draw of q(x_t | x_0) given the noise; `t` 0-based, one per image."""
    a = ops.reshape(ops.take(alpha_bar, t), (-1, 1, 1, 1))
    return ops.sqrt(a) * x0 + ops.sqrt(1.0 - a) * eps


@keras.saving.register_keras_serializable(package="mnistgen")
class DDPM(TermsTrainer):
    """The trainer: ε-prediction on batches ``{"image", ...}`` in [0, 1] (scaled to [-1, 1] here).

    Besides the trained U-Net it keeps ``ema_unet``, an exponential moving
    average of its weights (after every step: average ← ema · average +
    (1 − ema) · weights), as Ho et al. do: validation and sampling use the
    average, which smooths out the noise of the last steps' updates (without
    it, samples came out speckled).  The decay warms up as
    min(ema, (1 + n) / (10 + n)) after n steps, so a short run's average is
    not still mostly the initial network.  ``ema=0`` makes the average the
    weights.  Its parameters are a copy, not counted by `count_params`.
    """

    def __init__(self, schedule="linear", timesteps=TIMESTEPS, base_channels=32, ema=0.999, seed=None, **kwargs):
        super().__init__(("loss",), **kwargs)
        self.schedule, self.timesteps, self.base_channels, self.seed = schedule, timesteps, base_channels, seed
        self.ema = ema
        self.alpha_bar = ops.convert_to_tensor(alpha_bars(noise_schedule(schedule, timesteps)), "float32")
        self.unet = build_unet(base_channels)
        self.ema_unet = build_unet(base_channels, name="ema_unet")
        self.ema_unet.trainable = False
        self.ema_unet.set_weights(self.unet.get_weights())
        self.train_noise = DiffusionNoise(timesteps, seed, name="train_noise")
        # Validation draws from its own stream, so it never shifts the training noise.
        self.val_noise = DiffusionNoise(timesteps, None if seed is None else seed + 1, name="val_noise")

    def build(self, input_shape=None):
        self.built = True  # the U-Net is a Functional model, built when made

    def terms(self, data, training):
        x0 = data["image"] * 2.0 - 1.0
        t, eps = (self.train_noise if training else self.val_noise)(x0)
        unet = self.unet if training else self.ema_unet
        predicted = unet([diffuse(x0, t, eps, self.alpha_bar), t], training=training)
        return {"loss": ops.mean(ops.square(predicted - eps))}

    def train_step(self, data):
        logs = super().train_step(data)
        steps = ops.cast(self.optimizer.iterations, "float32")  # already counts this step
        decay = ops.minimum(self.ema, steps / (9.0 + steps))
        for average, weight in zip(self.ema_unet.weights, self.unet.weights):
            average.assign(decay * average + (1.0 - decay) * weight)
        return logs

    def count_params(self):
        return super().count_params() - self.ema_unet.count_params()

    def get_config(self):
        return {**super().get_config(), "schedule": self.schedule, "timesteps": self.timesteps,
                "base_channels": self.base_channels, "ema": self.ema, "seed": self.seed}

    @classmethod
    def from_config(cls, config):
        if "ema" not in config:  # every DDPM saved since it averaged its weights has it
            raise MnistgenError("this DDPM trainer was saved before the kit averaged its weights (no ema_unet); "
                                "it cannot be resumed: retrain the run (its generator.keras still loads)")
        return cls(**config)


# ---------------------------------------------------------------- sampling

@keras.saving.register_keras_serializable(package="mnistgen")
class ReverseDiffusion(layers.Layer):
    """x_T (the generator's ``z``) -> an image in [0, 1], by `steps` reverse steps of the module's update.

    Args:
        unet: the trained ε_θ.
        schedule, timesteps: the forward process it was trained on.
        steps: S, how many of the T steps the sampler visits.
        eta: 1: DDPM (stochastic); 0: DDIM (deterministic given x_T).
        seed: seed of the per-step noise (used when eta > 0).
    """

    def __init__(self, unet, schedule="linear", timesteps=TIMESTEPS, steps=TIMESTEPS, eta=1.0, seed=None,
                 **kwargs):
        super().__init__(**kwargs)
        if isinstance(unet, dict):
            unet = keras.saving.deserialize_keras_object(unet)
        self.unet, self.schedule, self.timesteps, self.steps, self.eta, self.seed = (
            unet, schedule, timesteps, steps, eta, seed)
        tau = sampling_steps(timesteps, steps)
        a = alpha_bars(noise_schedule(schedule, timesteps))
        previous = np.concatenate([[1.0], a[tau[:-1]]])  # ᾱ of the step each one leads to; 1 after the last
        sigma = eta * np.sqrt((1 - previous) / (1 - a[tau]) * (1 - a[tau] / previous))
        # Visited last to first: index i of these tables is the i-th step of the loop.
        self._tables = {name: ops.convert_to_tensor(values[::-1].copy(), dtype)
                        for name, values, dtype in (("t", tau, "int32"), ("a", a[tau], "float32"),
                                                    ("a_prev", previous, "float32"), ("sigma", sigma, "float32"))}
        self.noise = keras.random.SeedGenerator(seed)

    def step(self, x, i, noise):
        """One reverse step from x at loop index `i`; `noise` is z (ignored where σ = 0)."""
        tables = self._tables
        a, a_prev, sigma = (ops.take(tables[k], i) for k in ("a", "a_prev", "sigma"))
        t = ops.full((ops.shape(x)[0],), ops.take(tables["t"], i), dtype="int32")
        eps = self.unet([x, t], training=False)
        x0 = ops.clip((x - ops.sqrt(1.0 - a) * eps) / ops.sqrt(a), -1.0, 1.0)
        eps = (x - ops.sqrt(a) * x0) / ops.sqrt(1.0 - a)  # the noise the clipped x̂_0 implies
        return ops.sqrt(a_prev) * x0 + ops.sqrt(ops.maximum(1.0 - a_prev - sigma**2, 0.0)) * eps + sigma * noise

    def call(self, z):
        def body(i, x):
            noise = keras.random.normal(ops.shape(x), seed=self.noise) if self.eta > 0 else ops.zeros_like(x)
            return self.step(x, i, noise)

        x = ops.fori_loop(0, len(sampling_steps(self.timesteps, self.steps)), body, z)
        return ops.clip((x + 1.0) / 2.0, 0.0, 1.0)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "unet": keras.saving.serialize_keras_object(self.unet),
                "schedule": self.schedule, "timesteps": self.timesteps, "steps": self.steps, "eta": self.eta,
                "seed": self.seed}


def build_sampler(unet, schedule, timesteps=TIMESTEPS, steps=50, eta=0.0, seed=None):
    """The generator: input ``z`` = x_T ~ N(0, I) of shape (28, 28, 1) -> images in [0, 1].

    ``steps=T, eta=1`` is the DDPM sampler; the default, 50 DDIM steps, is 20× faster.
    """
    z = keras.Input(IMAGE_SHAPE, name="z")
    sampler = ReverseDiffusion(unet, schedule, timesteps, steps, eta, seed, name="reverse_diffusion")
    return keras.Model(z, sampler(z), name=f"ddpm_{'ddim' if eta == 0 else 'ddpm'}{steps}")


def with_sampler(generator, steps, eta):
    """The same trained U-Net behind another sampler (e.g. from a saved generator: 1,000 DDPM steps)."""
    old = generator.get_layer("reverse_diffusion")
    return build_sampler(old.unet, old.schedule, old.timesteps, steps, eta, old.seed)
