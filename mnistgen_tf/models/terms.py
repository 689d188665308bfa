"""The trainer shape shared by the kit's custom models: a loss made of named terms."""

import keras
import tensorflow as tf
from keras import ops


def _batch_size(data):
    """The number of examples in a batch (a dict of arrays, or one array)."""
    first = next(iter(data.values())) if isinstance(data, dict) else data
    return ops.cast(ops.shape(first)[0], "float32")


class TermsTrainer(keras.Model):
    """A model whose `terms(data, training)` returns a dict of scalar terms, one of them ``"loss"``.

    Training minimises ``loss`` with the compiled optimizer; every term is
    logged as the epoch's mean over examples (``val_`` prefixed on validation
    data), each batch weighted by its size as Keras's compiled metrics are.
    Subclasses call ``super().__init__(term_names, **kwargs)``.
    """

    def __init__(self, term_names, **kwargs):
        super().__init__(**kwargs)
        self.trackers = {name: keras.metrics.Mean(name=name) for name in term_names}

    def terms(self, data, training):
        raise NotImplementedError

    def _report(self, terms, batch_size):
        for name, tracker in self.trackers.items():
            tracker.update_state(terms[name], sample_weight=batch_size)
        return {name: tracker.result() for name, tracker in self.trackers.items()}

    def train_step(self, data):
        with tf.GradientTape() as tape:
            terms = self.terms(data, training=True)
        grads = tape.gradient(terms["loss"], self.trainable_weights)
        self.optimizer.apply(grads, self.trainable_weights)
        return self._report(terms, _batch_size(data))

    def test_step(self, data):
        return self._report(self.terms(data, training=False), _batch_size(data))

    @property
    def metrics(self):
        return list(self.trackers.values())
