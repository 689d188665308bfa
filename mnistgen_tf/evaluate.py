"""The numbers of the thesis's DRAW figures, for one trained model.

On a test split (images as floats in [0, 1], the same as in training):

- ``bce_per_pixel``: binary cross-entropy of the final canvas, averaged over
  the pixels and the images -- the thesis's reconstruction error;
- ``reconstruction_nats``, ``kl_nats``, ``neg_elbo_nats``: per image, the
  same cross-entropy summed over pixels, the KL summed over steps and latent
  variables, and their sum, the negative evidence lower bound in nats (with
  grey-level targets the cross-entropy is not a normalised likelihood, so
  this bounds a Bernoulli model's loss, not the test log-likelihood);
- the variance law and the inactive latent variables (`latent_report`) of
  the posterior means and variances.

Both scalings are computed here from logits, means and log-variances,
whatever scaling the model trained with.  Every image gets one posterior
sample z ~ q(z|x) with noise from NumPy, so the numbers depend on the seed
only.

From the generator: the FID of ``n`` samples against the cached statistics
of the whole test split and, when conditional, how often the shipped
classifier reads the asked-for digit.  Samples come from
`sample_batches`, as for `stats_of_generator`, so the FID equals
``mnistgen fid``'s.
"""

import numpy as np

from mnistgen_tf import data
from mnistgen_tf.data import to_float
from mnistgen_tf.losses import bce_with_logits, bce_with_probabilities, kl_divergence
from mnistgen_tf.metrics.fid import sample_batches
from mnistgen_tf.metrics.frechet import FeatureStats, fid_from_stats
from mnistgen_tf.metrics.latent import latent_report
from mnistgen_tf.sampling import is_conditional, sample

# Separate random streams of one seed, so adding one use never shifts another.
_TEST_NOISE, _FIGURE_SAMPLES = 1, 2


def test_split_metrics(trainer, images, labels, seed=0, keep=8, batch_size=500):
    """Reconstruction and KL terms on `images`, the latent report, and `keep` images' canvases.

    Returns ``(metrics, latent, canvases)``: a dict of floats, a
    `LatentReport`, and the canvases after every step of the first `keep`
    images, shape (keep, T, pixels).
    """
    rng = np.random.default_rng([seed, _TEST_NOISE])
    totals = {"bce": 0.0, "kl": 0.0}
    kl_per_step = np.zeros(trainer.timesteps)
    mus, log_vars, canvases = [], [], None
    for start in range(0, len(images), batch_size):
        x = np.asarray(images[start:start + batch_size], np.float32)
        noise = rng.standard_normal((len(x), trainer.timesteps, trainer.z_dim)).astype(np.float32)
        out = trainer.predict_on_batch({"image": x, "label": np.asarray(labels[start:start + batch_size], "int32"),
                                        "noise": noise})
        target = x.reshape(len(x), -1).astype(np.float64)
        totals["bce"] += np.asarray(bce_with_logits(target, np.asarray(out["logits"], np.float64))).sum()
        mu, log_var = np.asarray(out["mu"], np.float64), np.asarray(out["log_var"], np.float64)
        kl = np.asarray(kl_divergence(mu, log_var))  # (n, T)
        kl_per_step += kl.sum(axis=0)
        totals["kl"] += kl.sum()
        mus.append(out["mu"])
        log_vars.append(out["log_var"])
        if canvases is None:
            canvases = np.asarray(out["canvases"][:keep])
    n, pixels = len(images), int(np.prod(images.shape[1:]))
    reconstruction, kl = totals["bce"] / n, totals["kl"] / n
    metrics = {"bce_per_pixel": reconstruction / pixels, "reconstruction_nats": reconstruction,
               "kl_nats": kl, "neg_elbo_nats": reconstruction + kl,
               "kl_per_step_nats": (kl_per_step / n).tolist()}
    return metrics, latent_report(np.concatenate(mus), np.concatenate(log_vars)), canvases


def sample_metrics(generator, extractor, reference, n, seed=0, batch_size=1000):
    """FID of `n` samples against `reference` statistics, and label accuracy when conditional.

    `seed` is an int or a `numpy.random.SeedSequence`; the samples are those of
    `sample_batches` with the same seed and batch size, the stream
    `stats_of_generator` draws (an int is the first source of
    ``mnistgen fid GENERATOR.keras ... --seed SEED``).
    """
    stats = FeatureStats()
    hits, counts = np.zeros(10), np.zeros(10)
    for digits, images in sample_batches(generator, n, seed, batch_size):
        if digits is None:
            stats.update(extractor(images))
        else:
            features, predicted = extractor.features_and_labels(images)
            stats.update(features)
            np.add.at(counts, digits, 1)
            np.add.at(hits, digits, predicted == digits)
    metrics = {"fid": fid_from_stats(stats, reference)}
    if counts.sum():  # only conditional generators have digits to check
        metrics["label_accuracy"] = float(hits.sum() / counts.sum())
        metrics["label_accuracy_per_digit"] = (hits / np.maximum(counts, 1)).tolist()
    return metrics


def label_accuracy(read, asked):
    """The share of samples whose read digit is the one asked, overall and for each digit 0-9."""
    read, asked = np.asarray(read), np.asarray(asked)
    return float(np.mean(read == asked)), [float(np.mean(read[asked == d] == d)) for d in range(10)]


def figure_samples(generator, n=64, digit=9, seed=0):
    """`n` samples for the figures: of `digit` when the generator is conditional."""
    digits = digit if is_conditional(generator) else None
    return sample(generator, n, digits, seed=[seed, _FIGURE_SAMPLES]), (digit if digits is not None else -1)


def to_uint8(images):
    """Images in [0, 1] as uint8, small enough to keep beside every result."""
    return np.round(np.clip(images, 0.0, 1.0) * 255).astype(np.uint8)


# ---------------------------------------------------------------- label-only models (the report's decoders)

def digit_images(generator):
    """The ten images (10, 28, 28, 1) a label-only generator makes for digits 0-9."""
    return generator.predict(data.batches({"label": np.arange(10, dtype="int32")}), verbose=0)


def class_means(images, labels):
    """Per-pixel mean image of each digit, (10, H, W, 1) floats in [0, 1]."""
    x = to_float(images)
    return np.stack([x[labels == d].mean(axis=0) for d in range(10)])


def per_image_bce(predictions, images):
    """BCE of each image against a prediction, averaged over pixels (probabilities clipped as Keras does)."""
    x = to_float(images).astype(np.float64)
    losses = np.asarray(bce_with_probabilities(x, np.asarray(predictions, np.float64)))
    return losses.mean(axis=tuple(range(1, x.ndim)))


def per_digit_bce(prototypes, images, labels):
    """Average BCE when every image of digit d is predicted by ``prototypes[d]``.

    Returns ``(mean over all images, [mean over the images of each digit])``,
    the report's "average evaluation loss" and its per-digit bar charts (NaN
    for a digit with no image).
    """
    labels = np.asarray(labels)
    losses = per_image_bce(np.asarray(prototypes)[labels], images)
    per_digit = [float(losses[labels == d].mean()) if np.any(labels == d) else float("nan") for d in range(10)]
    return float(losses.mean()), per_digit
