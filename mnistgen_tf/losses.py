"""The kit's loss terms, in `keras.ops`: usable inside `train_step` and on NumPy arrays.

On NumPy input the result is a tensor of the input's dtype, so evaluation
code can pass float64 arrays and keep float64 accuracy (``np.asarray`` it).
"""

from keras import ops


def bce_with_logits(targets, logits):
    """Per-element binary cross-entropy of targets in [0, 1] and logits, stable for large |logits|.

    ``log(1 + exp(l)) - x * l``, which equals ``-(x log p + (1 - x) log(1 - p))``
    with ``p = sigmoid(l)``.
    """
    return ops.logaddexp(ops.zeros_like(logits), logits) - targets * logits


def bce_with_probabilities(targets, probabilities, epsilon=1e-7):
    """Per-element binary cross-entropy of predicted probabilities, clipped to [eps, 1 - eps] as Keras does."""
    p = ops.clip(probabilities, epsilon, 1.0 - epsilon)
    return -(targets * ops.log(p) + (1.0 - targets) * ops.log(1.0 - p))


def kl_divergence(mu, log_var):
    """KL(N(mu, exp(log_var)) || N(0, I)) in nats, summed over the last axis."""
    return 0.5 * ops.sum(ops.square(mu) + ops.exp(log_var) - log_var - 1.0, axis=-1)
