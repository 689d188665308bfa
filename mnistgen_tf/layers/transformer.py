"""Layers for the label -> image transformers."""

import keras
from keras import layers, ops

ROWS = 28


@keras.saving.register_keras_serializable(package="mnistgen")
class RowPositions(layers.Layer):
    """Learned row-position embeddings, one token per image row.

    Called on per-example vectors of shape (n, dim), it returns (n, rows, dim):
    the position table repeated over the batch, plus the input vector on every
    row when ``add_input`` (the decoder-only model's label conditioning).
    Without ``add_input`` the input only sets the batch size.
    """

    def __init__(self, rows=ROWS, add_input=False, stddev=1.0, **kwargs):
        super().__init__(**kwargs)
        self.rows = rows
        self.add_input = add_input
        self.stddev = stddev

    def build(self, input_shape):
        self.positions = self.add_weight(
            shape=(self.rows, input_shape[-1]), name="positions",
            initializer=keras.initializers.RandomNormal(stddev=self.stddev))
        self.built = True

    def call(self, inputs):
        tokens = ops.zeros_like(inputs)[:, None, :] + self.positions[None]
        if self.add_input:
            tokens = tokens + inputs[:, None, :]
        return tokens

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.rows, input_shape[-1])

    def get_config(self):
        return {**super().get_config(), "rows": self.rows, "add_input": self.add_input,
                "stddev": self.stddev}
