"""Every custom layer of the kit, registered with Keras under the package name ``mnistgen``.

Importing this package registers them, so saved models reload with plain
`keras.models.load_model` in safe mode.  Grouped by purpose:

- `sampling`: the reparameterisation trick (Gaussian latent samples);
- `recurrent`: DRAW's decoder (`DrawWriter`), encoder step (`EncoderLSTM`), the thesis's LSTM
  (`ThesisLSTMCell`) and zero states (`Zeros`);
- `step_products`: Keras's `Dense` and `LSTMCell` with their kernel products recorded, so a DRAW
  train step takes one weight-gradient product per kernel over all steps (registered as
  ``StepDense`` and ``StepLSTMCell``);
- `attention`: DRAW's selective attention (`AttentiveRead`, `AttentiveWrite`);
- `transformer`: learned row positions for the label -> image transformers.
"""

from mnistgen_tf.layers.attention import AttentiveRead, AttentiveWrite
from mnistgen_tf.layers.recurrent import DrawWriter, EncoderLSTM, ThesisLSTMCell, Zeros
from mnistgen_tf.layers.sampling import GaussianSample
from mnistgen_tf.layers.transformer import RowPositions

__all__ = ["AttentiveRead", "AttentiveWrite", "DrawWriter", "EncoderLSTM", "GaussianSample", "RowPositions",
           "ThesisLSTMCell", "Zeros"]
