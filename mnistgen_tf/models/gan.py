"""Seed 003's DCGAN: a generator from 100-d noise and a discriminator, trained in turns.

As the seed describes it: images scaled to [-1, 1]; the generator is a Dense
layer from the noise, reshaped to 7×7, grown by Conv2DTranspose layers to
28×28×1 with tanh; the discriminator is convolutions with LeakyReLU and
Dropout ending in one sigmoid probability.  Each batch updates the
discriminator on real and fake images (real labels ``real_label``, 0.9 in
the seed: one-sided label smoothing), then the generator through the
discriminator, whose weights that step leaves alone.

`DCGAN` is the trainer.  It keeps its two Adam optimizers as attributes and
builds them with the model, so a checkpoint holds both networks and both
optimizers and a killed run resumes where it stopped; its noise and its
dropout masks come from seeded generators whose positions are saved too.
`build_sampler` wraps the trained generator so it outputs [0, 1] images, the
kit's convention for every generator.
"""

import keras
import tensorflow as tf
from keras import layers, ops

from mnistgen_tf.layers.sampling import GaussianSample, SeededDropout

IMAGE_SHAPE = (28, 28, 1)
TERMS = ("d_loss", "g_loss", "d_real", "d_fake")


def build_generator(latent_dim=100, name="generator"):
    """Noise ``z`` -> a 28×28×1 image in [-1, 1]."""
    z = keras.Input((latent_dim,), name="z")
    x = layers.Dense(7 * 7 * 128, use_bias=False, name="project")(z)
    x = layers.BatchNormalization(name="project_bn")(x)
    x = layers.LeakyReLU(0.2, name="project_act")(x)
    x = layers.Reshape((7, 7, 128), name="grid")(x)
    x = layers.Conv2DTranspose(64, 4, strides=2, padding="same", use_bias=False, name="up1")(x)  # 14×14
    x = layers.BatchNormalization(name="up1_bn")(x)
    x = layers.LeakyReLU(0.2, name="up1_act")(x)
    image = layers.Conv2DTranspose(1, 4, strides=2, padding="same", activation="tanh", name="image")(x)  # 28×28
    return keras.Model(z, image, name=name)


def build_discriminator(dropout=0.3, name="discriminator"):
    """A [-1, 1] image -> the probability that it is real."""
    image = keras.Input(IMAGE_SHAPE, name="image")
    x = image
    for i, filters in enumerate((64, 128)):
        x = layers.Conv2D(filters, 4, strides=2, padding="same", name=f"conv{i + 1}")(x)
        x = layers.LeakyReLU(0.2, name=f"conv{i + 1}_act")(x)
        x = SeededDropout(dropout, name=f"dropout{i + 1}")(x)
    x = layers.Flatten(name="flatten")(x)
    return keras.Model(image, layers.Dense(1, activation="sigmoid", name="real")(x), name=name)


def bce(target, probability):
    """Mean binary cross-entropy of probabilities against a constant target."""
    return ops.mean(keras.losses.binary_crossentropy(ops.full_like(probability, target), probability))


@keras.saving.register_keras_serializable(package="mnistgen")
class DCGAN(keras.Model):
    """The trainer; batches are ``{"image": [0, 1] images, ...}``.

    Args:
        latent_dim: size of the noise.
        learning_rate, beta_1: Adam's, the same for both networks.
        real_label: the discriminator's target for real images (1: no label smoothing).
        seed: seed of the noise.
    """

    def __init__(self, latent_dim=100, learning_rate=1e-3, beta_1=0.9, real_label=0.9, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.latent_dim, self.learning_rate, self.beta_1 = latent_dim, learning_rate, beta_1
        self.real_label, self.seed = real_label, seed
        self.generator = build_generator(latent_dim)
        self.discriminator = build_discriminator()
        self.d_optimizer = keras.optimizers.Adam(learning_rate, beta_1=beta_1, name="d_optimizer")
        self.g_optimizer = keras.optimizers.Adam(learning_rate, beta_1=beta_1, name="g_optimizer")
        self.sample_noise = GaussianSample(seed, name="noise")
        self.trackers = {name: keras.metrics.Mean(name=name) for name in TERMS}

    def build(self, input_shape=None):
        # Built here, not on the first step, so a checkpoint's optimizer slots have somewhere to load into.
        self.d_optimizer.build(self.discriminator.trainable_variables)
        self.g_optimizer.build(self.generator.trainable_variables)
        self.built = True

    # The optimizers are the model's own (built in `build`, saved as its attributes):
    # compile() only readies it for fit, and a reloaded checkpoint is compiled the same way.
    def compile(self, **kwargs):
        super().compile(optimizer=None, **kwargs)

    def get_compile_config(self):
        return {"own_optimizers": True}

    def compile_from_config(self, config):
        self.compile()

    def noise(self, n):
        zeros = ops.zeros((n, self.latent_dim))
        return self.sample_noise([zeros, zeros])

    def call(self, z, training=False):
        return self.generator(z, training=training)

    def discriminator_loss(self, p_real, p_fake):
        """Real images against `real_label`, fakes against 0, averaged: one update on both halves.

        (The classic Keras recipe makes two discriminator updates, one per half; the seed
        does not say which it used.)
        """
        return (bce(self.real_label, p_real) + bce(0.0, p_fake)) / 2

    def train_step(self, data):
        real = data["image"] * 2.0 - 1.0
        n = ops.shape(real)[0]
        fake = self.generator(self.noise(n), training=True)
        with tf.GradientTape() as tape:
            p_real = self.discriminator(real, training=True)
            p_fake = self.discriminator(fake, training=True)
            d_loss = self.discriminator_loss(p_real, p_fake)
        weights = self.discriminator.trainable_variables
        self.d_optimizer.apply(tape.gradient(d_loss, weights), weights)
        with tf.GradientTape() as tape:
            g_loss = bce(1.0, self.discriminator(self.generator(self.noise(n), training=True), training=True))
        weights = self.generator.trainable_variables
        self.g_optimizer.apply(tape.gradient(g_loss, weights), weights)
        return self._report(d_loss, g_loss, p_real, p_fake)

    def test_step(self, data):
        real = data["image"] * 2.0 - 1.0
        p_real = self.discriminator(real)
        p_fake = self.discriminator(self.generator(self.noise(ops.shape(real)[0])))
        return self._report(self.discriminator_loss(p_real, p_fake), bce(1.0, p_fake), p_real, p_fake)

    def _report(self, d_loss, g_loss, p_real, p_fake):
        values = {"d_loss": d_loss, "g_loss": g_loss, "d_real": ops.mean(p_real), "d_fake": ops.mean(p_fake)}
        for name, tracker in self.trackers.items():
            tracker.update_state(values[name])
        return {name: tracker.result() for name, tracker in self.trackers.items()}

    @property
    def metrics(self):
        return list(self.trackers.values())

    def set_learning_rate(self, value):
        for optimizer in (self.d_optimizer, self.g_optimizer):
            optimizer.learning_rate.assign(value)

    def get_config(self):
        return {**super().get_config(), "latent_dim": self.latent_dim, "learning_rate": self.learning_rate,
                "beta_1": self.beta_1, "real_label": self.real_label, "seed": self.seed}


def build_sampler(gan):
    """The trained generator, rescaled to [0, 1]: input ``z`` -> image (shares the generator's weights)."""
    z = keras.Input((gan.latent_dim,), name="z")
    image = layers.Rescaling(0.5, offset=0.5, name="to_unit_range")(gan.generator(z))
    return keras.Model(z, image, name="dcgan_generator")
