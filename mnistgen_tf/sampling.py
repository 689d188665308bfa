"""Loading saved generators and drawing images from them.

A generator is a Functional model whose inputs are named ``z`` (standard
normal noise, any shape after the batch axis) and/or ``label`` (integer
digits 0-9), accepted as a dict by name or as a list in the order
``[z, label]``.  DRAW generators take ``z`` (and ``label`` when
conditional); label -> image decoders take ``label`` alone.  A generator
whose sampling is a loop (a reverse diffusion chain, an autoregressive
prior) runs the loop inside the model, so it is sampled like any other.
"""

import math
import os

import keras
import numpy as np

from mnistgen_tf import data
from mnistgen_tf.errors import MnistgenError

INPUT_NAMES = ("z", "label")
MAX_TEMPERATURE = 10.0  # noise ten times the prior's scale is far outside anything a decoder was trained on


def load_generator(path):
    """A saved generator (inputs ``z`` and/or ``label``), with one-line errors for the usual mistakes."""
    model = load_model_file(path)
    names = [t.name for t in getattr(model, "inputs", None) or []]  # subclassed models have none
    if not names or any(name not in INPUT_NAMES for name in names):
        raise MnistgenError(f"{path} is not a generator: its inputs are {names}, expected 'z' and/or 'label'")
    return positional(model)


def load_model_file(path):
    """`keras.models.load_model` with one-line errors."""
    if not os.path.isfile(path):
        raise MnistgenError(f"no model file {path}")
    if not path.endswith(".keras"):
        raise MnistgenError(f"{path} is not a .keras model file")
    try:
        model = keras.models.load_model(path)
    except Exception as e:  # zip, JSON and deserialisation errors all mean "not a usable model"
        raise MnistgenError(f"cannot load {path} as a Keras model ({type(e).__name__})") from None
    return model


def positional(generator):
    """`generator` taking its inputs as a list ``[z, label]`` as well as a dict by name.

    Generators saved before the kit built them with list inputs take a dict
    only; the same layers are rewired, nothing is copied.
    """
    if not isinstance(generator.input, dict):
        return generator
    inputs = sorted(generator.inputs, key=lambda t: INPUT_NAMES.index(t.name))
    return keras.Model(inputs, generator.outputs, name=generator.name)


def is_conditional(generator):
    return any(t.name == "label" for t in generator.inputs)


def cycled_digits(n):
    """The digits 0-9 in turn, `n` of them: what a conditional generator is asked for when no digit is given."""
    return np.arange(n, dtype="int32") % 10


def check_temperature(temperature):
    """`temperature` as a float, or a one-line error unless it is a number in (0, MAX_TEMPERATURE]."""
    try:
        value = float(temperature)
    except (TypeError, ValueError):
        value = math.nan
    if isinstance(temperature, bool) or not 0 < value <= MAX_TEMPERATURE:  # nan fails the comparison too
        raise MnistgenError(f"the temperature must be a number above 0 and at most {MAX_TEMPERATURE:g}, "
                            f"got {temperature!r}")
    return value


def generator_inputs(generator, n, digits=None, seed=None, temperature=1.0):
    """Noise and labels for `n` images; `digits` is one int or a sequence of n.

    `temperature` scales the noise ``z`` (drawn from N(0, temperature² I)):
    below 1 it keeps samples nearer the prior's centre, where the decoder was
    trained most, trading variety for fidelity (Kingma & Dhariwal's Glow,
    BigGAN's truncation). Only ``z`` is scaled: a stochastic sampler's own
    noise (a DDPM chain with eta > 0) is not.
    """
    if n <= 0:
        raise MnistgenError(f"the number of images must be positive, got {n}")
    temperature = check_temperature(temperature)
    if digits is not None and not np.issubdtype(np.asarray(digits).dtype, np.integer):
        raise MnistgenError(f"digits must be integers 0-9, got {digits!r}")
    rng = np.random.default_rng(seed)
    inputs = {}
    for tensor in generator.inputs:
        if tensor.name == "z":
            inputs["z"] = (temperature * rng.standard_normal((n, *tensor.shape[1:]))).astype("float32")
        elif digits is None:  # a conditional generator with no digit asked: cycle 0-9
            inputs["label"] = cycled_digits(n)
        else:
            inputs["label"] = np.broadcast_to(np.asarray(digits, dtype="int32"), (n,)).copy()
    if digits is not None:
        if "label" not in inputs:
            raise MnistgenError("this generator is unconditional: it takes no digit")
        bad = inputs["label"][(inputs["label"] < 0) | (inputs["label"] > 9)]
        if bad.size:
            raise MnistgenError(f"digit {bad[0]} is outside 0-9")
    return inputs


def _structured(generator, inputs):
    """`inputs` (a dict by name) in the structure the generator was built with: dict, list or one tensor."""
    if isinstance(generator.input, dict):
        return inputs
    if isinstance(generator.input, (list, tuple)):
        return [inputs[t.name] for t in generator.inputs]
    return inputs[generator.inputs[0].name]


def sample(generator, n, digits=None, seed=None, batch_size=500, temperature=1.0):
    """`n` images (n, H, W, C) in [0, 1] from `generator`; anything else is refused, not passed on."""
    inputs = generator_inputs(generator, n, digits, seed, temperature)
    images = generator.predict(data.batches(_structured(generator, inputs), batch_size), verbose=0)
    name = getattr(generator, "name", "the generator")
    if not isinstance(images, np.ndarray) or images.ndim != 4 or images.shape[-1] not in (1, 3):
        shape = getattr(images, "shape", type(images).__name__)
        raise MnistgenError(f"{name} is not an image generator: it returned {shape}, expected (n, H, W, 1 or 3)")
    if not np.isfinite(images).all() or images.min() < 0 or images.max() > 1:
        raise MnistgenError(f"{name} returned values outside [0, 1] (or NaN): it is not an image generator "
                            "of this kit")
    return images


# ---------------------------------------------------------------- adders (seed 002): image + number -> image

ADDER_INPUTS = ("image", "number")


def load_adder(path):
    """A saved adder inference model (inputs ``image`` and ``number``), with one-line errors."""
    model = load_model_file(path)
    names = sorted(t.name for t in getattr(model, "inputs", None) or [])
    if names != sorted(ADDER_INPUTS):
        raise MnistgenError(f"{path} is not an adder: its inputs are {names}, expected 'image' and 'number'")
    return model


def add(adder, images, numbers, batch_size=500):
    """Images of the digit in each of `images` plus the matching number (floats allowed, e.g. 1.5)."""
    x = np.asarray(images, np.float32)
    if x.ndim == 3:
        x = x[..., None]
    expected = {t.name: tuple(t.shape[1:]) for t in adder.inputs}["image"]
    if x.shape[1:] != expected:
        raise MnistgenError(f"images of shape {x.shape[1:]} given; this adder reads {expected}")
    numbers = np.broadcast_to(np.asarray(numbers, np.float32).reshape(-1, 1), (len(x), 1))
    return adder.predict(data.batches(_structured(adder, {"image": x, "number": numbers}), batch_size), verbose=0)
