"""Completing digits with missing pixels (seed 004's "x̂_full = argmax_x p(x | x_observed)").

A mask is 1 where a pixel is observed and 0 where it is missing (`observed_mask`).
Three ways to fill the missing pixels, each returning images whose observed
pixels are exactly the input's:

- `mean_fill`: the per-pixel mean of the training images (the baseline);
- `vae_fill`: a VAE decoder's code fitted to the observed pixels: gradient
  steps (Adam) on ``z`` that minimise the BCE of the observed pixels plus
  ``‖z‖² / 2``, the negative log-posterior of z given what is seen; several
  random starts give several completions;
- `ddpm_fill`: a trained DDPM's reverse chain, with the observed pixels put
  back at the noise level of each step (RePaint, Lugmayr et al. 2022, without
  its resampling jumps).
"""

import keras
import numpy as np
import tensorflow as tf

from mnistgen_tf import data
from mnistgen_tf.errors import MnistgenError

SIZE = 28
MASKS = ("bottom_half", "left_half", "centre_square", "random_half")
DEFAULT_STEPS = {"vae": 300, "ddpm": 50}  # Adam steps on the code; reverse steps of the chain


def observed_mask(name, n, seed=0):
    """(n, 28, 28, 1) float32: 1 where a pixel is observed, 0 where it is missing.

    ``bottom_half``: rows 14-27 missing; ``left_half``: columns 0-13;
    ``centre_square``: the centred 14×14 square (rows and columns 7-20);
    ``random_half``: half of the pixels of each image, chosen at random (`seed`).
    """
    mask = np.ones((n, SIZE, SIZE, 1), np.float32)
    half, quarter = SIZE // 2, SIZE // 4
    if name == "bottom_half":
        mask[:, half:] = 0
    elif name == "left_half":
        mask[:, :, :half] = 0
    elif name == "centre_square":
        mask[:, quarter:quarter + half, quarter:quarter + half] = 0
    elif name == "random_half":
        rng = np.random.default_rng(seed)
        order = rng.random((n, SIZE * SIZE)).argsort(axis=1)
        flat = mask.reshape(n, -1)
        np.put_along_axis(flat, order[:, : SIZE * SIZE // 2], 0.0, axis=1)
    else:
        raise MnistgenError(f"unknown mask {name!r}; choose one of {', '.join(MASKS)}")
    return mask


def _check(images, mask):
    images = np.asarray(images, np.float32)
    if images.ndim == 3:
        images = images[..., None]
    if images.shape[1:] != (SIZE, SIZE, 1):
        raise MnistgenError(f"images of shape {images.shape[1:]} given; inpainting reads 28x28 grey digits")
    if mask.shape != images.shape:
        raise MnistgenError(f"mask of shape {mask.shape} for images of shape {images.shape}")
    return images


def composite(images, mask, completion):
    """The observed pixels of `images`, the missing ones from `completion`."""
    return mask * images + (1.0 - mask) * completion


def mean_fill(images, mask, train_mean):
    """The baseline: every missing pixel set to its mean over the training images (28, 28, 1)."""
    images = _check(images, mask)
    return composite(images, mask, np.broadcast_to(train_mean, images.shape))


def vae_fill(decoder, images, mask, completions=1, steps=300, learning_rate=0.05, seed=0, batch_size=1000):
    """(completions, n, 28, 28, 1): the decoder's images from codes fitted to the observed pixels.

    Each completion starts from its own ``z ~ N(0, I)``; `steps` Adam steps then
    minimise the observed pixels' BCE summed over pixels plus ``‖z‖² / 2``.
    """
    images = _check(images, mask)
    latent = decoder.inputs[0].shape[1:]
    rng = np.random.default_rng(seed)
    out = np.empty((completions, *images.shape), np.float32)
    for c in range(completions):
        for start in range(0, len(images), batch_size):
            x, m = images[start:start + batch_size], mask[start:start + batch_size]
            z = tf.Variable(rng.standard_normal((len(x), *latent)).astype(np.float32))
            _fit_codes(decoder, tf.constant(x), tf.constant(m), z, steps, learning_rate)
            out[c, start:start + len(x)] = composite(x, m, decoder.predict(data.batches(z.numpy()), verbose=0))
    return out


def _fit_codes(decoder, x, m, z, steps, learning_rate):
    optimizer = keras.optimizers.Adam(learning_rate)

    @tf.function
    def step():
        with tf.GradientTape() as tape:
            p = tf.clip_by_value(decoder(z, training=False), 1e-6, 1 - 1e-6)
            bce = -(x * tf.math.log(p) + (1 - x) * tf.math.log(1 - p))
            loss = tf.reduce_sum(m * bce) + 0.5 * tf.reduce_sum(tf.square(z))  # summed: each code its own
        optimizer.apply_gradients([(tape.gradient(loss, z), z)])

    for _ in range(steps):
        step()


def ddpm_fill(generator, images, mask, completions=1, steps=50, seed=0, batch_size=500):
    """(completions, n, 28, 28, 1) from a saved DDPM generator's U-Net, RePaint-style.

    The chain visits `steps` of the T steps (at most T) with Ho et al.'s
    stochastic update (η = 1); before each step the observed pixels are
    replaced by a fresh draw of q(x_t | x_0) at that step's noise level, so
    the model only invents the missing ones.
    """
    from mnistgen_tf.models.ddpm import ReverseDiffusion, alpha_bars, noise_schedule, sampling_steps

    images = _check(images, mask)
    trained = generator.get_layer("reverse_diffusion")
    if not 1 <= steps <= trained.timesteps:
        raise MnistgenError(f"the DDPM has {trained.timesteps} steps; inpainting can visit 1 to "
                            f"{trained.timesteps} of them, not {steps}")
    chain = ReverseDiffusion(trained.unet, trained.schedule, trained.timesteps, steps, eta=1.0, seed=seed)
    tau = sampling_steps(trained.timesteps, steps)[::-1]  # the loop's order, last step first
    a = alpha_bars(noise_schedule(trained.schedule, trained.timesteps))[tau].astype(np.float32)
    rng = np.random.default_rng(seed)
    step = tf.function(chain.step)
    out = np.empty((completions, *images.shape), np.float32)
    for c in range(completions):
        for start in range(0, len(images), batch_size):
            x0 = images[start:start + batch_size] * 2.0 - 1.0
            m = mask[start:start + batch_size]
            x = rng.standard_normal(x0.shape).astype(np.float32)
            for i in range(len(tau)):
                known = np.sqrt(a[i]) * x0 + np.sqrt(1 - a[i]) * rng.standard_normal(x0.shape)
                x = composite(known.astype(np.float32), m, x)
                noise = rng.standard_normal(x0.shape).astype(np.float32)
                x = step(tf.constant(x), tf.constant(i), tf.constant(noise)).numpy()
            out[c, start:start + len(x0)] = composite(images[start:start + len(x0)], m, np.clip(x, -1, 1) / 2 + 0.5)
    return out


def method_of(generator):
    """``"ddpm"`` for a DDPM's generator, ``"vae"`` for a decoder of one flat code ``z``.

    Code fitting is meant for a VAE's decoder, whose codes follow N(0, I);
    any other decoder of one flat code (an AE's, a GAN's) is fitted the same
    way, the ‖z‖²/2 term then only a regulariser.
    """
    if any(layer.name == "reverse_diffusion" for layer in generator.layers):
        return "ddpm"
    if len(generator.inputs) == 1 and generator.inputs[0].name == "z" and len(generator.inputs[0].shape) == 2:
        return "vae"
    raise MnistgenError(f"{generator.name} is neither a DDPM nor a decoder of one flat code z; inpainting "
                        "uses one of those")


def complete(images, mask, generator=None, completions=1, steps=None, seed=0):
    """(completions, n, 28, 28, 1): `images` completed by `generator` (see `method_of`), or by the
    training mean (one completion) when there is none."""
    if generator is None:
        from mnistgen_tf import data

        return mean_fill(images, mask, data.to_float(data.load("mnist", "train")[0]).mean(axis=0))[None]
    method = method_of(generator)
    if method == "vae":
        return vae_fill(generator, images, mask, completions, steps or DEFAULT_STEPS["vae"], seed=seed)
    timesteps = generator.get_layer("reverse_diffusion").timesteps
    return ddpm_fill(generator, images, mask, completions, steps or min(DEFAULT_STEPS["ddpm"], timesteps), seed=seed)
