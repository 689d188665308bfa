"""Drawing inputs for a generator: the digits asked for and the temperature of the noise."""

import numpy as np
import pytest

from mnistgen_tf.errors import MnistgenError
from mnistgen_tf.models.vae import VAE
from mnistgen_tf.sampling import cycled_digits, generator_inputs


def test_temperature_scales_only_the_noise():
    decoder = VAE(latent_dim=3, conditional=True, seed=0).decoder
    full, cool = (generator_inputs(decoder, 20, seed=5, temperature=t) for t in (1.0, 0.25))
    np.testing.assert_allclose(cool["z"], 0.25 * full["z"], rtol=1e-6)
    np.testing.assert_array_equal(cool["label"], full["label"])
    for bad in (0.0, -1.0, float("nan"), float("inf"), 11.0, "hot", None, True):
        with pytest.raises(MnistgenError, match="temperature must be a number above 0"):
            generator_inputs(decoder, 2, temperature=bad)
    assert cycled_digits(12).tolist() == [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1]
    np.testing.assert_array_equal(full["label"], cycled_digits(20))  # no digit given: 0-9 in turn
