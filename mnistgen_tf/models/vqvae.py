"""Seed 004's VQ-VAE (van den Oord et al. 2017) with a PixelCNN prior over its code grid.

Encoder: Conv 32 and 64 (stride 2: 28 -> 14 -> 7) and a 1×1 Conv to
``embedding_dim``; each of the 7×7 vectors z_e is replaced by its nearest of
``num_embeddings`` codebook vectors e (`VectorQuantizer`), with the
straight-through estimator z_e + sg[e − z_e] carrying the decoder's gradient
to the encoder.  Decoder: Conv2DTranspose 64 and 32 back to 28×28, sigmoid.
The loss is the seed's, per image::

    BCE(x, x̂) summed over pixels + ‖sg[z_e] − e‖² + β ‖z_e − sg[e]‖²

(the codebook and commitment terms summed over the grid, β = 0.25).  With
``ema=True`` the codebook follows exponential moving averages of the
vectors assigned to it (the paper's appendix) and the codebook term goes.

Sampling needs a prior over the 7×7 grid of code indices: a PixelCNN
(masked convolutions, van den Oord et al. 2016) learns p(k_i | k_<i).  It
trains in the same steps as the VQ-VAE, on the current codes through a
stop-gradient, so it follows them as they settle; it never moves the
VQ-VAE.  The saved generator (`build_sampler`) draws the grid position by
position inside the model (`keras.ops.fori_loop`) and decodes it.  Its
input ``z`` (7, 7, K) of standard normals drives the draws by the
Gumbel-max trick, so a given z always gives the same image.
"""

import keras
import numpy as np
from keras import layers, ops

from mnistgen_tf.models.terms import TermsTrainer

IMAGE_SHAPE = (28, 28, 1)
GRID = 7
TERMS = ("loss", "reconstruction", "codebook", "commitment", "prior")


def build_encoder(embedding_dim, name="encoder"):
    image = keras.Input(IMAGE_SHAPE, name="image")
    x = layers.Conv2D(32, 3, strides=2, padding="same", activation="relu", name="conv1")(image)
    x = layers.Conv2D(64, 3, strides=2, padding="same", activation="relu", name="conv2")(x)
    return keras.Model(image, layers.Conv2D(embedding_dim, 1, name="z_e")(x), name=name)


def build_decoder(embedding_dim, name="decoder"):
    codes = keras.Input((GRID, GRID, embedding_dim), name="codes")
    x = layers.Conv2DTranspose(64, 3, strides=2, padding="same", activation="relu", name="deconv1")(codes)
    x = layers.Conv2DTranspose(32, 3, strides=2, padding="same", activation="relu", name="deconv2")(x)
    return keras.Model(codes, layers.Conv2D(1, 3, padding="same", activation="sigmoid", name="image")(x), name=name)


@keras.saving.register_keras_serializable(package="mnistgen")
class VectorQuantizer(layers.Layer):
    """z_e (…, D) -> (z_q with the straight-through gradient, the codebook indices).

    With ``ema`` the codebook is not trained by gradients: `update_ema`
    moves each vector towards the mean of the z_e assigned to it.
    """

    def __init__(self, num_embeddings, embedding_dim, ema=False, decay=0.99, **kwargs):
        super().__init__(**kwargs)
        self.num_embeddings, self.embedding_dim, self.ema, self.decay = num_embeddings, embedding_dim, ema, decay
        self.codebook = self.add_weight(shape=(num_embeddings, embedding_dim), name="codebook",
                                        initializer=keras.initializers.RandomUniform(-1 / num_embeddings,
                                                                                     1 / num_embeddings),
                                        trainable=not ema)
        if ema:  # running cluster sizes and sums (the codebook is their ratio)
            self.cluster_size = self.add_weight(shape=(num_embeddings,), initializer="zeros", trainable=False,
                                                name="cluster_size")
            self.cluster_sum = self.add_weight(shape=(num_embeddings, embedding_dim), trainable=False,
                                               initializer="zeros", name="cluster_sum")

    def indices(self, z_e):
        flat = ops.reshape(z_e, (-1, self.embedding_dim))
        distances = (ops.sum(flat**2, axis=1, keepdims=True) - 2 * ops.matmul(flat, ops.transpose(self.codebook))
                     + ops.sum(self.codebook**2, axis=1))
        return ops.reshape(ops.argmin(distances, axis=1), ops.shape(z_e)[:-1])

    def lookup(self, indices):
        return ops.take(self.codebook, indices, axis=0)

    def call(self, z_e):
        indices = self.indices(z_e)
        z_q = self.lookup(indices)
        return z_e + ops.stop_gradient(z_q - z_e), indices

    def update_ema(self, z_e, indices):
        """One EMA step of the codebook towards the z_e assigned to each vector (Laplace-smoothed sizes)."""
        one_hot = ops.reshape(ops.one_hot(indices, self.num_embeddings), (-1, self.num_embeddings))
        flat = ops.reshape(ops.stop_gradient(z_e), (-1, self.embedding_dim))
        self.cluster_size.assign(self.decay * self.cluster_size + (1 - self.decay) * ops.sum(one_hot, axis=0))
        self.cluster_sum.assign(self.decay * self.cluster_sum + (1 - self.decay) * ops.matmul(ops.transpose(one_hot), flat))
        n = ops.sum(self.cluster_size)
        size = (self.cluster_size + 1e-5) / (n + self.num_embeddings * 1e-5) * n
        # A vector no batch has used yet keeps its initial value (distinct, so it can still be picked)
        # instead of the zero its empty running sum would give.
        used = ops.expand_dims(self.cluster_size > 1e-3, -1)
        self.codebook.assign(ops.where(used, self.cluster_sum / ops.expand_dims(size, -1), self.codebook))

    def get_config(self):
        return {**super().get_config(), "num_embeddings": self.num_embeddings, "embedding_dim": self.embedding_dim,
                "ema": self.ema, "decay": self.decay}


@keras.saving.register_keras_serializable(package="mnistgen")
class MaskedConv2D(layers.Conv2D):
    """A convolution that sees only the pixels before the centre in raster order (``mask_type`` "A"),
    or those and the centre ("B"): the PixelCNN's causality."""

    def __init__(self, mask_type, filters, kernel_size, **kwargs):
        super().__init__(filters, kernel_size, padding="same", **kwargs)
        self.mask_type = mask_type

    def build(self, input_shape):
        super().build(input_shape)
        kh, kw = self.kernel_size
        mask = np.zeros(self.kernel.shape, np.float32)
        mask[: kh // 2] = 1
        mask[kh // 2, : kw // 2 + (self.mask_type == "B")] = 1
        self.mask = ops.convert_to_tensor(mask)

    def convolution_op(self, inputs, kernel):
        return super().convolution_op(inputs, kernel * self.mask)

    def get_config(self):
        config = super().get_config()
        config.pop("padding")
        return {**config, "mask_type": self.mask_type}


def build_prior(num_embeddings, filters=64, layers_b=4, name="prior"):
    """PixelCNN over the 7×7 grid of code indices: indices -> logits (7, 7, K) of p(k_i | k_<i)."""
    indices = keras.Input((GRID, GRID), dtype="int32", name="indices")
    x = layers.Embedding(num_embeddings, filters, name="embedding")(indices)
    x = layers.Activation("relu")(MaskedConv2D("A", filters, 7, name="masked_a")(x))
    for i in range(layers_b):
        h = layers.Activation("relu")(MaskedConv2D("B", filters, 3, name=f"masked_b{i}")(x))
        x = x + h  # residual, as in keras-io's PixelCNN
    x = layers.Activation("relu")(layers.Conv2D(filters, 1, name="mix")(x))
    return keras.Model(indices, layers.Conv2D(num_embeddings, 1, name="logits")(x), name=name)


@keras.saving.register_keras_serializable(package="mnistgen")
class VQVAE(TermsTrainer):
    """The trainer: VQ-VAE and its prior, on batches ``{"image", ...}`` in [0, 1]."""

    def __init__(self, num_embeddings=64, embedding_dim=16, commitment=0.25, ema=False, prior_filters=64,
                 **kwargs):
        super().__init__(TERMS, **kwargs)
        self.num_embeddings, self.embedding_dim, self.commitment, self.ema, self.prior_filters = (
            num_embeddings, embedding_dim, commitment, ema, prior_filters)
        self.encoder = build_encoder(embedding_dim)
        self.quantizer = VectorQuantizer(num_embeddings, embedding_dim, ema=ema, name="quantizer")
        self.decoder = build_decoder(embedding_dim)
        self.prior = build_prior(num_embeddings, prior_filters)

    def build(self, input_shape=None):
        self.built = True  # the parts are Functional models, and the codebook is made with the quantizer

    def call(self, data, training=False):
        """Reconstruction and code indices."""
        z_q, indices = self.quantizer(self.encoder(data["image"]))
        return self.decoder(z_q), indices

    def terms(self, data, training):
        x = data["image"]
        batch = ops.cast(ops.shape(x)[0], "float32")
        z_e = self.encoder(x)
        z_q, indices = self.quantizer(z_e)
        x_hat = self.decoder(z_q)
        e = self.quantizer.lookup(indices)
        per_pixel = keras.losses.binary_crossentropy(x[..., None], x_hat[..., None])
        reconstruction = ops.sum(per_pixel) / batch
        codebook = ops.sum(ops.square(ops.stop_gradient(z_e) - e)) / batch
        commitment = ops.sum(ops.square(z_e - ops.stop_gradient(e))) / batch
        if self.ema and training:
            self.quantizer.update_ema(z_e, indices)
        logits = self.prior(ops.stop_gradient(indices), training=training)
        prior = ops.sum(keras.losses.sparse_categorical_crossentropy(indices, logits, from_logits=True)) / batch
        loss = reconstruction + self.commitment * commitment + prior + (0.0 if self.ema else codebook)
        return {"loss": loss, "reconstruction": reconstruction, "codebook": codebook, "commitment": commitment,
                "prior": prior}

    def get_config(self):
        return {**super().get_config(), "num_embeddings": self.num_embeddings, "embedding_dim": self.embedding_dim,
                "commitment": self.commitment, "ema": self.ema, "prior_filters": self.prior_filters}


def code_usage(indices, num_embeddings):
    """Perplexity exp(H) of the codebook's use over `indices` and the number of codes never used."""
    counts = np.bincount(np.asarray(indices).reshape(-1), minlength=num_embeddings)
    p = counts / counts.sum()
    entropy = -np.sum(p[p > 0] * np.log(p[p > 0]))
    return float(np.exp(entropy)), int(np.sum(counts == 0))


@keras.saving.register_keras_serializable(package="mnistgen")
class PriorSampler(layers.Layer):
    """z (7, 7, K) standard normals -> a grid of code indices drawn from the PixelCNN, position by position.

    Position i takes argmax(logits_i + g_i) with g_i = −log(−log Φ(z_i)),
    Gumbel noise made from z: a draw from softmax(logits_i), fixed by z.
    """

    def __init__(self, prior, **kwargs):
        super().__init__(**kwargs)
        if isinstance(prior, dict):
            prior = keras.saving.deserialize_keras_object(prior)
        self.prior = prior

    def call(self, z):
        uniform = ops.clip(0.5 * (1.0 + ops.erf(z / np.sqrt(2.0))), 1e-7, 1 - 1e-7)
        gumbel = -ops.log(-ops.log(uniform))
        positions = ops.reshape(ops.eye(GRID * GRID, dtype="int32"), (GRID * GRID, 1, GRID, GRID))

        def body(i, grid):
            logits = self.prior(grid, training=False)
            drawn = ops.cast(ops.argmax(logits + gumbel, axis=-1), "int32")  # every position; keep the i-th
            here = ops.take(positions, i, axis=0)
            return grid * (1 - here) + drawn * here

        start = ops.zeros(ops.shape(z)[:-1], "int32")
        return ops.fori_loop(0, GRID * GRID, body, start)

    def compute_output_shape(self, input_shape):
        return input_shape[:-1]

    def get_config(self):
        return {**super().get_config(), "prior": keras.saving.serialize_keras_object(self.prior)}


@keras.saving.register_keras_serializable(package="mnistgen")
class CodeLookup(layers.Layer):
    """Code indices -> codebook vectors, sharing the trained quantizer's codebook."""

    def __init__(self, quantizer, **kwargs):
        super().__init__(**kwargs)
        if isinstance(quantizer, dict):
            quantizer = keras.saving.deserialize_keras_object(quantizer)
        self.quantizer = quantizer

    def call(self, indices):
        return self.quantizer.lookup(indices)

    def compute_output_shape(self, input_shape):
        return (*input_shape, self.quantizer.embedding_dim)

    def get_config(self):
        return {**super().get_config(), "quantizer": keras.saving.serialize_keras_object(self.quantizer)}


def build_sampler(vqvae):
    """Prior + codebook + decoder as one generator: input ``z`` (7, 7, K) -> images in [0, 1]."""
    z = keras.Input((GRID, GRID, vqvae.num_embeddings), name="z")
    indices = PriorSampler(vqvae.prior, name="prior_sampler")(z)
    return keras.Model(z, vqvae.decoder(CodeLookup(vqvae.quantizer, name="code_lookup")(indices)), name="vqvae")
