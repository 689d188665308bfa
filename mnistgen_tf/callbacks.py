"""Callbacks a family adds to the trainer's own (see `registry.Family.callbacks`).

They run before the epoch is recorded, so what they log (``fid``) lands in
history.csv, and they depend only on the epoch number and fixed seeds, so a
resumed run logs what an uninterrupted one would have.
"""

import math
import os

import keras
import numpy as np

from mnistgen_tf.files import atomic_path, ensure_dir


class EpochSamples(keras.callbacks.Callback):
    """After every epoch: a grid of samples from fixed noise, and the FID of fresh samples.

    Args:
        out_dir: the run folder; grids go to ``samples/epoch_NNN.png``.
        sampler_of: trainer -> a generator of [0, 1] images (input ``z``).
        dataset: whose shipped classifier gives the FID features, against its test split.
        fid_samples: how many samples the FID uses (0: no FID).
        grid: how many images the grid shows.
        seed: seed of the grid's noise and of the FID's samples.
    """

    def __init__(self, out_dir, sampler_of, dataset, fid_samples, grid=64, seed=0):
        super().__init__()
        self.out_dir, self.sampler_of, self.dataset = out_dir, sampler_of, dataset
        self.fid_samples, self.grid, self.seed = fid_samples, grid, seed
        self._sampler = self._reference = None

    def on_epoch_end(self, epoch, logs=None):
        from mnistgen_tf.figures import save_grid_png
        from mnistgen_tf.sampling import sample

        if self._sampler is None:  # built once: it shares the trainer's weights, and predict traces once
            self._sampler = self.sampler_of(self.model)
        sampler = self._sampler
        folder = os.path.join(self.out_dir, "samples")
        ensure_dir(folder)
        path = os.path.join(folder, f"epoch_{epoch + 1:03d}.png")
        with atomic_path(path) as tmp:
            save_grid_png(sample(sampler, self.grid, seed=self.seed), tmp)
        if self.fid_samples and logs is not None:
            logs["fid"] = self._fid(sampler)

    def _fid(self, sampler):
        from mnistgen_tf.metrics.features import ClassifierFeatures
        from mnistgen_tf.metrics.fid import stats_of_generator, stats_of_split
        from mnistgen_tf.metrics.frechet import fid_from_stats

        if self._reference is None:
            extractor = ClassifierFeatures(self.dataset)
            self._reference = extractor, stats_of_split(self.dataset, "test", extractor)
        extractor, reference = self._reference
        return fid_from_stats(stats_of_generator(sampler, extractor, self.fid_samples, seed=self.seed + 1),
                              reference)


class EpochLearningRate(keras.callbacks.Callback):
    """Sets the trainer's learning rate at the start of each epoch from the epoch number alone.

    ``cosine``: ``lr · (1 + cos(π · epoch / epochs)) / 2``, from `lr` down towards 0
    over the run.  The trainer's ``set_learning_rate(value)`` applies it.
    """

    def __init__(self, learning_rate, epochs):
        super().__init__()
        self.learning_rate, self.epochs = learning_rate, epochs

    def value(self, epoch):
        return self.learning_rate * (1 + math.cos(math.pi * epoch / self.epochs)) / 2

    def on_epoch_begin(self, epoch, logs=None):
        self.model.set_learning_rate(np.float32(self.value(epoch)))

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["learning_rate"] = self.value(epoch)


class FreezeParts(keras.callbacks.Callback):
    """From epoch `after` (0-based: epochs after+1, ...) on, the model's parts named in `parts` stop training.

    Two-stage training in one run: e.g. the adder's autoencoder (E, D) learns
    to reconstruct first, then P learns on codes that no longer move.  The
    freeze is a function of the epoch number alone, so a resumed run freezes
    where an uninterrupted one did.
    """

    def __init__(self, after, parts):
        super().__init__()
        self.after, self.parts = after, tuple(parts)

    def on_epoch_begin(self, epoch, logs=None):
        parts = [getattr(self.model, name) for name in self.parts]
        if epoch >= self.after and any(part.trainable for part in parts):
            for part in parts:
                part.trainable = False
            self.model.make_train_function(force=True)  # the traced step holds the old trainable list


class TestSplitLoss(keras.callbacks.Callback):
    """After every epoch: one of the model's losses on the test split, logged as ``test_<key>``.

    For curves against epochs (the DRAW paper's test -ELBO); the model is
    still selected on the validation split.  ``images`` are the evaluation
    images (`data.for_evaluation`), ``labels`` their digits; ``batch_size``
    best the training's, so the compiled test step is reused.  The model's
    random streams are put back after the evaluation, so training goes on
    with the noise it would have drawn without it.
    """

    def __init__(self, images, labels, key, batch_size):
        super().__init__()
        self.images, self.labels, self.key, self.batch_size = images, labels, key, batch_size
        self._test = None

    def on_epoch_end(self, epoch, logs=None):
        from mnistgen_tf import data

        if self._test is None:
            self._test = data.pipeline("images", self.images, self.labels, self.batch_size)
        streams = [v for v in self.model.non_trainable_variables if v.path.endswith("seed_generator_state")]
        kept = [v.numpy() for v in streams]
        logs[f"test_{self.key}"] = self.model.evaluate(self._test, verbose=0, return_dict=True)[self.key]
        for variable, value in zip(streams, kept):
            variable.assign(value)
