"""DRAW without attention, and its conditional variant, as in the thesis.

At each of T steps the encoder LSTM reads ``[x, x - sigmoid(c), h_dec]``
(plus the one-hot label when conditional), a Dense pair gives the posterior
mean and log-variance of ``z_t``, a sample of ``z_t`` goes through a Dense
layer into the decoder LSTM (with the label when conditional), and a Dense
"write" of the decoder state is added to the canvas ``c``.  The image is
``sigmoid(c_T)``.

`Draw` is the trainer (a `keras.Model` with its own `train_step`);
`build_generator(draw)` wraps its `DrawWriter` -- the decoder half, shared,
not copied -- into a Functional model from noise ``z`` (and digit labels)
to images.  Both save to ``.keras`` and reload with plain
`keras.models.load_model` once `mnistgen_tf` is imported.
"""

import keras
import numpy as np
import tensorflow as tf
from keras import layers, ops

from mnistgen_tf.layers.recurrent import NUM_CLASSES, DrawWriter, lstm_step_with_known_input, make_cell, one_hot
from mnistgen_tf.layers.sampling import GaussianSample
from mnistgen_tf.losses import bce_with_logits, kl_divergence

RECONSTRUCTIONS = ("bce", "mse")
LOSS_SCALINGS = ("elbo", "thesis", "thesis_kl_mean")


@keras.saving.register_keras_serializable(package="mnistgen")
class Draw(keras.Model):
    """The DRAW variational autoencoder (the trainer).

    Inputs are batches ``{"image": (n, H, W, C) floats in [0, 1],
    "label": (n,) ints}``; the label is read only when ``conditional``.  An
    optional ``"noise"`` (n, T, z_dim) replaces the standard normal draws of
    the reparameterisation (zeros give posterior-mean reconstructions).
    Calling the model returns a dict with the final canvas ``logits``
    (n, H*W*C), every step's ``canvases`` after the sigmoid (n, T, H*W*C),
    and the posterior ``mu``, ``log_var`` and sample ``z`` of every step
    (n, T, z_dim).

    ``loss_scaling="thesis"`` trains on one reading of the thesis's loss:
    reconstruction averaged over pixels plus the KL summed over latent units,
    averaged over steps (KL weight 784/T relative to the ELBO).
    ``"thesis_kl_mean"`` is the other reading, the blog.keras.io VAE
    tutorial's ``kl_loss`` whose names the thesis uses: the KL *averaged* over
    latent units and steps (weight 784/(T·z)).  ``"elbo"`` sums the
    reconstruction over pixels and the KL over steps and units, giving the
    negative evidence lower bound in nats.

    ``cell`` is the LSTM of encoder and decoder: ``"keras"`` (`LSTMCell`) or
    ``"thesis"`` (the thesis's own, `ThesisLSTMCell`).
    """

    def __init__(self, timesteps=16, z_dim=16, units=256, shared_weights=True,
                 reconstruction="bce", conditional=False, loss_scaling="elbo",
                 image_shape=(28, 28, 1), seed=None, cell="keras", **kwargs):
        super().__init__(**kwargs)
        if reconstruction not in RECONSTRUCTIONS:
            raise ValueError(f"reconstruction must be one of {RECONSTRUCTIONS}, got {reconstruction!r}")
        if loss_scaling not in LOSS_SCALINGS:
            raise ValueError(f"loss_scaling must be one of {LOSS_SCALINGS}, got {loss_scaling!r}")
        self.timesteps = timesteps
        self.z_dim = z_dim
        self.units = units
        self.shared_weights = shared_weights
        self.reconstruction = reconstruction
        self.conditional = conditional
        self.loss_scaling = loss_scaling
        self.image_shape = tuple(image_shape)
        self.seed = seed
        self.cell = cell
        self.writer = DrawWriter(timesteps, z_dim, units, self.image_shape,
                                 shared_weights, conditional, cell, name="writer")
        steps = range(timesteps)
        self.encoder_cells = [make_cell(cell, units, name=f"encoder_lstm_{t}")
                              for t in (range(1) if shared_weights else steps)]
        self.mu_dense = [layers.Dense(z_dim, name=f"z_mean_{t}") for t in steps]
        self.log_var_dense = [layers.Dense(z_dim, name=f"z_log_var_{t}") for t in steps]
        self.sample_z = GaussianSample(seed, name="sample_z")
        self.trackers = {name: keras.metrics.Mean(name=name)
                         for name in ("loss", "reconstruction", "kl")}

    def build(self, input_shape=None):
        pixels = self.writer.pixels
        for cell in self.encoder_cells:
            cell.build((None, 2 * pixels + self.units + NUM_CLASSES * self.conditional))
        for dense in self.mu_dense + self.log_var_dense:
            dense.build((None, self.units))
        self.writer.build()
        self.built = True

    def call(self, inputs, training=False):
        x = ops.reshape(inputs["image"], (-1, self.writer.pixels))
        label_one_hot = one_hot(inputs["label"]) if self.conditional else None
        noise = inputs.get("noise")
        pixels = self.writer.pixels
        batch = ops.shape(x)[0]
        h_dec, c_dec, canvas = self.writer.initial_state(batch)
        h_enc, c_enc = h_dec, c_dec
        mus, log_vars, zs, canvases = [], [], [], []
        for t in range(self.timesteps):
            x_hat = x - ops.sigmoid(canvas)
            cell = self.encoder_cells[0 if self.shared_weights else t]
            if t == 0 or not self.shared_weights:
                x_gates = ops.matmul(x, cell.kernel[:pixels])
            rest = [x_hat, h_dec] + ([label_one_hot] if self.conditional else [])
            h_enc, c_enc = lstm_step_with_known_input(cell, x_gates, ops.concatenate(rest, axis=-1), h_enc, c_enc, pixels)
            mu, log_var = self.mu_dense[t](h_enc), self.log_var_dense[t](h_enc)
            z = self.sample_z([mu, log_var] if noise is None else [mu, log_var, noise[:, t]])
            h_dec, c_dec, canvas = self.writer.step(t, z, label_one_hot, (h_dec, c_dec, canvas))
            mus.append(mu)
            zs.append(z)
            log_vars.append(log_var)
            canvases.append(ops.sigmoid(canvas))
        return {"logits": canvas, "canvases": ops.stack(canvases, axis=1),
                "mu": ops.stack(mus, axis=1), "log_var": ops.stack(log_vars, axis=1),
                "z": ops.stack(zs, axis=1)}

    def outputs_on(self, images, labels=None, keys=("mu", "log_var"), batch_size=500):
        """`keys` of the model's outputs on a data set, as NumPy arrays.

        ``images`` are floats (n, H, W, C) in [0, 1]; ``labels`` are needed
        when conditional.  Batches run through the compiled predict function
        and only the asked-for outputs are kept (all T canvases of 10,000
        images would take half a gigabyte).
        """
        if labels is None:
            labels = np.zeros(len(images), "int32")
        parts = {key: [] for key in keys}
        for start in range(0, len(images), batch_size):
            batch = {"image": images[start:start + batch_size],
                     "label": np.asarray(labels[start:start + batch_size], "int32")}
            outputs = self.predict_on_batch(batch)
            for key in keys:
                parts[key].append(outputs[key])
        return {key: np.concatenate(arrays) for key, arrays in parts.items()}

    def loss_terms(self, images, outputs):
        """Per-image reconstruction and KL terms under this model's scaling."""
        x = ops.reshape(images, (-1, self.writer.pixels))
        if self.reconstruction == "bce":
            per_pixel = bce_with_logits(x, outputs["logits"])
        else:
            per_pixel = ops.square(x - ops.sigmoid(outputs["logits"]))
        kl = ops.sum(kl_divergence(outputs["mu"], outputs["log_var"]), axis=-1)
        if self.loss_scaling == "thesis":
            return ops.mean(per_pixel, axis=-1), kl / self.timesteps
        if self.loss_scaling == "thesis_kl_mean":
            return ops.mean(per_pixel, axis=-1), kl / (self.timesteps * self.z_dim)
        return ops.sum(per_pixel, axis=-1), kl

    def _step(self, data, training):
        outputs = self(data, training=training)
        reconstruction, kl = self.loss_terms(data["image"], outputs)
        loss = ops.mean(reconstruction + kl)
        return loss, reconstruction, kl

    def _report(self, loss, reconstruction, kl):
        self.trackers["loss"].update_state(loss)
        self.trackers["reconstruction"].update_state(reconstruction)
        self.trackers["kl"].update_state(kl)
        return {name: m.result() for name, m in self.trackers.items()}

    def train_step(self, data):
        with tf.GradientTape() as tape:
            loss, reconstruction, kl = self._step(data, training=True)
        grads = tape.gradient(loss, self.trainable_weights)
        self.optimizer.apply(grads, self.trainable_weights)
        return self._report(loss, reconstruction, kl)

    def test_step(self, data):
        return self._report(*self._step(data, training=False))

    @property
    def metrics(self):
        return list(self.trackers.values())

    def get_config(self):
        return {**super().get_config(), "timesteps": self.timesteps, "z_dim": self.z_dim,
                "units": self.units, "shared_weights": self.shared_weights,
                "reconstruction": self.reconstruction, "conditional": self.conditional,
                "loss_scaling": self.loss_scaling, "image_shape": self.image_shape,
                "seed": self.seed, "cell": self.cell}

    @classmethod
    def from_config(cls, config):
        return cls(**config)


def build_draw(timesteps=16, z_dim=16, units=256, **options):
    """A built, uncompiled `Draw` trainer (see `Draw` for the options)."""
    draw = Draw(timesteps=timesteps, z_dim=z_dim, units=units, **options)
    draw.build()
    return draw


def build_generator(draw):
    """Functional generator sharing `draw`'s decoder weights.

    Inputs, by name or in this order: ``z`` of shape (n, T, z_dim), standard
    normal noise, and, when the model is conditional, ``label`` (n,) integer
    digits.  Output: images (n, H, W, C) in [0, 1].
    """
    z = keras.Input((draw.timesteps, draw.z_dim), name="z")
    label = keras.Input((), dtype="int32", name="label") if draw.conditional else None
    images = draw.writer(z, label)
    return keras.Model([z, label] if draw.conditional else [z], images, name="draw_generator")
