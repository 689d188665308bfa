"""DRAW as in the thesis (without attention), its conditional variant, and the DRAW paper's attention.

At each of T steps the encoder LSTM reads ``[x, x - sigmoid(c), h_dec]``
(plus the one-hot label when conditional), a Dense pair gives the posterior
mean and log-variance of ``z_t``, a sample of ``z_t`` goes through a Dense
layer into the decoder LSTM (with the label when conditional), and a Dense
"write" of the decoder state is added to the canvas ``c``.  The image is
``sigmoid(c_T)``.

`Draw` is the trainer: a Functional model of the unrolled T-step graph, as
the thesis built it, so ``summary()`` and ``keras.utils.plot_model`` show
the steps and any step's pieces can be cut out, e.g. the step-t encoder
``keras.Model(draw.input, draw.get_layer(f"z_mean_{t}").output)``, called
with ``"noise": None`` for drawn noise; its
``train_step`` trains it on the loss chosen by ``loss_scaling``.
`build_generator(draw)` wraps its `DrawWriter` -- the decoder layers of the
graph, shared, not copied -- into a Functional model from noise ``z`` (and
digit labels) to images.  Both save to ``.keras`` and reload with plain
`keras.models.load_model` once `mnistgen_tf` is imported.
"""

import contextlib

import keras
import numpy as np
import tensorflow as tf
from keras import layers, ops

from mnistgen_tf.errors import MnistgenError
from mnistgen_tf.layers.attention import WINDOW_PARAMETERS, AttentiveRead
from mnistgen_tf.layers.recurrent import NUM_CLASSES, DrawWriter, EncoderLSTM, Zeros, glorot_share, make_cell, one_hot
from mnistgen_tf.layers.sampling import GaussianSample
from mnistgen_tf.layers import step_products
from mnistgen_tf.losses import bce_with_logits, kl_divergence

RECONSTRUCTIONS = ("bce", "mse")
PRECISIONS = ("float32", "mixed_bfloat16")
LOSS_SCALINGS = ("elbo", "thesis", "thesis_kl_mean")


class _OptionalNoise(keras.Model):
    """A Functional model of DRAW's graph that may be called without its optional ``"noise"`` input."""

    def __call__(self, inputs, *args, **kwargs):
        # Keras wants the key of an optional input even when absent.
        return super().__call__({"noise": None, **inputs}, *args, **kwargs)


@keras.saving.register_keras_serializable(package="mnistgen")
class Draw(_OptionalNoise):
    """The DRAW variational autoencoder (the trainer).

    Inputs are batches ``{"image": (n, H, W, C) floats in [0, 1],
    "label": (n,) ints}``; the label is read only when ``conditional``.  An
    optional ``"noise"`` (n, T, z_dim) replaces the standard normal draws of
    the reparameterisation (zeros give posterior-mean reconstructions).
    Calling the model returns a dict with the final canvas ``logits``
    (n, H*W*C), every step's ``canvases`` after the sigmoid (n, T, H*W*C),
    and the posterior ``mu``, ``log_var`` and sample ``z`` of every step
    (n, T, z_dim); with ``read_n`` > 0 also every step's ``read_windows``,
    with ``write_n`` > 0 its ``write_windows`` (n, T, 5), for pictures.

    ``loss_scaling="thesis"`` trains on one reading of the thesis's loss:
    reconstruction averaged over pixels plus the KL summed over latent units,
    averaged over steps (KL weight 784/T relative to the ELBO).
    ``"thesis_kl_mean"`` is the other reading, the blog.keras.io VAE
    tutorial's ``kl_loss`` whose names the thesis uses: the KL *averaged* over
    latent units and steps (weight 784/(T·z)).  ``"elbo"`` sums the
    reconstruction over pixels and the KL over steps and units, giving the
    negative evidence lower bound in nats.

    ``cell`` is the LSTM of encoder and decoder: ``"keras"`` (`LSTMCell`) or
    ``"thesis"`` (the thesis's own, `ThesisLSTMCell`).  Layer names: the
    encoder ``encoder_image_gates_{t}`` and ``encoder_lstm_{t}`` (one each,
    ``_0``, with shared weights; with attention ``attentive_read``,
    ``read_window_{t}`` and the cell ``encoder_lstm_{t}``), the posterior
    ``z_mean_{t}`` and ``z_log_var_{t}``, the sampler ``sample_z``, and the
    decoder's ``latent_dense_{t}``, ``decoder_lstm_{t}``, ``write_{t}`` (with
    attention also ``write_window_{t}`` and ``attentive_write``).

    ``precision="mixed_bfloat16"`` computes the graph in bfloat16 with
    float32 weights, loss, canvas, attention windows and outputs
    (`keras.mixed_precision`).

    ``read_n`` / ``write_n`` > 0 add the DRAW paper's selective attention
    (`mnistgen_tf.layers.attention`): the encoder reads N×N glimpses of the
    image and of the error image through a window set by ``read_window_{t}``
    from the previous decoder state, and the decoder writes an N×N patch
    through a window set by ``write_window_{t}``.  0 (the default) reads and
    writes the whole image, as the thesis.

    ``shared_dense`` uses one of each Dense layer around the LSTMs for all
    steps (``z_mean_0``, ``write_0``, ``read_window_0``...), as the DRAW
    paper, where the thesis has one per step; a shared layer's output is
    every step's, so the step-t cut-out above needs per-step layers.
    """

    def __init__(self, timesteps=16, z_dim=16, units=256, shared_weights=True,
                 reconstruction="bce", conditional=False, loss_scaling="elbo",
                 image_shape=(28, 28, 1), seed=None, cell="keras", read_n=0, write_n=0, precision="float32",
                 shared_dense=False, **kwargs):
        if reconstruction not in RECONSTRUCTIONS:
            raise ValueError(f"reconstruction must be one of {RECONSTRUCTIONS}, got {reconstruction!r}")
        if loss_scaling not in LOSS_SCALINGS:
            raise ValueError(f"loss_scaling must be one of {LOSS_SCALINGS}, got {loss_scaling!r}")
        if precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
        if 1 in (read_n, write_n):
            raise ValueError(f"read_n and write_n must be 0 (no attention) or at least 2, got {read_n}, {write_n}")
        image_shape = tuple(image_shape)
        with _global_dtype_policy(precision):  # every layer of the graph computes in `precision`
            writer = DrawWriter(timesteps, z_dim, units, image_shape, shared_weights, conditional, cell, write_n,
                                shared_dense, name="writer")
            inputs, outputs = _unrolled_graph(writer, seed, read_n)
        super().__init__(inputs=inputs, outputs=outputs, **kwargs)
        self.timesteps = timesteps
        self.z_dim = z_dim
        self.units = units
        self.shared_weights = shared_weights
        self.reconstruction = reconstruction
        self.conditional = conditional
        self.loss_scaling = loss_scaling
        self.image_shape = image_shape
        self.seed = seed
        self.cell = cell
        self.read_n = read_n
        self.write_n = write_n
        self.precision = precision
        self.shared_dense = shared_dense
        self.writer = writer
        # neg_elbo: the -ELBO in nats under the Bernoulli decoder, whatever the training loss (its
        # scaled terms are not comparable across loss_scaling); the convergence test reads it.
        self.trackers = {name: keras.metrics.Mean(name=name)
                         for name in ("loss", "reconstruction", "kl", "neg_elbo")}

    def outputs_model(self, keys):
        """This model's graph and weights computing only its outputs `keys`, to predict them alone.

        ``predict`` on the whole model also computes and returns every step's
        canvas, and with attention its windows; skipping them speeds the NLL's
        predictions (``results/benchmarks/draw_likelihood.txt``).  The model
        predicts with XLA or without, as this one was compiled.
        """
        model = _OptionalNoise(self.input, {key: self.output[key] for key in keys}, name=f"{self.name}_outputs")
        model.jit_compile = self.jit_compile
        return model

    def outputs_on(self, images, labels=None, keys=("mu", "log_var"), batch_size=500):
        """`keys` of the model's outputs on a data set, as NumPy arrays.

        ``images`` are floats (n, H, W, C) in [0, 1]; ``labels`` are needed
        when conditional.  Batches run through the compiled predict function
        of an `outputs_model` (built and traced once per call), so only the
        asked-for outputs are computed and kept (all T canvases of 10,000
        images would take half a gigabyte).
        """
        if labels is None:
            labels = np.zeros(len(images), "int32")
        model = self.outputs_model(keys)
        parts = {key: [] for key in keys}
        for start in range(0, len(images), batch_size):
            batch = {"image": images[start:start + batch_size],
                     "label": np.asarray(labels[start:start + batch_size], "int32")}
            outputs = model.predict_on_batch(batch)
            for key in keys:
                parts[key].append(outputs[key])
        return {key: np.concatenate(arrays) for key, arrays in parts.items()}

    def loss_terms(self, images, outputs):
        """Per-image reconstruction and KL terms under this model's scaling, and the -ELBO in nats."""
        x = ops.reshape(images, (-1, self.writer.pixels))  # the graph's outputs are float32 at any precision
        bce = bce_with_logits(x, outputs["logits"])
        per_pixel = bce if self.reconstruction == "bce" else ops.square(x - ops.sigmoid(outputs["logits"]))
        kl = ops.sum(kl_divergence(outputs["mu"], outputs["log_var"]), axis=-1)
        neg_elbo = ops.sum(bce, axis=-1) + kl
        if self.loss_scaling == "thesis":
            return ops.mean(per_pixel, axis=-1), kl / self.timesteps, neg_elbo
        if self.loss_scaling == "thesis_kl_mean":
            return ops.mean(per_pixel, axis=-1), kl / (self.timesteps * self.z_dim), neg_elbo
        return ops.sum(per_pixel, axis=-1), kl, neg_elbo

    def _step(self, data, training):
        outputs = self(data, training=training)
        reconstruction, kl, neg_elbo = self.loss_terms(data["image"], outputs)
        return ops.mean(reconstruction + kl), reconstruction, kl, neg_elbo

    def _report(self, loss, reconstruction, kl, neg_elbo):
        for name, value in (("loss", loss), ("reconstruction", reconstruction), ("kl", kl),
                            ("neg_elbo", neg_elbo)):
            self.trackers[name].update_state(value)
        return {name: m.result() for name, m in self.trackers.items()}

    def loss_and_gradients(self, data):
        """The train step's loss terms and the loss's gradients, before the optimizer applies them."""
        # Each shared kernel's gradient in one product over all T steps (`step_products`).
        with tf.GradientTape() as tape, step_products.record_step_products(tape) as products:
            terms = self._step(data, training=True)
        return terms, products.gradients(terms[0], self.trainable_weights)

    def train_step(self, data):
        terms, grads = self.loss_and_gradients(data)
        self.optimizer.apply(grads, self.trainable_weights)
        return self._report(*terms)

    def test_step(self, data):
        return self._report(*self._step(data, training=False))

    @property
    def metrics(self):
        return list(self.trackers.values())

    # The config is the constructor's arguments: the graph is rebuilt from
    # them, not read back node by node.
    def get_config(self):
        return {"name": self.name, "trainable": self.trainable, "timesteps": self.timesteps, "z_dim": self.z_dim,
                "units": self.units, "shared_weights": self.shared_weights,
                "reconstruction": self.reconstruction, "conditional": self.conditional,
                "loss_scaling": self.loss_scaling, "image_shape": self.image_shape,
                "seed": self.seed, "cell": self.cell,
                "read_n": self.read_n, "write_n": self.write_n, "precision": self.precision,
                "shared_dense": self.shared_dense}

    @classmethod
    def from_config(cls, config):
        if "precision" not in config:  # every Functional DRAW's config has it
            raise MnistgenError("this DRAW trainer was saved by an older version of the kit (a subclassed model "
                                "whose weights are laid out differently); it cannot be loaded or resumed, but "
                                "its run's generator.keras loads: retrain the run to continue it")
        return cls(**config)


@contextlib.contextmanager
def _global_dtype_policy(name):
    # Layers take Keras's process-wide policy when made; it is set for the block and put back.
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(name)
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)


def build_draw(timesteps=16, z_dim=16, units=256, **options):
    """A built, uncompiled `Draw` trainer (see `Draw` for the options)."""
    return Draw(timesteps=timesteps, z_dim=z_dim, units=units, **options)


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


def _unrolled_graph(writer, seed, read_n=0):
    """DRAW's T steps as a Functional graph around `writer`'s decoder layers.

    Returns the ``{"image", "label", "noise"}`` inputs and the outputs dict
    described in `Draw`.  Without attention the encoder reads the whole image
    and error image, and its share of the gates from the image is computed
    once per image (once per step with per-step weights); with ``read_n`` > 0
    it reads an N×N glimpse of each (`AttentiveRead`, window from
    ``read_window_{t}`` of the previous decoder state).
    """
    timesteps, z_dim, units, pixels = writer.timesteps, writer.z_dim, writer.units, writer.pixels
    image = keras.Input(writer.image_shape, name="image")
    label = keras.Input((), dtype="int32", name="label")
    noise = keras.Input((timesteps, z_dim), name="noise", optional=True)
    writer.build()
    label_size = NUM_CLASSES * writer.conditional
    encoder_steps = range(1) if writer.shared_weights else range(timesteps)
    if read_n:
        # Windows (their Dense layers too) and filterbanks in float32 whatever the precision: in bfloat16
        # a window centre near pixel 20 moves in steps of 1/8 pixel.
        read = AttentiveRead(read_n, writer.image_shape, name="attentive_read", dtype="float32")
        encoders = [make_cell(writer.cell, units, f"encoder_lstm_{k}") for k in encoder_steps]
    else:
        encoder_input = 2 * pixels + units + label_size
        image_gates = [layers.Dense(4 * units, use_bias=False, name=f"encoder_image_gates_{k}",
                                    kernel_initializer=glorot_share(pixels, encoder_input, 4 * units))
                       for k in encoder_steps]
        encoders = [EncoderLSTM(units, encoder_input, writer.cell, name=f"encoder_lstm_{k}") for k in encoder_steps]
    sample_z = GaussianSample(seed, name="sample_z")
    dense_steps = range(1 if writer.shared_dense else timesteps)
    z_means = [step_products.Dense(z_dim, name=f"z_mean_{k}") for k in dense_steps]
    z_log_vars = [step_products.Dense(z_dim, name=f"z_log_var_{k}") for k in dense_steps]
    read_window_dense = [step_products.Dense(WINDOW_PARAMETERS, name=f"read_window_{k}", dtype="float32")
                         for k in (dense_steps if read_n else ())]

    x = layers.Flatten(name="flatten")(image)
    label_one_hot = one_hot(label) if writer.conditional else None
    h_dec = c_dec = Zeros(units, name="zero_state")(x)
    canvas = Zeros(pixels, name="empty_canvas", dtype="float32")(x)  # the sum of T writes, kept in float32
    h_enc, c_enc = h_dec, c_dec
    mus, log_vars, zs, canvases, read_at, write_at = [], [], [], [], [], []
    for t in range(timesteps):
        k = 0 if writer.shared_weights else t
        d = 0 if writer.shared_dense else t
        x_hat = x - ops.sigmoid(canvas)
        context = [h_dec] + ([label_one_hot] if writer.conditional else [])
        if read_n:
            read_at.append(read_window_dense[d](h_dec))
            inputs = ops.concatenate([read([x, x_hat, read_at[-1]]), *context], axis=-1)
            h_enc, (_, c_enc) = encoders[k](inputs, [h_enc, c_enc])
        else:
            if t == 0 or not writer.shared_weights:
                x_share = image_gates[k](x)
            rest = ops.concatenate([x_hat, *context], axis=-1)
            h_enc, c_enc = encoders[k]([x_share, rest], states=[h_enc, c_enc])
        mu = z_means[d](h_enc)
        log_var = z_log_vars[d](h_enc)
        z = sample_z([mu, log_var, noise], step=t)
        (h_dec, c_dec, canvas), write_window = writer.step(t, z, label_one_hot, (h_dec, c_dec, canvas))
        if write_window is not None:
            write_at.append(write_window)
        mus.append(mu)
        log_vars.append(log_var)
        zs.append(z)
        canvases.append(ops.sigmoid(canvas))
    per_step = {"mu": mus, "log_var": log_vars, "z": zs,
                **{name: values for name, values in (("read_windows", read_at), ("write_windows", write_at)) if values}}
    outputs = {"logits": canvas, "canvases": ops.stack(canvases, axis=1),
               **{name: ops.cast(ops.stack(values, axis=1), "float32")  # float32 out whatever the precision
                  for name, values in per_step.items()}}
    return {"image": image, "label": label, "noise": noise}, outputs
