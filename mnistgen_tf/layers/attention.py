"""DRAW's selective attention (Gregor et al. 2015, section 3.2): Gaussian filterbanks, read and write.

A Dense layer of the decoder state gives five window parameters per image,
``(g̃x, g̃y, log σ², log δ̃, log γ)``.  For an image of A columns and B rows
and an N×N grid of filters::

    gx = (A + 1)/2 · (g̃x + 1),   gy = (B + 1)/2 · (g̃y + 1),   δ = (max(A, B) − 1)/(N − 1) · δ̃
    μx_i = gx + (i − N/2 − 0.5) δ,   μy_j = gy + (j − N/2 − 0.5) δ,      i, j = 1 … N
    Fx[i, a] ∝ exp(−(a − μx_i)² / 2σ²),   Fy[j, b] ∝ exp(−(b − μy_j)² / 2σ²),   a = 1 … A, b = 1 … B

each filter normalised to sum 1 over the image axis (a softmax, so even
a narrow filter far off the image sums to 1).  Pixel coordinates
start at 1, so a centred window (g̃ = 0) of N = A filters spaced δ = 1 puts
filter i on pixel i: read with σ² → 0 then returns the image itself.
``read`` is ``γ · Fy x Fxᵀ`` (per channel) and ``write`` its transpose
``(1/γ) · Fyᵀ w Fx``.  Images are flat rows of (B, A, C) pixels, as DRAW's canvas.
"""

import math

import keras
import numpy as np
from keras import layers, ops

WINDOW_PARAMETERS = 5  # g̃x, g̃y, log σ², log δ̃, log γ


def filterbanks(window, image_shape, n):
    """``(Fx (m, N, A), Fy (m, N, B), γ (m, 1))`` from window parameters of shape (m, 5)."""
    rows, columns = image_shape[0], image_shape[1]
    if n < 2:
        raise ValueError(f"an attention grid needs N >= 2 filters per side, got {n}")
    gx, gy, log_var, log_delta, log_gamma = ops.split(window, WINDOW_PARAMETERS, axis=-1)  # each (m, 1)
    gx = (columns + 1) / 2 * (gx + 1)
    gy = (rows + 1) / 2 * (gy + 1)
    delta = (max(rows, columns) - 1) / (n - 1) * ops.exp(log_delta)
    offsets = ops.arange(1, n + 1, dtype=window.dtype) - n / 2 - 0.5  # (N,)
    two_var = 2 * ops.exp(log_var)[:, :, None]  # (m, 1, 1): σ², not σ, in the exponent

    def bank(centre, size):
        means = centre + offsets * delta  # (m, N)
        pixels = ops.arange(1, size + 1, dtype=window.dtype)  # 1-based, see the module's docstring
        # exp(...) / Σ exp(...) as a softmax: still sums to 1 for a narrow filter far off the image,
        # where every exp underflows to 0.
        return ops.softmax(-ops.square(pixels[None, None, :] - means[:, :, None]) / two_var, axis=-1)

    return bank(gx, columns), bank(gy, rows), ops.exp(log_gamma)


def window_box(window, image_shape, n):
    """``(left, top, side)`` in 0-based pixel coordinates of the square an N×N window covers, for pictures.

    ``window`` holds the five parameters of one window (NumPy); the square
    is centred on (gx, gy) with side N·δ, one filter spacing per filter.
    """
    rows, columns = image_shape[0], image_shape[1]
    gx_tilde, gy_tilde, _, log_delta, _ = np.asarray(window, np.float64)
    gx, gy = (columns + 1) / 2 * (gx_tilde + 1), (rows + 1) / 2 * (gy_tilde + 1)
    side = n * (max(rows, columns) - 1) / (n - 1) * np.exp(log_delta)
    return gx - 1 - side / 2, gy - 1 - side / 2, side  # 1-based centres -> 0-based pixels


# Read and write as two batched matmuls per channel plane, not three-operand einsums: the paper's
# attention model, without XLA, trains 1.09x faster so (results/benchmarks/draw_attention_products.txt).
def read_glimpses(images, fx, fy):
    """``Fy x Fxᵀ`` per channel of each of `images` (each (m, B, A, C)) -> their glimpses (m, N, N, C).

    The filterbanks are laid out once for all the images (DRAW reads x and x̂ through one window).
    """
    left, right = fy[:, None], ops.swapaxes(fx, 1, 2)[:, None]  # (m, 1, N, B), (m, 1, A, N)
    return [_from_planes(ops.matmul(ops.matmul(left, _planes(v)), right)) for v in images]


def write_patch(patches, fx, fy):
    """``Fyᵀ w Fx`` per channel, the transpose of a read: patches (m, N, N, C) -> (m, B, A, C)."""
    return _from_planes(ops.matmul(ops.matmul(ops.swapaxes(fy, 1, 2)[:, None], _planes(patches)), fx[:, None]))


def _planes(images):
    """(m, rows, columns, C) -> (m, C, rows, columns); a reshape, not a transpose, for one channel."""
    m, rows, columns, channels = ops.shape(images)
    if channels == 1:
        return ops.reshape(images, (-1, 1, rows, columns))
    return ops.moveaxis(images, -1, 1)


def _from_planes(planes):
    """The inverse of `_planes`: (m, C, rows, columns) -> (m, rows, columns, C)."""
    m, channels, rows, columns = ops.shape(planes)
    if channels == 1:
        return ops.reshape(planes, (-1, rows, columns, 1))
    return ops.moveaxis(planes, 1, -1)


@keras.saving.register_keras_serializable(package="mnistgen")
class AttentiveRead(layers.Layer):
    """DRAW's read with attention: ``[x, x̂, window]`` -> ``γ · [Fy x Fxᵀ, Fy x̂ Fxᵀ]``, flat (m, 2·N²·C).

    ``x`` and ``x̂`` are flat images of ``image_shape``; ``window`` the five
    parameters from a Dense layer of the previous decoder state.
    """

    def __init__(self, n, image_shape, **kwargs):
        super().__init__(**kwargs)
        self.n = n
        self.image_shape = tuple(image_shape)

    def call(self, inputs):
        x, x_hat, window = inputs
        fx, fy, gamma = filterbanks(window, self.image_shape, self.n)
        glimpses = read_glimpses([ops.reshape(v, (-1, *self.image_shape)) for v in (x, x_hat)], fx, fy)
        return gamma * ops.concatenate([ops.reshape(g, (ops.shape(x)[0], -1)) for g in glimpses], axis=-1)

    def compute_output_shape(self, input_shape):
        return (input_shape[0][0], 2 * self.n * self.n * self.image_shape[-1])

    def get_config(self):
        return {**super().get_config(), "n": self.n, "image_shape": self.image_shape}


@keras.saving.register_keras_serializable(package="mnistgen")
class AttentiveWrite(layers.Layer):
    """DRAW's write with attention: ``[w, window]`` -> ``(1/γ) · Fyᵀ w Fx``, a flat image of ``image_shape``.

    ``w`` is the flat N×N×C patch from a Dense layer of the decoder state;
    ``window`` the five parameters from another Dense layer of it.
    """

    def __init__(self, n, image_shape, **kwargs):
        super().__init__(**kwargs)
        self.n = n
        self.image_shape = tuple(image_shape)

    def call(self, inputs):
        w, window = inputs
        fx, fy, gamma = filterbanks(window, self.image_shape, self.n)
        patches = ops.reshape(w, (-1, self.n, self.n, self.image_shape[-1]))
        return ops.reshape(write_patch(patches, fx, fy), (ops.shape(w)[0], -1)) / gamma

    def compute_output_shape(self, input_shape):
        return (input_shape[0][0], math.prod(self.image_shape))

    def get_config(self):
        return {**super().get_config(), "n": self.n, "image_shape": self.image_shape}
