"""DRAW's recurrent pieces: the decoder that writes on the canvas, the LSTM cells, and a fast LSTM step.

Two cells (`make_cell`): Keras's `LSTMCell` (``"keras"``, the default) and
the thesis's own LSTM (``"thesis"``, `ThesisLSTMCell`).
"""

import math

import keras
from keras import layers, ops

NUM_CLASSES = 10
CELLS = ("keras", "thesis")


@keras.saving.register_keras_serializable(package="mnistgen")
class ThesisLSTMCell(layers.Layer):
    """The LSTM of the thesis's chapter 1 (``lstm(xsize, csize, hsize)``), as a Keras RNN cell.

    Its gates read ``[x, c]`` -- the previous *cell state*, not h, which it is
    given and ignores -- through Dense layers (here one fused kernel with the
    gates in Keras's order i, f, C̃, o)::

        f, i, o = sigmoid(W_{f,i,o} [x, c] + b),   C̃ = tanh(W_C [x, c] + b_C)
        new_c = c · f + i · C̃,                      new_h = tanh(W_h new_c + b_h) · o

    States are ``[h, c]`` as for `keras.layers.LSTMCell`, so DRAW drives either
    the same way.  ``kernel`` holds the rows for x, ``recurrent_kernel`` those for c.
    """

    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.state_size = [units, units]
        self.output_size = units

    def build(self, input_shape):
        u = self.units
        self.kernel = self.add_weight(shape=(input_shape[-1], 4 * u), initializer="glorot_uniform", name="kernel")
        self.recurrent_kernel = self.add_weight(shape=(u, 4 * u), initializer="glorot_uniform",
                                                name="recurrent_kernel")
        self.bias = self.add_weight(shape=(4 * u,), initializer="zeros", name="bias")
        self.output_kernel = self.add_weight(shape=(u, u), initializer="glorot_uniform", name="output_kernel")
        self.output_bias = self.add_weight(shape=(u,), initializer="zeros", name="output_bias")
        self.built = True

    def output_of(self, c):
        """tanh(Dense(new_c)): the thesis's candidate h before the output gate."""
        return ops.tanh(ops.matmul(c, self.output_kernel) + self.output_bias)

    def call(self, inputs, states, training=False):
        _, c = states  # h is accepted and unused, as in the thesis
        gates = ops.matmul(inputs, self.kernel) + ops.matmul(c, self.recurrent_kernel) + self.bias
        i, f, g, o = ops.split(gates, 4, axis=-1)
        c = c * ops.sigmoid(f) + ops.sigmoid(i) * ops.tanh(g)
        h = self.output_of(c) * ops.sigmoid(o)
        return h, [h, c]

    def get_config(self):
        return {**super().get_config(), "units": self.units}


def make_cell(kind, units, name):
    """An LSTM cell of `kind` (see `CELLS`)."""
    if kind == "keras":
        return layers.LSTMCell(units, name=name)
    if kind == "thesis":
        return ThesisLSTMCell(units, name=name)
    raise ValueError(f"cell must be one of {CELLS}, got {kind!r}")


def one_hot(labels):
    """Integer digits (n,) -> one-hot rows (n, 10)."""
    return ops.one_hot(ops.cast(labels, "int32"), NUM_CLASSES)


@keras.saving.register_keras_serializable(package="mnistgen")
class DrawWriter(layers.Layer):
    """The decoder half of DRAW: latent codes (and labels) -> canvas.

    Call it on ``z`` of shape (n, T, z_dim) (and integer ``labels`` of shape
    (n,) when conditional) to run all T steps from an empty canvas and get
    images in [0, 1].  The trainer drives it one step at a time through `step`.
    """

    def __init__(self, timesteps, z_dim, units, image_shape=(28, 28, 1),
                 shared_weights=True, conditional=False, cell="keras", **kwargs):
        super().__init__(**kwargs)
        self.timesteps = timesteps
        self.z_dim = z_dim
        self.units = units
        self.image_shape = tuple(image_shape)
        self.shared_weights = shared_weights
        self.conditional = conditional
        self.cell = cell
        self.pixels = math.prod(self.image_shape)
        steps = range(timesteps)
        # One LSTM for all steps (the thesis's `lstm_shared_weights`) or one per step;
        # the Dense layers around it are always per step, as in the thesis.
        self.cells = [make_cell(cell, units, name=f"decoder_lstm_{t}")
                      for t in (range(1) if shared_weights else steps)]
        self.latent_dense = [layers.Dense(z_dim, name=f"latent_dense_{t}") for t in steps]
        self.write_dense = [layers.Dense(self.pixels, name=f"write_{t}") for t in steps]

    def build(self, z_shape=None, labels_shape=None):
        for cell in self.cells:
            cell.build((None, self.z_dim + NUM_CLASSES * self.conditional))
        for dense in self.latent_dense:
            dense.build((None, self.z_dim))
        for dense in self.write_dense:
            dense.build((None, self.units))
        self.built = True

    def initial_state(self, batch_size):
        """Decoder (h, c) and canvas logits, all zero."""
        zeros = ops.zeros((batch_size, self.units))
        return zeros, zeros, ops.zeros((batch_size, self.pixels))

    def step(self, t, z_t, label_one_hot, state):
        """One decoder step: returns the new (h, c, canvas)."""
        h, c, canvas = state
        inputs = self.latent_dense[t](z_t)
        if self.conditional:
            inputs = ops.concatenate([inputs, label_one_hot], axis=-1)
        cell = self.cells[0 if self.shared_weights else t]
        h, (h, c) = cell(inputs, [h, c])
        return h, c, canvas + self.write_dense[t](h)

    def call(self, z, labels=None):
        label_one_hot = one_hot(labels) if self.conditional else None
        state = self.initial_state(ops.shape(z)[0])
        for t in range(self.timesteps):
            state = self.step(t, z[:, t], label_one_hot, state)
        return ops.reshape(ops.sigmoid(state[2]), (-1, *self.image_shape))

    def compute_output_shape(self, z_shape, labels_shape=None):
        return (z_shape[0], *self.image_shape)

    def get_config(self):
        return {**super().get_config(), "timesteps": self.timesteps, "z_dim": self.z_dim,
                "units": self.units, "image_shape": self.image_shape,
                "shared_weights": self.shared_weights, "conditional": self.conditional, "cell": self.cell}


def lstm_step_with_known_input(cell, x_gates, rest, h, c, split):
    """`cell`'s step on ``[x, rest]`` when ``x @ kernel[:split]`` is already known.

    DRAW's encoder reads the same image x at every step; computing its share
    of the gates once instead of T times removes about a third of DRAW's
    work.  The result equals ``cell(concatenate([x, rest]), [h, c])``, for
    either cell.
    """
    thesis = isinstance(cell, ThesisLSTMCell)
    gates = (x_gates + ops.matmul(rest, cell.kernel[split:])
             + ops.matmul(c if thesis else h, cell.recurrent_kernel) + cell.bias)
    i, f, g, o = ops.split(gates, 4, axis=-1)
    c = ops.sigmoid(f) * c + ops.sigmoid(i) * ops.tanh(g)
    return ops.sigmoid(o) * (cell.output_of(c) if thesis else ops.tanh(c)), c
