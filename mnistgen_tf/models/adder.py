"""Seed 002 Parts III-IV: adding a number to the digit in an image.

E is the conv encoder of `autoencoder`, D one of its decoders, and P an MLP
from ``[code, b]`` to the code of digit a + b.  The complete model, trained,
maps (image of a, number b) to ``D(P(E(image), b))`` and also reconstructs
the input, ``D(E(image))``; the inference model (`build_inference`) is
E, P and D alone, from an image and a number to the image of the sum.

Three kinds, as in the seed:

- ``ae``: E, D and P deterministic (Part III);
- ``vae``: E variational (a sampled code while training, its mean at
  inference), P deterministic (Part IV, 5.1);
- ``generative``: E and P variational; the inference model samples P's
  Gaussian (Part IV, 5.2).

The loss has the seed's four weights (its Table 1)::

    image_weight * L2(D(E(x)), x) + sum_weight * L2(D(P(E(x), b)), target)
      + kl_encoder_weight * KL(q(code | x) || N(0, I)) + kl_adder_weight * KL(P's Gaussian || N(0, I))

with L2 the mean squared error per pixel (PyTorch's ``mse_loss`` default)
and each KL summed over code units and averaged over the batch; the KL
terms exist only for the variational parts.  The decoder D is deterministic
in every kind.  The seed does not print its loss code: had it summed the KL
over the batch as well (PyTorch's VAE example does), its KL weights would
act 128 times (the batch size) larger than here.

``sum_loss="code"`` (not in the seed) takes the sum's L2 between codes
instead, ``L2(P(E(x), b), E(target))`` divided by the variance of the target
codes in the batch, with E held fixed on both sides: E and D learn only to reconstruct, P learns to move codes.  The
reason is measured in `sweeps.seed002_adder`: the target is a random image of
digit a + b, so the image L2 is minimised by the blurry mean image of that
digit, which the classifier often misreads; the mean *code* of a digit
decodes to a sharp digit instead.

``sum_loss="class_code"`` aims P at that mean code directly: the target is
the running mean of E's codes of the training targets of digit a + b (an
exponential moving average over batches, kept with the weights), the
expectation of the ``"code"`` target over the random draw of the target
image.  Same minimiser, without the draw's noise, which otherwise drowns the
signal P learns the digit from (batches then carry the digit ``sum``).
"""

import keras
from keras import layers, ops

from mnistgen_tf.layers.sampling import GaussianSample
from mnistgen_tf.losses import kl_divergence
from mnistgen_tf.models.autoencoder import IMAGE_SHAPE, build_decoder, build_encoder
from mnistgen_tf.models.terms import TermsTrainer

KINDS = ("ae", "vae", "generative")
SUM_LOSSES = ("image", "code", "class_code")
CLASS_CODE_DECAY = 0.99  # per batch: about 100 batches of targets in each digit's running mean
TERMS = ("loss", "l2_image", "l2_sum", "kl_encoder", "kl_adder")


def build_number_adder(latent_dim, variational=False, units=128, depth=2, name="number_adder"):
    """P: ``[code, number]`` -> the code of the sum (or its mean and log-variance when `variational`)."""
    code = keras.Input((latent_dim,), name="code")
    number = keras.Input((1,), name="number")
    x = layers.Concatenate(name="code_and_number")([code, number])
    for i in range(depth):  # hidden1, hidden2, ...: the two-layer P's names, so older files still load
        x = layers.Dense(units, activation="relu", name=f"hidden{i + 1}")(x)
    if variational:
        outputs = [layers.Dense(latent_dim, name="sum_mean")(x), layers.Dense(latent_dim, name="sum_log_var")(x)]
    else:
        outputs = layers.Dense(latent_dim, name="sum_code")(x)
    return keras.Model([code, number], outputs, name=name)


@keras.saving.register_keras_serializable(package="mnistgen")
class Adder(TermsTrainer):
    """The complete model (the trainer); batches are ``{"image", "number", "target"}``.

    Args:
        kind: one of `KINDS`.
        latent_dim: size of the code.
        decoder: one of `autoencoder.DECODERS`.
        image_weight, sum_weight, kl_encoder_weight, kl_adder_weight: the loss weights.
        sum_loss: ``"image"`` (the seed) or ``"code"``: where the sum's L2 is taken (module docstring).
        adder_units, adder_layers: P's hidden layers (2 of 128 by default).
        seed: seed of the sampled codes.
    """

    def __init__(self, kind="ae", latent_dim=7, decoder="convtranspose", image_weight=0.1, sum_weight=1.0,
                 kl_encoder_weight=1e-5, kl_adder_weight=1e-5, sum_loss="image", adder_units=128, adder_layers=2,
                 seed=None, **kwargs):
        super().__init__(TERMS + (("l2_code",) if sum_loss != "image" else ()), **kwargs)
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
        if sum_loss not in SUM_LOSSES:
            raise ValueError(f"sum_loss must be one of {SUM_LOSSES}, got {sum_loss!r}")
        self.kind, self.latent_dim, self.decoder_kind, self.sum_loss, self.seed = (
            kind, latent_dim, decoder, sum_loss, seed)
        self.loss_weights = {"image_weight": image_weight, "sum_weight": sum_weight,
                             "kl_encoder_weight": kl_encoder_weight, "kl_adder_weight": kl_adder_weight}
        self.encoder = build_encoder(latent_dim, variational=kind != "ae")
        self.decoder = build_decoder(decoder, latent_dim)
        self.adder_units, self.adder_layers = adder_units, adder_layers
        self.number_adder = build_number_adder(latent_dim, kind == "generative", adder_units, adder_layers)
        self.sample_code = GaussianSample(seed, name="sample_code")
        self.sample_sum = GaussianSample(None if seed is None else seed + 1, name="sample_sum")
        if sum_loss == "class_code":  # the running mean code of each digit, and whether it has one yet
            self.class_codes = self.add_weight(shape=(10, latent_dim), initializer="zeros", trainable=False,
                                               name="class_codes")
            self.class_seen = self.add_weight(shape=(10, 1), initializer="zeros", trainable=False,
                                              name="class_seen")

    def build(self, input_shape=None):
        self.built = True  # the three parts are Functional models, built when made

    def call(self, inputs, training=False):
        """The sum image and code, the reconstruction and the KL terms.

        While training, a variational encoder's code is sampled; otherwise its
        mean is used, as in the inference model, so validation measures the
        model that is saved.  The generative kind's adder always samples.
        With a code-space sum loss P reads the code through a stop-gradient.
        """
        zero = ops.zeros(())
        code, kl_encoder = self._encode(inputs["image"], training)
        number = ops.reshape(ops.cast(inputs["number"], "float32"), (-1, 1))
        adder_input = code if self.sum_loss == "image" else ops.stop_gradient(code)
        if self.kind == "generative":
            mean, log_var = self.number_adder([adder_input, number])
            total, kl_adder = self.sample_sum([mean, log_var]), ops.mean(kl_divergence(mean, log_var))
        else:
            total, kl_adder = self.number_adder([adder_input, number]), zero
        return {"sum_image": self.decoder(total), "sum_code": total, "reconstruction": self.decoder(code),
                "kl_encoder": kl_encoder, "kl_adder": kl_adder}

    def _encode(self, image, training):
        """The code of `image` and the encoder's KL (zero for the ae kind)."""
        if self.kind == "ae":
            return self.encoder(image), ops.zeros(())
        mean, log_var = self.encoder(image)
        return (self.sample_code([mean, log_var]) if training else mean), ops.mean(kl_divergence(mean, log_var))

    def terms(self, data, training):
        out = self(data, training=training)
        terms = {"l2_image": ops.mean(ops.square(out["reconstruction"] - data["image"])),
                 "l2_sum": ops.mean(ops.square(out["sum_image"] - data["target"])),
                 "kl_encoder": out["kl_encoder"], "kl_adder": out["kl_adder"]}
        if self.sum_loss != "image":  # the target's code: the mean for a variational encoder, never trained by P
            target_code = ops.stop_gradient(self._encode(data["target"], training=False)[0])
            if self.sum_loss == "class_code":
                target_code = self._class_code(target_code, data["sum"], training)
            # Relative to the targets' variance: E's code space grows while it learns, and
            # a relative error stays comparable across epochs (it picks the saved epoch).
            # (A batch of one has no variance: the small constant keeps it finite.)
            terms["l2_code"] = (ops.mean(ops.square(out["sum_code"] - target_code))
                                / (ops.mean(ops.var(target_code, axis=0)) + 1e-6))
        w, l2_of_the_sum = self.loss_weights, terms["l2_sum" if self.sum_loss == "image" else "l2_code"]
        terms["loss"] = (w["image_weight"] * terms["l2_image"] + w["sum_weight"] * l2_of_the_sum
                         + w["kl_encoder_weight"] * terms["kl_encoder"] + w["kl_adder_weight"] * terms["kl_adder"])
        return terms

    def _class_code(self, target_code, digit, training):
        """The running mean code of each example's target digit, first updated with this batch when training."""
        one_hot = ops.one_hot(ops.cast(digit, "int32"), 10)  # (batch, 10)
        if training:
            counts = ops.expand_dims(ops.sum(one_hot, axis=0), -1)  # (10, 1)
            batch_means = ops.matmul(ops.transpose(one_hot), target_code) / ops.maximum(counts, 1.0)
            # A digit's first batch sets its mean; later ones move it by 1 - decay; absent digits keep theirs.
            decay = ops.where(self.class_seen > 0, CLASS_CODE_DECAY, 0.0)
            updated = decay * self.class_codes + (1.0 - decay) * batch_means
            present = counts > 0
            self.class_codes.assign(ops.where(present, updated, self.class_codes))
            self.class_seen.assign(ops.maximum(self.class_seen, ops.cast(present, "float32")))
        return ops.matmul(one_hot, self.class_codes)

    def get_config(self):
        return {**super().get_config(), "kind": self.kind, "latent_dim": self.latent_dim,
                "decoder": self.decoder_kind, "sum_loss": self.sum_loss, "adder_units": self.adder_units,
                "adder_layers": self.adder_layers, "seed": self.seed, **self.loss_weights}

    @classmethod
    def from_config(cls, config):
        return cls(**config)


def build_inference(adder):
    """E, P and D of a trained `Adder`, shared not copied: inputs ``image`` and ``number`` -> the sum's image.

    The vae kind uses the encoder's mean; the generative kind samples P's Gaussian.
    """
    image = keras.Input(IMAGE_SHAPE, name="image")
    number = keras.Input((1,), name="number")
    code = adder.encoder(image)
    if adder.kind != "ae":
        code = code[0]
    total = adder.number_adder([code, number])
    if adder.kind == "generative":
        total = adder.sample_sum(total)
    return keras.Model([image, number], adder.decoder(total), name=f"adder_{adder.kind}")
