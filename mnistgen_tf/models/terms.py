"""The trainer shape shared by the kit's custom models: a loss made of named terms."""

import keras
import tensorflow as tf


class TermsTrainer(keras.Model):
    """A model whose `terms(data, training)` returns a dict of scalar terms, one of them ``"loss"``.

    Training minimises ``loss`` with the compiled optimizer; every term is
    logged as the epoch's mean (``val_`` prefixed on validation data).
    Subclasses call ``super().__init__(term_names, **kwargs)``.
    """

    def __init__(self, term_names, **kwargs):
        super().__init__(**kwargs)
        self.trackers = {name: keras.metrics.Mean(name=name) for name in term_names}

    def terms(self, data, training):
        raise NotImplementedError

    def _report(self, terms):
        for name, tracker in self.trackers.items():
            tracker.update_state(terms[name])
        return {name: tracker.result() for name, tracker in self.trackers.items()}

    def train_step(self, data):
        with tf.GradientTape() as tape:
            terms = self.terms(data, training=True)
        grads = tape.gradient(terms["loss"], self.trainable_weights)
        self.optimizer.apply(grads, self.trainable_weights)
        return self._report(terms)

    def test_step(self, data):
        return self._report(self.terms(data, training=False))

    @property
    def metrics(self):
        return list(self.trackers.values())
