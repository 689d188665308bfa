"""DRAW's recurrent pieces: the decoder that writes on the canvas, the LSTM cells, the encoder's step.

Two cells (`make_cell`): Keras's `LSTMCell` (``"keras"``, the default) and
the thesis's own LSTM (``"thesis"``, `ThesisLSTMCell`); each names what its
gates read beside x (``recurrent_input``: h for Keras's, c for the thesis's),
so DRAW's encoder step drives either.  Every product with
a kernel goes through `step_matmul`, so a DRAW train step can take each
kernel's gradient in one product over all steps (`step_products`).
"""

import math

import keras
from keras import layers, ops

from mnistgen_tf.layers.attention import WINDOW_PARAMETERS, AttentiveWrite
from mnistgen_tf.layers import step_products
from mnistgen_tf.layers.step_products import step_matmul

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

    def __init__(self, units, kernel_initializer="glorot_uniform", **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.state_size = [units, units]
        self.output_size = units

    def build(self, input_shape):
        u = self.units
        self.kernel = self.add_weight(shape=(input_shape[-1], 4 * u), initializer=self.kernel_initializer,
                                      name="kernel")
        self.recurrent_kernel = self.add_weight(shape=(u, 4 * u), initializer="glorot_uniform",
                                                name="recurrent_kernel")
        self.bias = self.add_weight(shape=(4 * u,), initializer="zeros", name="bias")
        self.output_kernel = self.add_weight(shape=(u, u), initializer="glorot_uniform", name="output_kernel")
        self.output_bias = self.add_weight(shape=(u,), initializer="zeros", name="output_bias")
        self.built = True

    def update(self, gates, c):
        """``h, [h, c]`` from the summed gate inputs and the cell state: h = tanh(Dense(new_c)) · o."""
        i, f, g, o = ops.split(gates, 4, axis=-1)
        c = c * ops.sigmoid(f) + ops.sigmoid(i) * ops.tanh(g)
        h = ops.tanh(step_matmul(c, self.output_kernel) + self.output_bias) * ops.sigmoid(o)
        return h, [h, c]

    def recurrent_input(self, h, c):
        """What the gates read beside x: the cell state c (h is accepted and unused, as in the thesis)."""
        return c

    def call(self, inputs, states, training=False):
        h, c = states
        gates = step_matmul(inputs, self.kernel) + step_matmul(self.recurrent_input(h, c), self.recurrent_kernel)
        return self.update(gates + self.bias, c)

    def get_config(self):
        return {**super().get_config(), "units": self.units,
                "kernel_initializer": keras.initializers.serialize(self.kernel_initializer)}


def make_cell(kind, units, name, kernel_initializer="glorot_uniform", dtype=None):
    """An LSTM cell of `kind` (see `CELLS`); ``dtype`` a dtype policy (None: the global one)."""
    if kind == "keras":
        return step_products.LSTMCell(units, kernel_initializer=kernel_initializer, name=name, dtype=dtype)
    if kind == "thesis":
        return ThesisLSTMCell(units, kernel_initializer=kernel_initializer, name=name, dtype=dtype)
    raise ValueError(f"cell must be one of {CELLS}, got {kind!r}")


def glorot_share(rows, all_rows, columns):
    """Initializer for ``rows`` of a kernel of shape (all_rows, columns) split into parts.

    Each part gets the Glorot-uniform range of the whole kernel, so a split
    kernel starts as the unsplit one would (Glorot on the part alone would
    draw larger weights).
    """
    return keras.initializers.VarianceScaling((rows + columns) / (all_rows + columns), "fan_avg", "uniform")


def one_hot(labels):
    """Integer digits (n,) -> one-hot rows (n, 10)."""
    return ops.one_hot(ops.cast(labels, "int32"), NUM_CLASSES)


@keras.saving.register_keras_serializable(package="mnistgen")
class DrawWriter(layers.Layer):
    """The decoder half of DRAW: latent codes (and labels) -> canvas.

    Call it on ``z`` of shape (n, T, z_dim) (and integer ``labels`` of shape
    (n,) when conditional) to run all T steps from an empty canvas and get
    images in [0, 1].  The trainer drives it one step at a time through `step`.
    ``write_n`` > 0 writes an N×N patch through an attention window
    (`AttentiveWrite`, window from ``write_window_{t}``) instead of the whole canvas.
    ``shared_dense`` keeps one ``latent_dense_0``, ``write_0`` (and
    ``write_window_0``) for all steps, as the DRAW paper, instead of one per step.
    """

    def __init__(self, timesteps, z_dim, units, image_shape=(28, 28, 1),
                 shared_weights=True, conditional=False, cell="keras", write_n=0, shared_dense=False, **kwargs):
        super().__init__(**kwargs)
        self.timesteps = timesteps
        self.z_dim = z_dim
        self.units = units
        self.image_shape = tuple(image_shape)
        self.shared_weights = shared_weights
        self.conditional = conditional
        self.cell = cell
        self.write_n = write_n
        self.shared_dense = shared_dense
        self.pixels = math.prod(self.image_shape)
        # One LSTM for all steps (the thesis's `lstm_shared_weights`) or one per step; the Dense
        # layers around it one per step, as in the thesis, or shared too, as in the DRAW paper.
        # Its layers compute in its own precision, so a reloaded generator keeps the trainer's.
        policy = self.dtype_policy
        self.cells = [make_cell(cell, units, f"decoder_lstm_{t}", dtype=policy)
                      for t in range(1 if shared_weights else timesteps)]
        dense_steps = range(1 if shared_dense else timesteps)
        self.latent_dense = [step_products.Dense(z_dim, name=f"latent_dense_{t}", dtype=policy) for t in dense_steps]
        patch = write_n * write_n * self.image_shape[-1] if write_n else self.pixels
        self.write_dense = [step_products.Dense(patch, name=f"write_{t}", dtype=policy) for t in dense_steps]
        if write_n:
            # The window, its Dense layer and the filterbanks in float32 whatever the precision, as the read's.
            self.write_window = [step_products.Dense(WINDOW_PARAMETERS, name=f"write_window_{t}", dtype="float32")
                                 for t in dense_steps]
            self.attentive_write = AttentiveWrite(write_n, self.image_shape, name="attentive_write", dtype="float32")

    def build(self, z_shape=None, labels_shape=None):
        for cell in self.cells:
            cell.build((None, self.z_dim + NUM_CLASSES * self.conditional))
        for dense in self.latent_dense:
            dense.build((None, self.z_dim))
        for dense in self.write_dense + (self.write_window if self.write_n else []):
            dense.build((None, self.units))
        self.built = True

    def initial_state(self, batch_size):
        """Decoder (h, c) and canvas logits, all zero."""
        zeros = ops.zeros((batch_size, self.units), self.compute_dtype)
        return zeros, zeros, ops.zeros((batch_size, self.pixels), "float32")  # the canvas sums in float32

    def step(self, t, z_t, label_one_hot, state):
        """One decoder step: returns the new (h, c, canvas) and the write window (None without attention)."""
        h, c, canvas = state
        k = 0 if self.shared_dense else t
        inputs = self.latent_dense[k](z_t)
        if self.conditional:
            inputs = ops.concatenate([inputs, label_one_hot], axis=-1)
        cell = self.cells[0 if self.shared_weights else t]
        h, (h, c) = cell(inputs, [h, c])
        written, window = self.write_dense[k](h), None
        if self.write_n:
            window = self.write_window[k](h)
            written = self.attentive_write([written, window])
        return (h, c, canvas + ops.cast(written, canvas.dtype)), window

    def canvases(self, z, labels=None):
        """The canvas logits after each of the T steps, from an empty canvas (a generator of T tensors)."""
        label_one_hot = one_hot(labels) if self.conditional else None
        state = self.initial_state(ops.shape(z)[0])
        for t in range(self.timesteps):
            state, _ = self.step(t, z[:, t], label_one_hot, state)
            yield state[2]

    def call(self, z, labels=None):
        *_, canvas = self.canvases(z, labels)
        return ops.cast(ops.reshape(ops.sigmoid(canvas), (-1, *self.image_shape)), "float32")

    def compute_output_shape(self, z_shape, labels_shape=None):
        return (z_shape[0], *self.image_shape)

    def get_config(self):
        return {**super().get_config(), "timesteps": self.timesteps, "z_dim": self.z_dim,
                "units": self.units, "image_shape": self.image_shape,
                "shared_weights": self.shared_weights, "conditional": self.conditional, "cell": self.cell,
                "write_n": self.write_n, "shared_dense": self.shared_dense}


@keras.saving.register_keras_serializable(package="mnistgen")
class EncoderLSTM(layers.Layer):
    """DRAW's encoder: one step of an LSTM on ``[x, rest]``, given x's share of the gates.

    DRAW's encoder reads the same image x at every step, so its share of the
    gates, ``x @ W_x``, is computed once per image by a bias-free Dense layer
    of the graph (``encoder_image_gates_*``); this layer holds the rest of the
    cell (kind ``cell``, see `CELLS`) and is called on ``[x_share, rest]``
    with ``states=[h, c]``, returning the new ``[h, c]``.  Both parts start
    with the Glorot range of the unsplit kernel of an LSTM on
    ``input_size`` inputs (`glorot_share`), so the pair is that LSTM.
    """

    def __init__(self, units, input_size, cell="keras", **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.input_size = input_size  # of the whole LSTM on [x, rest], which sets the Glorot range
        self.cell = cell

    def build(self, inputs_shape, states_shape=None):
        rest = inputs_shape[1][-1]
        self.lstm = make_cell(self.cell, self.units, "cell", glorot_share(rest, self.input_size, 4 * self.units),
                              self.dtype_policy)
        self.lstm.build((None, rest))
        self.built = True

    def call(self, inputs, states):
        x_share, rest = inputs
        h, c = states
        cell = self.lstm
        gates = (x_share + step_matmul(rest, cell.kernel)
                 + step_matmul(cell.recurrent_input(h, c), cell.recurrent_kernel) + cell.bias)
        return cell.update(gates, c)[1]

    def compute_output_shape(self, inputs_shape, states_shape):
        return [(inputs_shape[0][0], self.units)] * 2

    def get_config(self):
        return {**super().get_config(), "units": self.units, "input_size": self.input_size, "cell": self.cell}


@keras.saving.register_keras_serializable(package="mnistgen")
class Zeros(layers.Layer):
    """Zeros of shape (n, size) for a batch of n inputs: DRAW's first states and empty canvas."""

    def __init__(self, size, **kwargs):
        super().__init__(**kwargs)
        self.size = size

    def call(self, inputs):
        return ops.zeros((ops.shape(inputs)[0], self.size), dtype=self.compute_dtype)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.size)

    def get_config(self):
        return {**super().get_config(), "size": self.size}
