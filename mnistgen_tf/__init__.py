"""mnistgen_tf: reproduction kit for generative models of handwritten digits.

Importing the package registers every custom layer and model with Keras, so
saved generators reload with plain ``keras.models.load_model(path)``.
"""

import os

# TensorFlow's documented switch for its C++ log (2: errors only), unless the user chose.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# TensorFlow's BFC allocator on the CPU, unless the user chose: it reuses freed blocks, where the default
# allocator hands DRAW's many small per-step tensors fresh memory whose first touch costs more than the
# op (results/benchmarks/cpu_allocator.txt).  Read when TensorFlow makes its CPU allocator, so set here.
os.environ.setdefault("TF_CPU_ALLOCATOR_USE_BFC", "true")

from mnistgen_tf import layers  # noqa: E402,F401  (registers the layers)
from mnistgen_tf.errors import MnistgenError  # noqa: E402
from mnistgen_tf import models  # noqa: E402,F401  (registers the trainers)

__all__ = ["MnistgenError"]
__version__ = "0.1.0"
