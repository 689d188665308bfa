"""Feature extractors for Fréchet distances (FID) and label checks.

`get_extractor(name)` returns a callable that maps images, float in [0, 1] of
shape (n, H, W, C), to float32 features of shape (n, dim), in batches:

- ``mnist`` / ``fashion_mnist``: the 128-unit "features" layer of a small
  CNN classifier shipped in ``mnistgen_tf/assets/`` (made by
  ``python -m mnistgen_tf.assets.train_classifiers``). These extractors also
  classify, to measure how often generated digits have the asked-for label.
- ``inception``: the pooled 2048 features of InceptionV3 with ImageNet weights,
  the thesis's method: grey images repeated to 3 channels, bilinear resize to
  299x299, and Inception's own preprocessing.
"""

import hashlib
import os

import keras
import numpy as np

from mnistgen_tf import data
from mnistgen_tf.data import to_float
from mnistgen_tf.errors import MnistgenError

EXTRACTORS = ("mnist", "fashion_mnist", "inception")
ASSET_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "assets")
FEATURE_LAYER = "features"

# The file name, origin and MD5 Keras itself uses for InceptionV3(include_top=False).
INCEPTION_WEIGHTS_FILE = "inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5"
INCEPTION_WEIGHTS_URL = (
    "https://storage.googleapis.com/tensorflow/keras-applications/inception_v3/" + INCEPTION_WEIGHTS_FILE
)
INCEPTION_WEIGHTS_MD5 = "bcbd6486424b2319ff4ef7d526e38f63"
INCEPTION_SIZE = 299


def get_extractor(name, batch_size=None, path=None, weights="imagenet", download=False):
    """The feature extractor called ``name`` (one of `EXTRACTORS`).

    ``batch_size`` bounds memory (default 500 for the CNNs, 32 for Inception).
    ``path`` replaces the shipped CNN file; ``weights`` and ``download`` apply
    to Inception only (see `InceptionFeatures`).
    """
    if name in ("mnist", "fashion_mnist"):
        return ClassifierFeatures(name, path=path, batch_size=batch_size or 500)
    if name == "inception":
        return InceptionFeatures(weights=weights, batch_size=batch_size or 32, download=download)
    raise MnistgenError(f"unknown feature extractor {name!r}; choose one of {', '.join(EXTRACTORS)}")


def classifier_path(dataset):
    """Where the shipped CNN of ``dataset`` lives."""
    return os.path.join(ASSET_DIR, f"{dataset}_cnn.keras")


def as_images(images):
    """Images as float32 (n, H, W, C) in [0, 1]; uint8 input is rescaled.

    Refused rather than guessed: arrays that are not real numbers (strings,
    objects, complex), and uint8 images holding only 0 and 1, which read as
    0-255 would be nearly black (store binary images as floats or as 0/255).
    """
    images = np.asarray(images)
    if images.dtype.kind not in "biuf":
        raise MnistgenError(f"images must be real numbers, got an array of dtype {images.dtype}")
    if images.dtype == np.uint8 and images.size and images.max() == 1:
        raise MnistgenError("uint8 images hold only 0 and 1: store binary images as floats in [0, 1] or as "
                            "uint8 0/255")
    x = to_float(images)  # uint8 rescaled; (n, H, W) grey images get a channel axis
    if x.ndim != 4 or len(x) == 0:
        raise MnistgenError(f"expected a non-empty batch of images (n, H, W, C), got shape {x.shape}")
    if not np.isfinite(x).all():
        raise MnistgenError("images contain NaN or infinite values")
    # A small tolerance for rounding; anything larger means the wrong scale
    # (0-255, or [-1, 1] from a tanh generator) and would give silent nonsense.
    if x.min() < -0.01 or x.max() > 1.01:
        raise MnistgenError(f"images must lie in [0, 1], found values {x.min():.3g}..{x.max():.3g}")
    return np.clip(x, 0.0, 1.0)


class ClassifierFeatures:
    """Features (and labels) from one of the shipped 28x28 CNN classifiers."""

    def __init__(self, dataset, path=None, batch_size=500):
        path = path or classifier_path(dataset)
        if not os.path.isfile(path):
            raise MnistgenError(
                f"missing classifier {path}; make it with: "
                f"python -m mnistgen_tf.assets.train_classifiers --dataset {dataset}"
            )
        try:
            model = keras.models.load_model(path, compile=False)
            features = model.get_layer(FEATURE_LAYER).output
        except Exception as e:  # zip, HDF5 and deserialisation errors all mean the same to a user
            raise MnistgenError(f"cannot load classifier {path} ({type(e).__name__}); retrain it") from None
        # One pass gives both outputs, so classify() costs nothing extra.
        self._model = keras.Model(model.inputs, [features, model.outputs[0]])
        self.name = f"{dataset}-cnn"
        self.dim = int(features.shape[-1])
        self.batch_size = batch_size
        self.input_shape = tuple(model.inputs[0].shape[1:])
        with open(path, "rb") as f:  # names cached statistics, so a retrained CNN never reuses old ones
            self.fingerprint = hashlib.sha256(f.read()).hexdigest()[:12]

    def _run(self, images):
        x = as_images(images)
        if x.shape[1:] != self.input_shape:
            raise MnistgenError(f"{self.name} expects images of shape {self.input_shape}, got {x.shape[1:]}")
        features, probabilities = self._model.predict(data.batches(x, self.batch_size), verbose=0)
        return features.astype(np.float32), probabilities

    def __call__(self, images):
        """Features of shape (n, dim)."""
        return self._run(images)[0]

    def probabilities(self, images):
        """Class probabilities of shape (n, 10)."""
        return self._run(images)[1]

    def features_and_labels(self, images):
        """Features (n, dim) and predicted labels (n,) from one pass of the network."""
        features, probabilities = self._run(images)
        return features, np.argmax(probabilities, axis=-1).astype(np.int64)

    def classify(self, images):
        """Predicted labels (int64) of shape (n,)."""
        return self.features_and_labels(images)[1]

    predict_labels = classify

    def score(self, images):
        """Classifier score: exp(E_x KL(p(y|x) || p(y))), the Inception Score with this CNN.

        It lies between 1 and 10: high when each image is confidently one class
        and the classes are evenly used.
        """
        p = np.clip(self.probabilities(images).astype(np.float64), 1e-12, 1.0)
        marginal = p.mean(axis=0, keepdims=True)
        return float(np.exp(np.mean(np.sum(p * (np.log(p) - np.log(marginal)), axis=1))))


def inception_weights_path():
    """Where Keras caches the ImageNet InceptionV3 weights (honours ``KERAS_HOME``)."""
    # Read the variable now: Keras reads it once, at import, which would
    # ignore a KERAS_HOME set afterwards.
    home = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    return os.path.join(home, "models", INCEPTION_WEIGHTS_FILE)


class InceptionFeatures:
    """Pooled InceptionV3 features (2048) of images of any size.

    ``weights``: "imagenet" (the cached Keras file, see `inception_weights_path`),
    a path to an .h5 weights file, or None for random weights (plumbing tests).
    The ImageNet file is only downloaded when ``download`` is true, so an
    offline machine fails at once instead of waiting on the network.
    """

    def __init__(self, weights="imagenet", batch_size=32, download=False):
        if weights == "imagenet":
            weights = _imagenet_weights(download)
        elif weights is not None and not os.path.isfile(weights):
            raise MnistgenError(f"missing InceptionV3 weights file {weights}")
        base = keras.applications.InceptionV3(
            include_top=False, pooling="avg", weights=None, input_shape=(INCEPTION_SIZE, INCEPTION_SIZE, 3)
        )
        if weights is not None:
            try:
                base.load_weights(weights)
            except Exception as e:
                raise MnistgenError(
                    f"cannot load InceptionV3 weights from {weights} ({type(e).__name__}); "
                    f"replace it with a fresh copy of {INCEPTION_WEIGHTS_URL}"
                ) from None
        # Any image size in; grey images are repeated to RGB before this model.
        inputs = keras.Input((None, None, 3), name="image")
        x = keras.layers.Resizing(INCEPTION_SIZE, INCEPTION_SIZE, interpolation="bilinear")(inputs)
        # preprocess_input expects 0..255, as in the thesis's pipeline.
        x = keras.applications.inception_v3.preprocess_input(keras.layers.Rescaling(255.0)(x))
        self._model = keras.Model(inputs, base(x), name="inception_features")
        self.name = "inception"
        self.fingerprint = weights if isinstance(weights, str) else "random"
        self.dim = int(base.output.shape[-1])
        self.batch_size = batch_size

    def __call__(self, images):
        """Features of shape (n, 2048)."""
        x = as_images(images)
        if x.shape[-1] == 1:
            x = np.repeat(x, 3, axis=-1)  # cheap here, before the upscaling to 299x299
        elif x.shape[-1] != 3:
            raise MnistgenError(f"inception expects 1 or 3 channels, got {x.shape[-1]}")
        return self._model.predict(data.batches(x, self.batch_size), verbose=0).astype(np.float32)


def _imagenet_weights(download):
    path = inception_weights_path()
    if os.path.isfile(path):
        return path
    if not download:
        raise MnistgenError(
            f"no ImageNet weights for InceptionV3: place {INCEPTION_WEIGHTS_FILE} "
            f"(from {INCEPTION_WEIGHTS_URL}) at {path}, or use the mnist feature extractor"
        )
    try:
        return keras.utils.get_file(
            INCEPTION_WEIGHTS_FILE, INCEPTION_WEIGHTS_URL, cache_subdir="models",
            cache_dir=os.path.dirname(os.path.dirname(path)), file_hash=INCEPTION_WEIGHTS_MD5,
        )
    except Exception as e:  # urllib, HTTP and hash errors
        raise MnistgenError(
            f"could not download {INCEPTION_WEIGHTS_URL} ({type(e).__name__}); place {INCEPTION_WEIGHTS_FILE} at {path}"
        ) from None
