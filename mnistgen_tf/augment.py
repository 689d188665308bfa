"""Data augmentation with generated digits (seed 004: D_aug = D ∪ {G(z_i)}), measured by a classifier.

A classifier of the kit's own architecture (the feature CNN of
`mnistgen_tf.assets.train_classifiers`) is trained on N real labelled images,
alone or mixed with ``ratio × N`` images from a conditional generator (each
labelled with the digit it was asked for, the digits 0-9 in turn), for a
fixed number of steps, so that every mix costs the same, and is scored on
the test split.
"""

import keras
import numpy as np
import tensorflow as tf

from mnistgen_tf import data
from mnistgen_tf.assets.train_classifiers import build_classifier
from mnistgen_tf.errors import MnistgenError
from mnistgen_tf.evaluate import to_uint8
from mnistgen_tf.sampling import cycled_digits, is_conditional, sample


def generated_examples(generator, n, seed=0):
    """`n` images of a conditional generator (uint8) and the digits asked for: 0-9 in turn."""
    if not is_conditional(generator):
        raise MnistgenError("augmentation needs a conditional generator: its images need labels")
    labels = cycled_digits(n)
    return to_uint8(sample(generator, n, digits=labels, seed=seed)), labels


def mixed(real_images, real_labels, generated_images, generated_labels):
    """D ∪ G: the real examples followed by the generated ones (uint8 images, int32 labels)."""
    images = np.concatenate([np.asarray(real_images, np.uint8).reshape(-1, 28, 28, 1),
                             np.asarray(generated_images, np.uint8).reshape(-1, 28, 28, 1)])
    return images, np.concatenate([real_labels, generated_labels]).astype(np.int32)


def train_classifier(images, labels, steps, batch_size=64, seed=0, verbose=0):
    """The kit's CNN trained for `steps` batches drawn by reshuffling `images` (uint8) and `labels`."""
    keras.utils.set_random_seed(seed)
    model = build_classifier("augmented_cnn")
    # Cosine decay to zero, as the shipped classifiers: a fixed budget ends at a settled minimum.
    model.compile(optimizer=keras.optimizers.Adam(keras.optimizers.schedules.CosineDecay(1e-3, steps)),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    ds = (tf.data.Dataset.from_tensor_slices((images, labels))
          .shuffle(len(images), seed=seed, reshuffle_each_iteration=True).repeat().batch(batch_size)
          .map(lambda x, y: (tf.cast(x, tf.float32) / 255.0, y)).prefetch(data.PREFETCH))
    ds = data.untuned(ds)
    model.fit(ds, epochs=1, steps_per_epoch=steps, verbose=verbose, shuffle=False)  # the dataset shuffles
    return model


def test_accuracy(model, n=None):
    """Accuracy on the first `n` images of the test split (all 10,000 by default)."""
    images, labels = data.load("mnist", "test")
    images, labels = images[:n], labels[:n]
    predicted = model.predict(data.batches(data.to_float(images)), verbose=0).argmax(axis=1)
    return float(np.mean(predicted == labels))
