"""Every custom layer of the kit, registered with Keras under the package name ``mnistgen``.

Importing this package registers them, so saved models reload with plain
`keras.models.load_model` in safe mode.  Grouped by purpose:

- `sampling`: the reparameterisation trick (Gaussian latent samples);
- `recurrent`: DRAW's decoder (`DrawWriter`), encoder step (`EncoderLSTM`), the thesis's LSTM
  (`ThesisLSTMCell`) and zero states (`Zeros`);
- `transformer`: learned row positions for the label -> image transformers.
"""

from mnistgen_tf.layers.recurrent import DrawWriter, EncoderLSTM, ThesisLSTMCell, Zeros
from mnistgen_tf.layers.sampling import GaussianSample
from mnistgen_tf.layers.transformer import RowPositions

__all__ = ["DrawWriter", "EncoderLSTM", "GaussianSample", "RowPositions", "ThesisLSTMCell", "Zeros"]
