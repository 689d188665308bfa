"""Sampling latent variables: the reparameterisation trick as a layer."""

import keras
from keras import layers, ops


@keras.saving.register_keras_serializable(package="mnistgen")
class GaussianSample(layers.Layer):
    """``z = mu + exp(log_var / 2) * eps`` with ``eps ~ N(0, I)``, differentiable in mu and log_var.

    Called on ``[mu, log_var]``, or on ``[mu, log_var, eps]`` to supply the
    noise (zeros give the posterior mean; ``None`` draws it).  With ``step``,
    ``eps`` holds every step's noise (n, T, ...) and step ``step``'s is used.
    """

    def __init__(self, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.seed = seed
        self.noise = keras.random.SeedGenerator(seed)

    def call(self, inputs, step=None):
        mu, log_var = inputs[0], inputs[1]
        eps = inputs[2] if len(inputs) > 2 else None
        if eps is None:
            eps = keras.random.normal(ops.shape(mu), seed=self.noise)
        elif step is not None:
            eps = eps[:, step]
        return mu + ops.exp(0.5 * log_var) * ops.cast(eps, mu.dtype)

    # The noise generator's position is saved with the layer, so a trainer
    # reloaded from a checkpoint continues the same noise stream (Keras does
    # not save `SeedGenerator` states by itself).
    def save_own_variables(self, store):
        store["noise_state"] = keras.ops.convert_to_numpy(self.noise.state.value)

    def load_own_variables(self, store):
        if "noise_state" in store:
            self.noise.state.assign(store["noise_state"])

    def compute_output_shape(self, input_shape):
        return input_shape[0]

    def get_config(self):
        return {**super().get_config(), "seed": self.seed}


@keras.saving.register_keras_serializable(package="mnistgen")
class SeededDropout(layers.Dropout):
    """`keras.layers.Dropout` whose mask generator's position is saved with the layer.

    A trainer reloaded from a checkpoint then draws the masks an uninterrupted
    run would have drawn (GaussianSample does the same for its noise).
    """

    def save_own_variables(self, store):
        store["mask_state"] = keras.ops.convert_to_numpy(self.seed_generator.state.value)

    def load_own_variables(self, store):
        if "mask_state" in store:
            self.seed_generator.state.assign(store["mask_state"])
