"""Handwriting style transfer with a CVAE (seed 004: x̂ = g(f(x_style), y_content)), and measures of style.

The CVAE's encoder f reads an image and its digit and gives the code's
posterior mean, the part of the image the label does not explain: its style.
The decoder g draws that code as any digit.

Style is measured by two numbers per image, both from the pixel intensities
as weights: *ink*, the mean intensity (stroke thickness and size), and
*slant*, how far the strokes lean right per row upward (the regression of the
column on the height, from the second-order image moments).
"""

import numpy as np

from mnistgen_tf import data
from mnistgen_tf.errors import MnistgenError


def parse_digits(text):
    """``"0-9"``, ``"3,5,7"`` or ``"4"`` -> a tuple of digits, each 0-9."""
    digits = []
    for part in text.split(","):
        low, _, high = part.strip().partition("-")
        try:
            span = range(int(low), int(high or low) + 1)
        except ValueError:
            raise MnistgenError(f"digits must look like 0-9, 3,5,7 or 4, got {text!r}") from None
        if not span or span[0] < 0 or span[-1] > 9:
            raise MnistgenError(f"digits must be 0-9, got {part.strip()!r}")
        digits.extend(span)
    return tuple(digits)


def check_cvae(encoder, decoder):
    """One-line errors unless `encoder` reads (image, label) and `decoder` (z, label) with matching codes."""
    if sorted(t.name for t in getattr(decoder, "inputs", None) or []) != ["label", "z"]:
        raise MnistgenError("the generator is not conditional: style transfer needs a CVAE's decoder (z and label)")
    names = sorted(t.name for t in getattr(encoder, "inputs", None) or [])  # subclassed models have none
    if names != ["image", "label"] or len(encoder.outputs) != 2:
        raise MnistgenError(f"the encoder's inputs are {names}; style transfer needs a CVAE's encoder "
                            "(image and label)")
    code, latent = encoder.outputs[0].shape[-1], {t.name: t.shape[-1] for t in decoder.inputs}["z"]
    if code != latent:
        raise MnistgenError(f"the encoder gives codes of {code} and the decoder reads {latent}: not one CVAE")


def transfer(encoder, decoder, images, source_labels, digits=tuple(range(10)), batch_size=500):
    """(n, len(digits), 28, 28, 1): each image's style (its code's posterior mean) drawn as each digit."""
    check_cvae(encoder, decoder)
    images = np.asarray(images, np.float32)
    labels = np.asarray(source_labels, np.int32)
    inputs = {"image": images, "label": labels}
    mean = encoder.predict(data.batches([inputs[t.name] for t in encoder.inputs], batch_size), verbose=0)[0]
    out = np.empty((len(images), len(digits), *images.shape[1:]), np.float32)
    for j, digit in enumerate(digits):
        wanted = {"z": mean, "label": np.full(len(images), digit, np.int32)}
        out[:, j] = decoder.predict(data.batches([wanted[t.name] for t in decoder.inputs], batch_size), verbose=0)
    return out


def ink(images):
    """Mean pixel intensity of each image (stroke thickness and size)."""
    images = np.asarray(images, np.float64)
    return images.reshape(len(images), -1).mean(axis=1)


def slant(images):
    """Columns the strokes move right per row upward: cov(column, height) / var(height), intensity-weighted."""
    images = np.asarray(images, np.float64)[..., 0]
    rows, cols = np.mgrid[: images.shape[1], : images.shape[2]]
    weight = images / np.maximum(images.sum(axis=(1, 2), keepdims=True), 1e-12)
    height = -rows  # up is positive
    mean_h, mean_c = (weight * height).sum(axis=(1, 2)), (weight * cols).sum(axis=(1, 2))
    dh, dc = height - mean_h[:, None, None], cols - mean_c[:, None, None]
    return (weight * dh * dc).sum(axis=(1, 2)) / np.maximum((weight * dh ** 2).sum(axis=(1, 2)), 1e-12)


STYLE_MEASURES = {"ink": ink, "slant": slant}


def style_consistency(sources, transfers, seed=0):
    """Per measure: does the source's style survive the transfer to every digit?

    ``sources`` (n, 28, 28, 1), ``transfers`` (n, digits, 28, 28, 1).  For each
    measure: ``correlation``, Pearson's r across sources between the source's
    value and its transfers' mean value (the same with the transfers shuffled
    across sources, ``shuffled_correlation``, is the no-style reference, near 0);
    ``per_digit``, that r for each target digit; and ``source_share``, the
    share of the transfers' variance (after removing each digit's mean) that
    is between sources: 1 when the 10 outputs of one source agree exactly in
    style, 1/digits when the source says nothing.
    """
    n, k = transfers.shape[:2]
    shuffled = np.random.default_rng(seed).permutation(n)
    report = {}
    for name, measure in STYLE_MEASURES.items():
        source = measure(sources)
        values = measure(transfers.reshape(n * k, *transfers.shape[2:])).reshape(n, k)
        residual = values - values.mean(axis=0)
        report[name] = {
            "correlation": float(np.corrcoef(source, values.mean(axis=1))[0, 1]),
            "shuffled_correlation": float(np.corrcoef(source, values[shuffled].mean(axis=1))[0, 1]),
            "per_digit": [float(np.corrcoef(source, values[:, j])[0, 1]) for j in range(k)],
            "source_share": float(residual.mean(axis=1).var() / residual.var()),
        }
    return report
