"""One weight-gradient product per kernel for all of DRAW's steps, instead of one per step.

A kernel W shared by T steps gets the gradient ``Σ_t a_tᵀ g_t``, where
``a_t`` is what step t multiplied by W and ``g_t`` the gradient of the
loss at the product ``y_t = a_t W``.  Autodiff computes it as T products
of (in × batch) @ (batch × out) -- a batch of 100 is a short inner
dimension, on which this CPU's matmuls run below their rate, most of all
in bfloat16 -- and sums T kernel-sized gradients.  Stacking the steps gives
the same sum as one product of (in × T·batch) @ (T·batch × out), and no
sums (the gains: ``results/benchmarks/draw_step_products.txt``).

The layers here multiply through `step_matmul`.  Outside
`record_step_products` it is ``ops.matmul``.  Inside, it multiplies by a
stopped-gradient copy of the kernel and records ``(a_t, y_t)``, and
`StepProducts.gradients` then asks the tape for the gradients at the
``y_t`` and multiplies the stacked pairs once per kernel.  Only a train
step that uses `StepProducts.gradients` may record: a plain
``tape.gradient`` of recorded products would see no kernel gradient.
"""

import contextlib
import threading

import keras
from keras import layers, ops


class _Recording(threading.local):
    """Per-thread recording state; `__init__` runs once in each thread that touches it."""

    def __init__(self):
        self.stack = []  # the StepProducts of the forward passes traced in this thread


_recording = _Recording()


def step_matmul(inputs, kernel):
    """``inputs @ kernel`` (a Keras variable, autocast in a layer's call), recorded when recording.

    Only a variable is recorded: the gradient of a computed kernel (a slice, a
    LoRA sum) is autodiff's, through the tape.
    """
    if not _recording.stack or not isinstance(kernel, keras.Variable):
        return ops.matmul(inputs, kernel)
    return _recording.stack[-1].matmul(inputs, kernel)


@contextlib.contextmanager
def record_step_products(tape):
    """Record the `step_matmul` products of the forward pass run in the block, which `tape` (a
    ``tf.GradientTape``) records; yields a `StepProducts`."""
    products = StepProducts(tape)
    _recording.stack.append(products)
    try:
        yield products
    finally:
        _recording.stack.pop()


class StepProducts:
    """The recorded products ``(a_t, y_t)`` of each kernel, and the gradients they give."""

    def __init__(self, tape):
        self.tape = tape
        self.uses = {}  # id(kernel) -> (kernel, [(a_t, y_t), ...])

    def matmul(self, inputs, kernel):
        product = ops.matmul(inputs, ops.stop_gradient(ops.convert_to_tensor(kernel)))
        # Watched, or the tape would not record what follows a product of a stopped kernel and an
        # input that depends on no weight (the first step's zero state, the image).
        self.tape.watch(product)
        self.uses.setdefault(id(kernel), (kernel, []))[1].append((inputs, product))
        return product

    def gradients(self, loss, weights):
        """The gradients of `loss` with respect to `weights`, as ``tape.gradient`` would give them."""
        weights = list(weights)
        products = [y for _, pairs in self.uses.values() for _, y in pairs]
        grads = self.tape.gradient(loss, weights + products)
        at_products = iter(grads[len(weights):])
        from_products = {}
        for key, (kernel, pairs) in self.uses.items():
            rows, columns = kernel.shape  # inputs of any rank: each of their rows, at every step, is a row here
            a = ops.concatenate([ops.reshape(x, (-1, rows)) for x, _ in pairs], axis=0)
            g = ops.concatenate([ops.reshape(_zeros_if_none(next(at_products), y), (-1, columns))
                                 for _, y in pairs], axis=0)
            from_products[key] = ops.cast(ops.matmul(ops.transpose(a), g), kernel.dtype)
        # A recorded kernel gets no gradient through its recorded products (they stop it), so the
        # tape's is that of any other use: None when there is none.
        return [_add(grad, from_products.get(id(weight))) for weight, grad in zip(weights, grads)]


def _zeros_if_none(grad, like):
    return ops.zeros_like(like) if grad is None else grad


def _add(a, b):
    return a if b is None else b if a is None else a + b


# The two classes keep Keras's class names: a saved model's weights are found by paths made from
# its layers' class names, so files saved with Keras's Dense and LSTMCell load into these and back.
@keras.saving.register_keras_serializable(package="mnistgen", name="StepDense")
class Dense(layers.Dense):
    """`keras.layers.Dense` whose product goes through `step_matmul` (same weights, config and math)."""

    def call(self, inputs, training=None):
        x = step_matmul(inputs, self.kernel)
        if self.bias is not None:
            x = ops.add(x, self.bias)
        return x if self.activation is None else self.activation(x)


@keras.saving.register_keras_serializable(package="mnistgen", name="StepLSTMCell")
class LSTMCell(layers.LSTMCell):
    """`keras.layers.LSTMCell` (without dropout) whose products go through `step_matmul`; same weights and math."""

    def call(self, inputs, states, training=False):
        if self.dropout or self.recurrent_dropout:
            raise ValueError("the step-products LSTMCell has no dropout")
        h, c = states
        gates = step_matmul(inputs, self.kernel) + step_matmul(self.recurrent_input(h, c), self.recurrent_kernel)
        if self.use_bias:
            gates = gates + self.bias
        return self.update(gates, c)

    def recurrent_input(self, h, c):
        """What the gates read beside x: the previous output h."""
        return h

    def update(self, gates, c):
        """``h, [h, c]`` from the summed gate inputs (Keras's order i, f, c̃, o) and the cell state."""
        i, f, g, o = ops.split(gates, 4, axis=-1)
        c = self.recurrent_activation(f) * c + self.recurrent_activation(i) * self.activation(g)
        h = self.recurrent_activation(o) * self.activation(c)
        return h, [h, c]
