"""Small stand-ins for data the machines here cannot have (CIFAR-10, prepared TFDS copies)."""

import numpy as np


def prepare_tfds(data_dir, name, shape, version="3.0.1", train=12, test=5):
    """A tiny dataset in tensorflow-datasets' prepared format under `data_dir` (a pathlib.Path): `train`
    and `test` random images of `shape`, labels 3i mod 10; returns the version folder."""
    import tensorflow_datasets as tfds

    class Tiny(tfds.core.GeneratorBasedBuilder, skip_registration=True):
        VERSION = tfds.core.Version(version)

        def _info(self):
            features = {"image": tfds.features.Image(shape=shape), "label": tfds.features.ClassLabel(num_classes=10)}
            return tfds.core.DatasetInfo(builder=self, features=tfds.features.FeaturesDict(features),
                                         supervised_keys=("image", "label"))

        def _split_generators(self, dl_manager):
            return {"train": self._generate_examples(train, 0), "test": self._generate_examples(test, 1)}

        def _generate_examples(self, n, seed):
            rng = np.random.default_rng(seed)
            for i in range(n):
                yield i, {"image": rng.integers(0, 256, shape, dtype=np.uint8), "label": (3 * i) % 10}

    Tiny.name = name
    Tiny(data_dir=str(data_dir)).download_and_prepare()
    return data_dir / name / version
