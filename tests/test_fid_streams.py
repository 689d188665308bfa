"""Random streams of generator sources: independent between sources and batches, reproducible per seed."""

import keras
import numpy as np
import pytest

from mnistgen_tf.evaluate import sample_metrics
from mnistgen_tf.metrics import fid
from mnistgen_tf.metrics.frechet import FeatureStats, fid_from_stats

Z_DIM = 6


def noise_generator(conditional=False):
    """A generator whose 1-pixel-high "images" are sigmoid(z) (and label / 10 when conditional): what it drew shows."""
    z = keras.Input(shape=(Z_DIM,), name="z")
    pixels = keras.layers.Activation("sigmoid")(z)  # one-to-one, and in [0, 1] as images must be
    if not conditional:
        return keras.Model([z], keras.layers.Reshape((1, Z_DIM, 1))(pixels))  # a list, as DRAW builds it
    label = keras.Input(shape=(), dtype="int32", name="label")
    as_pixel = keras.layers.Lambda(lambda t: keras.ops.cast(keras.ops.expand_dims(t, -1), "float32") / 10)(label)
    image = keras.layers.Reshape((1, Z_DIM + 1, 1))(keras.layers.Concatenate()([pixels, as_pixel]))
    return keras.Model([z, label], image)


class Recorder:
    """A feature extractor that keeps every batch it is given and returns it as the features."""

    name = "recorder"

    def __init__(self):
        self.batches = []

    def __call__(self, images):
        x = np.asarray(images, dtype=np.float64).reshape(len(images), -1)
        self.batches.append(x.copy())
        return x

    def features_and_labels(self, images):
        x = self(images)
        return x, np.rint(x[:, -1] * 10).astype(int)


@pytest.fixture(scope="module")
def generator_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("generator") / "g.keras"
    noise_generator().save(path)
    return str(path)


def rows(batches):
    return {row.tobytes() for batch in batches for row in batch}


def test_one_generator_against_itself_shares_no_noise(generator_file):
    # 5 batches per source: with seeds seed + i and seed + 1 + i, four of them were the same.
    recorder = Recorder()
    n, batch = 5000, 1000
    distance, a, b = fid.fid(generator_file, generator_file, recorder, n=n, seed=0)
    assert a.count == b.count == n and len(recorder.batches) == 10
    first, second = recorder.batches[:5], recorder.batches[5:]
    assert all(len(x) == batch for x in recorder.batches)
    assert not rows(first) & rows(second)  # no noise vector drawn for both sources, in any batch
    assert len(rows(first)) == len(rows(second)) == n  # nor twice within a source
    # Two independent samples of 6 standard normals: an FID of order d^2 / n, not 0.
    assert distance > 0

    again = Recorder()
    assert fid.fid(generator_file, generator_file, again, n=n, seed=0)[0] == distance
    for x, y in zip(recorder.batches, again.batches):
        np.testing.assert_array_equal(x, y)
    other = Recorder()
    fid.fid(generator_file, generator_file, other, n=n, seed=1)
    assert not rows(other.batches) & rows(recorder.batches)


def test_streams_follow_seed_sequences():
    generator = noise_generator()
    n, batch = 2500, 1000

    def drawn(seed):
        return [images for _, images in fid.sample_batches(generator, n, seed, batch)]

    root = np.random.SeedSequence(7)
    seed_a, seed_b = fid.source_seeds(7)
    assert [s.spawn_key for s in (seed_a, seed_b)] == [(0,), (1,)]
    # A SeedSequence given to source_seeds is not consumed: it spawns the same children every time.
    for _ in range(2):
        assert [s.spawn_key for s in fid.source_seeds(root)] == [(0,), (1,)]
    assert root.n_children_spawned == 0
    # A SeedSequence is used as given, and not consumed: the same one draws the same batches twice.
    by_sequence = drawn(seed_a)
    for x, y in zip(by_sequence, drawn(seed_a)):
        np.testing.assert_array_equal(x, y)
    # Batch i of a source is drawn with the source's i-th child.
    for i, child in enumerate(np.random.SeedSequence(7).spawn(2)[0].spawn(3)):
        count = min(batch, n - i * batch)
        expected = np.random.default_rng(child).standard_normal((count, Z_DIM)).astype("float32")
        np.testing.assert_allclose(by_sequence[i].reshape(count, Z_DIM), 1 / (1 + np.exp(-expected)), rtol=1e-6)
    # An int is the first source of that seed, as `mnistgen fid G.keras ... --seed 7` draws it.
    for x, y in zip(drawn(7), by_sequence):
        np.testing.assert_array_equal(x, y)
    assert not rows(drawn(seed_b)) & rows(by_sequence)
    assert seed_a.n_children_spawned == 0


@pytest.mark.parametrize("conditional", [False, True])
def test_sample_metrics_draws_the_stream_of_stats_of_generator(conditional):
    generator = noise_generator(conditional)
    d = Z_DIM + conditional
    reference = FeatureStats().update(np.random.default_rng(3).standard_normal((500, d)))
    for seed in (3, fid.source_seeds(3)[1]):
        recorder = Recorder()
        metrics = sample_metrics(generator, recorder, reference, 1500, seed)
        stats = fid.stats_of_generator(generator, Recorder(), 1500, seed)
        assert metrics["fid"] == fid_from_stats(stats, reference)
        if conditional:
            assert metrics["label_accuracy"] == 1.0  # the recorder reads back the digit asked for
