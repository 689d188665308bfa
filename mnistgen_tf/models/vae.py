"""A convolutional VAE (seed 003), its β-VAE and its conditional form, the CVAE (seed 004).

Encoder: Conv 32 and Conv 64 (3×3, stride 2: 28 -> 14 -> 7), Flatten, Dense
256, then the mean and log-variance of a diagonal Gaussian over ``latent_dim``
units.  Decoder: Dense 256, Dense 64·7·7, Conv2DTranspose 64 and 32 (stride 2:
7 -> 14 -> 28), and a sigmoid Conv2DTranspose to one channel.  Conditional:
the one-hot digit joins the flattened features in the encoder and the code in
the decoder.

Loss per image, in nats::

    reconstruction(x, x̂) + beta · KL(q(z | x) || N(0, I))

with the reconstruction summed over pixels: binary cross-entropy (``bce``;
with ``beta = 1`` the loss is the negative ELBO) or the squared error
``‖x − x̂‖²`` (``l2``, seed 004's formula).  ``beta > 1`` is the β-VAE.
On grey (not binarised) images the BCE cannot fall below the images' own
entropy, so the loss is then a negative ELBO in name, not a bound on
−log p(x).
"""

import keras
from keras import layers, ops

from mnistgen_tf.layers.sampling import GaussianSample
from mnistgen_tf.losses import kl_divergence
from mnistgen_tf.models.terms import TermsTrainer

IMAGE_SHAPE = (28, 28, 1)
RECONSTRUCTIONS = ("bce", "l2")
TERMS = ("loss", "reconstruction", "kl")


def _label_input():
    label = keras.Input((), dtype="int32", name="label")
    return label, layers.CategoryEncoding(10, output_mode="one_hot", name="one_hot")(label)


def build_encoder(latent_dim, conditional=False, width=1, depth=1, name="encoder"):
    """Image (and digit) -> the mean and log-variance of q(z | x).

    ``width`` multiplies the filters and hidden units; ``depth`` is the number
    of convolutions per resolution (the first of each strided).
    """
    image = keras.Input(IMAGE_SHAPE, name="image")
    x = image
    for i, filters in enumerate((32 * width, 64 * width)):
        x = layers.Conv2D(filters, 3, strides=2, padding="same", activation="relu", name=f"conv{i + 1}")(x)
        for j in range(1, depth):
            x = layers.Conv2D(filters, 3, padding="same", activation="relu", name=f"conv{i + 1}_{j + 1}")(x)
    x = layers.Flatten(name="flatten")(x)
    inputs = [image]
    if conditional:
        label, one_hot = _label_input()
        inputs.append(label)
        x = layers.Concatenate(name="with_label")([x, one_hot])
    x = layers.Dense(256 * width, activation="relu", name="hidden")(x)
    outputs = [layers.Dense(latent_dim, name="z_mean")(x), layers.Dense(latent_dim, name="z_log_var")(x)]
    return keras.Model(inputs if conditional else image, outputs, name=name)


def build_decoder(latent_dim, conditional=False, width=1, depth=1, name="decoder"):
    """Code ``z`` (and ``label``) -> a 28×28×1 image in (0, 1); `width` and `depth` as the encoder's."""
    z = keras.Input((latent_dim,), name="z")
    x, inputs = z, [z]
    if conditional:
        label, one_hot = _label_input()
        inputs.append(label)
        x = layers.Concatenate(name="with_label")([z, one_hot])
    x = layers.Dense(256 * width, activation="relu", name="hidden")(x)
    x = layers.Dense(64 * width * 7 * 7, activation="relu", name="grow")(x)
    x = layers.Reshape((7, 7, 64 * width), name="grid")(x)
    for i, filters in enumerate((64 * width, 32 * width)):
        x = layers.Conv2DTranspose(filters, 3, strides=2, padding="same", activation="relu", name=f"up{i + 1}")(x)
        for j in range(1, depth):
            x = layers.Conv2D(filters, 3, padding="same", activation="relu", name=f"up{i + 1}_{j + 1}")(x)
    image = layers.Conv2DTranspose(1, 3, padding="same", activation="sigmoid", name="image")(x)
    return keras.Model(inputs if conditional else z, image, name=name)


@keras.saving.register_keras_serializable(package="mnistgen")
class VAE(TermsTrainer):
    """The trainer; batches are ``{"image", "label"}`` (the label is read only when conditional).

    Args:
        latent_dim: size of the code.
        beta: weight of the KL (1: the VAE; above 1: the β-VAE).
        reconstruction: ``"bce"`` or ``"l2"``, summed over pixels.
        conditional: condition encoder and decoder on the digit (the CVAE).
        width, depth: the networks' size (`build_encoder`); 1 and 1 are seed 003's.
        seed: seed of the sampled codes.
    """

    def __init__(self, latent_dim=16, beta=1.0, reconstruction="bce", conditional=False, width=1, depth=1, seed=None,
                 **kwargs):
        super().__init__(TERMS, **kwargs)
        if reconstruction not in RECONSTRUCTIONS:
            raise ValueError(f"reconstruction must be one of {RECONSTRUCTIONS}, got {reconstruction!r}")
        self.latent_dim, self.beta, self.reconstruction = latent_dim, beta, reconstruction
        self.conditional, self.width, self.depth, self.seed = conditional, width, depth, seed
        self.encoder = build_encoder(latent_dim, conditional, width, depth)
        self.decoder = build_decoder(latent_dim, conditional, width, depth)
        self.sample_code = GaussianSample(seed, name="sample_code")

    def build(self, input_shape=None):
        self.built = True  # encoder and decoder are Functional models, built when made

    def _with_label(self, x, data):
        return [x, data["label"]] if self.conditional else x

    def call(self, data, training=False):
        """Reconstruction, mean and log-variance; the code is sampled while training, the mean otherwise."""
        mean, log_var = self.encoder(self._with_label(data["image"], data))
        code = self.sample_code([mean, log_var]) if training else mean
        return self.decoder(self._with_label(code, data)), mean, log_var

    def terms(self, data, training=False):
        """The loss and its two parts per image, averaged over the batch, for `data`.

        Validation samples the code too, so its loss is the (one-sample) negative ELBO.
        """
        x = data["image"]
        mean, log_var = self.encoder(self._with_label(x, data))
        x_hat = self.decoder(self._with_label(self.sample_code([mean, log_var]), data))
        if self.reconstruction == "bce":
            per_pixel = keras.losses.binary_crossentropy(x[..., None], x_hat[..., None])  # keep every pixel
        else:
            per_pixel = ops.square(x - x_hat)
        reconstruction = ops.mean(ops.sum(ops.reshape(per_pixel, (ops.shape(x)[0], -1)), axis=-1))
        kl = ops.mean(kl_divergence(mean, log_var))
        return {"loss": reconstruction + self.beta * kl, "reconstruction": reconstruction, "kl": kl}

    def get_config(self):
        return {**super().get_config(), "latent_dim": self.latent_dim, "beta": self.beta,
                "reconstruction": self.reconstruction, "conditional": self.conditional, "width": self.width,
                "depth": self.depth, "seed": self.seed}


def build_generator(vae):
    """The trained decoder as the kit's generator: inputs ``z`` (and ``label``) -> images in [0, 1]."""
    return vae.decoder
