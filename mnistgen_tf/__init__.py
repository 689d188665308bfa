"""mnistgen_tf: reproduction kit for generative models of handwritten digits.

Importing the package registers every custom layer and model with Keras, so
saved generators reload with plain ``keras.models.load_model(path)``.
"""

import os
import sys


def _import_tensorflow_quietly():
    """Import TensorFlow and probe devices with C-level stderr muted.

    TensorFlow prints start-up chatter (oneDNN notes, CUDA probing on
    machines without a GPU) from C++ before it reads TF_CPP_MIN_LOG_LEVEL;
    it would bury the kit's one-line messages.  Real errors later are
    unaffected.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if "tensorflow" in sys.modules:
        return
    sys.stderr.flush()
    saved, devnull = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    try:
        import tensorflow as tf

        tf.config.list_physical_devices()
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


_import_tensorflow_quietly()

from mnistgen_tf.errors import MnistgenError  # noqa: E402
from mnistgen_tf.models import draw  # noqa: E402,F401  (registers the DRAW classes)
from mnistgen_tf.models import label_decoders  # noqa: E402,F401  (registers RowPositions)

__all__ = ["MnistgenError"]
__version__ = "0.1.0"
