"""Seed 002's reconstruction autoencoders: one conv encoder, three decoders.

Encoder: Conv 32 -> MaxPool -> Conv 64 -> MaxPool -> Conv 128 -> MaxPool
(28 -> 14 -> 7 -> 3), Flatten (128·3·3) -> Dense 256 -> Dense latent.
Every decoder starts Dense latent -> 256 -> 128·7·7 and ends in one sigmoid
channel; they differ in how 7×7 grows to 28×28:

- ``convtranspose``: three learned Conv2DTranspose layers 128 -> 64 -> 32 -> 1;
- ``upsample``: nearest-neighbour UpSampling2D + Conv 128 -> 64, again + Conv
  64 -> 32, then Conv 32 -> 1;
- ``interpolate``: **bilinear** resizing to 14, Conv 128 -> 64, to 28, Conv
  64 -> 32, then Conv 32 -> 1.  The seed calls both (2) and (3) "nearest";
  bilinear here keeps the two decoders different.

Convolutions are 3×3 with "same" padding and ReLU.  The autoencoder is the
Functional composition ``decoder(encoder(image))``, trained with a compiled
loss (``mse`` or ``bce``); its submodels keep their names ("encoder",
"decoder") so experiments and the adder can take them out again.
"""

import keras
from keras import layers

DECODERS = ("convtranspose", "upsample", "interpolate")
LOSSES = {"l2": "mean_squared_error", "bce": "binary_crossentropy"}
IMAGE_SHAPE = (28, 28, 1)


def _conv(filters, name):
    return layers.Conv2D(filters, 3, padding="same", activation="relu", name=name)


def build_encoder(latent_dim, image_shape=IMAGE_SHAPE, variational=False, name="encoder"):
    """Image -> code of `latent_dim` numbers (linear output).

    With `variational`, two outputs: the mean and the log-variance of a
    diagonal Gaussian over codes (seed 002 Part IV's VAE encoder).
    """
    image = keras.Input(image_shape, name="image")
    x = image
    for i, filters in enumerate((32, 64, 128)):
        x = _conv(filters, f"conv{i + 1}")(x)
        x = layers.MaxPooling2D(2, name=f"pool{i + 1}")(x)
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dense(256, activation="relu", name="hidden")(x)
    if variational:
        outputs = [layers.Dense(latent_dim, name="code_mean")(x), layers.Dense(latent_dim, name="code_log_var")(x)]
        return keras.Model(image, outputs, name=name)
    return keras.Model(image, layers.Dense(latent_dim, name="code")(x), name=name)


def build_decoder(kind, latent_dim, name="decoder"):
    """Code -> 28×28×1 image in (0, 1) by one of `DECODERS`; its input is named ``z``."""
    if kind not in DECODERS:
        raise ValueError(f"unknown decoder {kind!r}; choose one of {', '.join(DECODERS)}")
    z = keras.Input((latent_dim,), name="z")
    x = layers.Dense(256, activation="relu", name="hidden")(z)
    x = layers.Dense(128 * 7 * 7, activation="relu", name="grow")(x)
    x = layers.Reshape((7, 7, 128), name="grid")(x)
    if kind == "convtranspose":
        x = layers.Conv2DTranspose(64, 3, strides=2, padding="same", activation="relu", name="up1")(x)
        x = layers.Conv2DTranspose(32, 3, strides=2, padding="same", activation="relu", name="up2")(x)
        out = layers.Conv2DTranspose(1, 3, padding="same", activation="sigmoid", name="image")(x)
    else:
        for i, (size, filters) in enumerate(((14, 64), (28, 32))):
            if kind == "upsample":
                x = layers.UpSampling2D(2, interpolation="nearest", name=f"up{i + 1}")(x)
            else:
                x = layers.Resizing(size, size, interpolation="bilinear", name=f"up{i + 1}")(x)
            x = _conv(filters, f"conv{i + 1}")(x)
        out = layers.Conv2D(1, 3, padding="same", activation="sigmoid", name="image")(x)
    return keras.Model(z, out, name=name)


def build_autoencoder(decoder="convtranspose", latent_dim=2, image_shape=IMAGE_SHAPE):
    """``decoder(encoder(image))`` with the named decoder; input ``image``, output the reconstruction."""
    encoder = build_encoder(latent_dim, image_shape)
    decoder_model = build_decoder(decoder, latent_dim)
    image = keras.Input(image_shape, name="image")
    return keras.Model(image, decoder_model(encoder(image)), name=f"autoencoder_{decoder}")


def compile_autoencoder(model, loss="l2", learning_rate=1e-3):
    """Adam and the named loss; RMSE per pixel and BCE per pixel are logged whatever the loss."""
    model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss=LOSSES[loss],
                  metrics=[keras.metrics.RootMeanSquaredError(name="rmse"),
                           keras.metrics.BinaryCrossentropy(name="bce")])
    return model
