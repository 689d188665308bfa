"""FID between image sources: data splits, image arrays, saved statistics, generators.

A source is written as

    mnist:test            a data set split (``fashion_mnist:train``, ...)
    images.npy            an array of images (n, H, W[, C]), uint8 or floats in [0, 1]
    stats.npz             statistics saved by `FeatureStats.save` (already featurised)
    generator.keras       a saved generator, sampled (conditional ones cycle the digits)

Statistics of whole data set splits are cached as ``.npz`` in
``$MNISTGEN_CACHE_DIR`` (default ``~/.cache/mnistgen_tf``), one file per
split and extractor, so the reference side is computed once.

Random streams: `fid` spawns one child of ``numpy.random.SeedSequence(seed)``
per source, and every source spawns one grandchild per batch, so two
generators (or one generator compared with itself) never share noise, and
adding a batch never shifts another source's stream.  An int seed given to
`sample_batches` or `stats_of_generator` stands for the first source of that
seed, so ``stats_of_generator(g, extractor, n, seed)`` draws exactly what
``mnistgen fid g.keras ... --seed SEED`` draws for its first source.

`real_baseline` is the FID of real training images against the reference
at a given sample size: the finite-sample floor a perfect generator would
reach with that many samples.
"""

import os

import numpy as np

from mnistgen_tf import data
from mnistgen_tf.errors import MnistgenError
from mnistgen_tf.files import ensure_dir
from mnistgen_tf.metrics.frechet import FeatureStats, fid_from_stats
from mnistgen_tf.sampling import is_conditional, load_generator, sample

DEFAULT_GENERATED = 10_000


def cache_dir():
    return os.environ.get("MNISTGEN_CACHE_DIR") or os.path.join(os.path.expanduser("~"), ".cache", "mnistgen_tf")


def stats_of_images(images, extractor, batch_size=1000):
    """Streamed feature statistics of an array of images."""
    stats = FeatureStats()
    for start in range(0, len(images), batch_size):
        stats.update(extractor(images[start:start + batch_size]))
    return stats


def source_seeds(seed, count=2):
    """Independent seeds of `count` sources: ``SeedSequence(seed).spawn(count)``.

    `seed` is an int (or None for fresh entropy) or a `numpy.random.SeedSequence`;
    a SeedSequence given is not modified, so the same one always gives the same
    children.
    """
    return _fresh(seed).spawn(count)


def source_seed(seed):
    """The SeedSequence of one source: an int stands for the first source of that seed."""
    if isinstance(seed, np.random.SeedSequence):
        return seed
    return source_seeds(seed)[0]


def batch_seeds(seed, n_batches):
    """The per-batch seeds of one source: ``source_seed(seed).spawn(n_batches)``."""
    return _fresh(source_seed(seed)).spawn(n_batches)


def _fresh(seed):
    """A SeedSequence that has spawned nothing yet (a copy when `seed` is one), so spawning is repeatable."""
    if isinstance(seed, np.random.SeedSequence):
        return np.random.SeedSequence(seed.entropy, spawn_key=seed.spawn_key, pool_size=seed.pool_size)
    return np.random.SeedSequence(seed)


def sample_batches(generator, n, seed=0, batch_size=1000):
    """`n` samples a batch at a time, as ``(digits, images)``.

    `seed` is an int or a `numpy.random.SeedSequence` (see `source_seed`);
    batch i is drawn with ``batch_seeds(seed, n_batches)[i]``, so no two
    batches, and no two sources, share noise.  Conditional generators cycle
    the digits 0-9 across batches; for the others `digits` is None.
    """
    conditional = is_conditional(generator)
    starts = range(0, n, batch_size)
    for start, batch_seed in zip(starts, batch_seeds(seed, len(starts))):
        count = min(batch_size, n - start)
        digits = np.arange(start, start + count) % 10 if conditional else None
        yield digits, sample(generator, count, digits, seed=batch_seed)


def stats_of_generator(generator, extractor, n, seed=0, batch_size=1000):
    """Statistics of `n` samples, drawn (see `sample_batches`) and featurised a batch at a time."""
    stats = FeatureStats()
    for _, images in sample_batches(generator, n, seed, batch_size):
        stats.update(extractor(images))
    return stats


def stats_of_split(name, split, extractor, n=None):
    """Statistics of a data set split (its first `n` images); whole splits are cached, except under an
    extractor with random weights (they differ from process to process)."""
    cached = n is None and getattr(extractor, "fingerprint", None) != "random"
    if cached:
        key = f"{name}_{split}_{extractor.name}_{getattr(extractor, 'fingerprint', 'unversioned')}"
        path = os.path.join(cache_dir(), key + ".npz")
        if os.path.exists(path):
            try:
                return FeatureStats.load(path)
            except MnistgenError as e:
                raise MnistgenError(f"{e}; delete the cache file {path} to recompute it") from None
        ensure_dir(cache_dir())  # an unusable cache folder is found before the features are computed
    images, _ = data.load(name, split)
    stats = stats_of_images(images[:n], extractor)
    if cached:
        stats.save(path)
    return stats


def stats_of_source(source, extractor, n=None, seed=0):
    """`FeatureStats` of one source (see the module docstring)."""
    if source.endswith(".npz"):
        _require_file(source)
        return FeatureStats.load(source)
    if source.endswith(".npy"):
        _require_file(source)
        try:
            images = np.load(source, mmap_mode="r")
        except (OSError, ValueError, EOFError) as e:
            raise MnistgenError(f"cannot read images from {source}: {e or type(e).__name__}".replace("\n", " ")
                                ) from None
        if images.ndim not in (3, 4) or images.dtype.kind not in "biuf":
            raise MnistgenError(f"{source} holds an array of shape {images.shape} and dtype {images.dtype}; "
                                "expected images (n, H, W[, C]), uint8 or floats in [0, 1]")
        return stats_of_images(np.asarray(images[:n]), extractor)
    if source.endswith(".keras"):
        return stats_of_generator(load_generator(source), extractor, n or DEFAULT_GENERATED, seed)
    name, _, split = source.partition(":")
    if name in data.DATASETS and split in data.SPLITS:
        return stats_of_split(name, split, extractor, n)
    raise MnistgenError(
        f"cannot read source {source!r}: expected DATASET:SPLIT (e.g. mnist:test), .npy images, "
        ".npz statistics or a .keras generator"
    )


def _require_file(path):
    if not os.path.isfile(path):
        raise MnistgenError(f"no such file {path}")


def fid(source_a, source_b, extractor, n=None, seed=0):
    """``(distance, stats_a, stats_b)`` between two sources under `extractor`.

    Generators draw from independent streams, ``source_seeds(seed)``: the
    same generator on both sides gives two independent samples.
    """
    seed_a, seed_b = source_seeds(seed)
    a = stats_of_source(source_a, extractor, n, seed_a)
    b = stats_of_source(source_b, extractor, n, seed_b)
    return fid_from_stats(a, b), a, b


def real_baseline(dataset, extractor, n, reference_split="test", train_split="train"):
    """``(distance, train_stats, reference_stats)``: the FID of the first `n` images of
    `train_split` against the whole `reference_split` (cached statistics).

    The finite-sample bias of FID at sample size `n`: what a perfect generator,
    one that draws real training images, would score against the same
    reference.  `n` is capped at the size of `train_split`; ``train_stats.count``
    is the number used.
    """
    if n < 2:
        raise MnistgenError(f"a baseline needs at least 2 images; got n={n}")
    reference = stats_of_split(dataset, reference_split, extractor)
    train = stats_of_split(dataset, train_split, extractor, n)
    return fid_from_stats(train, reference), train, reference
