"""Label -> image decoders of the Italian report (dense Model A/B, transformers).

Every model takes only a digit label and returns one 28x28 image; it is trained
with binary cross-entropy against the real training image of that label, so
each training image is one (label -> image) pair.  A model of this kind can
give only ten images, one per digit, and the best it can do under BCE is the
per-pixel mean image of each class (see `class_means` and `per_digit_bce`).

Variants (`build_label_decoder(variant)`):

``A``, ``B``
    The report's dense decoder: Embedding (latent 10 for A, 1 for B) ->
    LayerNorm -> Dense(latent) -> Dense(2 latent) -> LayerNorm -> Dense(784)
    -> LayerNorm -> sigmoid.  The report lists no activations: the hidden
    Dense layers are linear here (a label takes ten values, so any ten images
    are reachable without them; the LayerNorms are the only non-linearity).
    It also gives no output squashing, yet BCE needs values in [0, 1]: a
    sigmoid follows the last LayerNorm.  The embedding is initialised
    uniform in [-1, 1], the report's "between -1 and 1".  With latent 1 the
    first LayerNorm normalises a single number, which is always 0: Model B's
    output cannot depend on the label, by construction of the report's
    architecture, and it learns the mean image of all digits.

``transformer-1``, ``transformer-6``
    Encoder-decoder with 1+1 or 6+6 layers (self-attention, encoder-decoder
    attention, ReLU feed-forward).  The source sequence is one token, the
    label embedding.  The target side is the report's open design question;
    here the image is 28 row tokens whose queries are learned row-position
    embeddings, decoded in one pass (not autoregressive), each output token
    mapped by Dense(28) to a row of pixels and a sigmoid.  With one source
    token the encoder-decoder attention has a single key, so it passes the
    (projected) label to every row.  Sub-layers are pre-norm,
    ``x + f(LayerNorm(x))``, with a LayerNorm closing each stack: with
    post-norm, ``LayerNorm(x + f(x))``, the 6+6 model trained at batch 16 and
    Adam 1e-3 without warm-up stayed on the label-independent solution (test
    BCE 0.267, the mean image of all digits) for 2,500 steps, while pre-norm
    reached 0.222 in 1,000.  ``norm="post"`` builds the other placement.

``decoder-only``
    The report's minimalist variant: encoder and attention removed.  The
    label embedding is added to each row-position embedding and 6 residual
    feed-forward blocks (pre-norm, as above) map each row token to its
    pixels independently.

Transformer widths (`TRANSFORMER`): d_model 64, 4 heads, feed-forward 128,
chosen so that 6+6 layers train 3 epochs at batch 16 in minutes on two CPU
cores and its saved generator stays under 10 MB.  Row positions start as
standard normal vectors, on the scale of the LayerNorm-ed activations, so
that rows differ from the first step.
"""

import json
import os
import time

import keras
import numpy as np
from keras import layers, ops

from mnistgen_tf import data
from mnistgen_tf.errors import MnistgenError
from mnistgen_tf.files import write_text
from mnistgen_tf.train import atomic_save, epochs_done, fit, prepare_run_dir, provenance, split_train_val

NUM_CLASSES = 10
ROWS, COLS = 28, 28
TRANSFORMER = {"d_model": 64, "heads": 4, "ff_dim": 128, "norm": "pre"}
VARIANTS = {
    "A": {"kind": "dense", "latent": 10},
    "B": {"kind": "dense", "latent": 1},
    "transformer-1": {"kind": "transformer", "layers": 1, **TRANSFORMER},
    "transformer-6": {"kind": "transformer", "layers": 6, **TRANSFORMER},
    "decoder-only": {"kind": "decoder-only", "layers": 6, **TRANSFORMER},
}
BCE_EPSILON = 1e-7  # Keras clips probabilities to [eps, 1 - eps] in binary_crossentropy


@keras.saving.register_keras_serializable(package="mnistgen")
class RowPositions(layers.Layer):
    """Learned row-position embeddings, one token per image row.

    Called on per-example vectors of shape (n, dim), it returns (n, rows, dim):
    the position table repeated over the batch, plus the input vector on every
    row when ``add_input`` (the decoder-only model's label conditioning).
    Without ``add_input`` the input only sets the batch size.
    """

    def __init__(self, rows=ROWS, add_input=False, stddev=1.0, **kwargs):
        super().__init__(**kwargs)
        self.rows = rows
        self.add_input = add_input
        self.stddev = stddev

    def build(self, input_shape):
        self.positions = self.add_weight(
            shape=(self.rows, input_shape[-1]), name="positions",
            initializer=keras.initializers.RandomNormal(stddev=self.stddev))
        self.built = True

    def call(self, inputs):
        tokens = ops.zeros_like(inputs)[:, None, :] + self.positions[None]
        if self.add_input:
            tokens = tokens + inputs[:, None, :]
        return tokens

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.rows, input_shape[-1])

    def get_config(self):
        return {**super().get_config(), "rows": self.rows, "add_input": self.add_input,
                "stddev": self.stddev}


def label_input():
    """The generator's one input, as the dict `mnistgen_tf.sampling` feeds."""
    return {"label": keras.Input((), dtype="int32", name="label")}


def _to_image(x, name):
    """(n, 784) or (n, 28, 28) pre-activations -> (n, 28, 28, 1) in [0, 1].

    The sigmoid comes last so that Keras's BCE sees its logits and computes
    the loss stably.
    """
    x = layers.Reshape((ROWS, COLS, 1), name=f"{name}_reshape")(x)
    return layers.Activation("sigmoid", name="image")(x)


def build_dense_decoder(latent=10, name=None):
    """Model A (latent 10) or Model B (latent 1) of the report."""
    labels = label_input()
    x = layers.Embedding(NUM_CLASSES, latent, name="embedding",
                         embeddings_initializer=keras.initializers.RandomUniform(-1.0, 1.0))(labels["label"])
    x = layers.LayerNormalization(name="norm_1")(x)
    x = layers.Dense(latent, name="dense_1")(x)
    x = layers.Dense(2 * latent, name="dense_2")(x)
    x = layers.LayerNormalization(name="norm_2")(x)
    x = layers.Dense(ROWS * COLS, name="dense_out")(x)
    x = layers.LayerNormalization(name="norm_out")(x)
    return keras.Model(labels, _to_image(x, "out"), name=name or f"dense_decoder_latent{latent}")


def _residual(x, f, norm, name):
    """One sub-layer: post-norm ``LN(x + f(x))`` or pre-norm ``x + f(LN(x))``."""
    if norm == "pre":
        return layers.Add(name=f"{name}_add")([x, f(layers.LayerNormalization(name=f"{name}_norm")(x))])
    return layers.LayerNormalization(name=f"{name}_norm")(layers.Add(name=f"{name}_add")([x, f(x)]))


def _feed_forward(x, ff_dim, d_model, norm, name):
    def f(h):
        h = layers.Dense(ff_dim, activation="relu", name=f"{name}_ff1")(h)
        return layers.Dense(d_model, name=f"{name}_ff2")(h)
    return _residual(x, f, norm, f"{name}_ff")


def _attention(x, memory, heads, d_model, norm, name):
    mha = layers.MultiHeadAttention(heads, d_model // heads, name=f"{name}_mha")
    if memory is None:  # self-attention: keys and values are the (normalised) queries
        return _residual(x, lambda h: mha(h, h), norm, name)
    return _residual(x, lambda h: mha(h, memory), norm, name)


def _final_norm(x, norm, name):
    # Pre-norm stacks end un-normalised; one LayerNorm closes each stack.
    return layers.LayerNormalization(name=name)(x) if norm == "pre" else x


def build_transformer_decoder(num_layers=1, d_model=64, heads=4, ff_dim=128, norm="pre", name=None):
    """Encoder-decoder transformer from one label token to 28 row tokens."""
    labels = label_input()
    token = layers.Embedding(NUM_CLASSES, d_model, name="embedding")(labels["label"])
    memory = layers.Reshape((1, d_model), name="source_sequence")(token)
    for i in range(num_layers):
        memory = _attention(memory, None, heads, d_model, norm, f"encoder{i}_self")
        memory = _feed_forward(memory, ff_dim, d_model, norm, f"encoder{i}")
    memory = _final_norm(memory, norm, "encoder_norm")
    x = RowPositions(ROWS, name="row_queries")(token)
    for i in range(num_layers):
        x = _attention(x, None, heads, d_model, norm, f"decoder{i}_self")
        x = _attention(x, memory, heads, d_model, norm, f"decoder{i}_cross")
        x = _feed_forward(x, ff_dim, d_model, norm, f"decoder{i}")
    x = _final_norm(x, norm, "decoder_norm")
    x = layers.Dense(COLS, name="rows_out")(x)
    return keras.Model(labels, _to_image(x, "out"), name=name or f"transformer_{num_layers}_{num_layers}")


def build_decoder_only(num_layers=6, d_model=64, ff_dim=128, norm="pre", name=None, heads=None):
    """Label + row position -> residual feed-forward blocks -> rows (no attention).

    ``heads`` is accepted and ignored so all transformer variants share one config.
    """
    labels = label_input()
    token = layers.Embedding(NUM_CLASSES, d_model, name="embedding")(labels["label"])
    x = RowPositions(ROWS, add_input=True, name="label_plus_rows")(token)
    for i in range(num_layers):
        x = _feed_forward(x, ff_dim, d_model, norm, f"block{i}")
    x = _final_norm(x, norm, "blocks_norm")
    x = layers.Dense(COLS, name="rows_out")(x)
    return keras.Model(labels, _to_image(x, "out"), name=name or f"decoder_only_{num_layers}")


def build_label_decoder(variant):
    """The model of one report variant (see `VARIANTS`), uncompiled."""
    if variant not in VARIANTS:
        raise MnistgenError(f"unknown label-decoder variant {variant!r}; choose one of {', '.join(VARIANTS)}")
    spec = dict(VARIANTS[variant])
    kind = spec.pop("kind")
    name = "label_decoder_" + variant.replace("-", "_")
    if kind == "dense":
        return build_dense_decoder(spec["latent"], name=name)
    builder = build_transformer_decoder if kind == "transformer" else build_decoder_only
    return builder(num_layers=spec["layers"], d_model=spec["d_model"], heads=spec["heads"],
                   ff_dim=spec["ff_dim"], norm=spec["norm"], name=name)


# ---------------------------------------------------------------- evaluation

def digit_images(generator):
    """The ten images (10, 28, 28, 1) a label-only generator makes for digits 0-9."""
    return generator.predict({"label": np.arange(NUM_CLASSES, dtype="int32")}, verbose=0)


def class_means(images, labels):
    """Per-pixel mean image of each digit, (10, H, W, 1) floats in [0, 1]."""
    x = _as_float(images)
    return np.stack([x[labels == d].mean(axis=0) for d in range(NUM_CLASSES)])


def per_image_bce(predictions, images):
    """BCE of each image against a prediction, averaged over pixels (Keras's clipping)."""
    p = np.clip(np.asarray(predictions, np.float64), BCE_EPSILON, 1.0 - BCE_EPSILON)
    x = _as_float(images).astype(np.float64)
    axes = tuple(range(1, x.ndim))
    return -(x * np.log(p) + (1.0 - x) * np.log(1.0 - p)).mean(axis=axes)


def per_digit_bce(prototypes, images, labels):
    """Average BCE when every image of digit d is predicted by ``prototypes[d]``.

    Returns ``(mean over all images, [mean over the images of each digit])``,
    the report's "average evaluation loss" and its per-digit bar charts (NaN
    for a digit with no image).
    """
    labels = np.asarray(labels)
    losses = per_image_bce(np.asarray(prototypes)[labels], images)
    per_digit = [float(losses[labels == d].mean()) if np.any(labels == d) else float("nan")
                 for d in range(NUM_CLASSES)]
    return float(losses.mean()), per_digit


def _as_float(images):
    x = np.asarray(images)
    x = x.astype(np.float32) / 255.0 if x.dtype == np.uint8 else x.astype(np.float32)
    return x[..., None] if x.ndim == 3 else x


# ------------------------------------------------------------------ training

LABEL_DECODER_DEFAULTS = {"dataset": "mnist", "variant": "A", "epochs": 3, "batch_size": 16,
                          "learning_rate": 1e-3, "subset": None, "seed": 0}


def _pairs(images, labels, batch_size, shuffle, seed=None):
    """(label -> image) batches for `model.fit`: inputs {"label"}, targets images."""
    ds = data.pipeline(images, labels, batch_size, shuffle=shuffle, seed=seed)
    return ds.map(lambda batch: ({"label": batch["label"]}, batch["image"]))


def train_label_decoder(out_dir, variant="A", epochs=3, batch_size=16, seed=0, subset=None,
                        resume=False, learning_rate=1e-3, verbose="auto"):
    """Train one report variant into ``out_dir`` (the DRAW run-folder layout).

    The last tenth of the training split (at most 5,000 images) is held out
    for validation and best-epoch selection, as for every run of the kit;
    Adam with the Keras default rate, as in the report's notebook.  The model
    is its own generator: ``generator.keras`` is the best-validation model
    without optimizer state.  Returns ``(generator, config)``.
    """
    if variant not in VARIANTS:
        raise MnistgenError(f"unknown label-decoder variant {variant!r}; choose one of {', '.join(VARIANTS)}")
    config = {**LABEL_DECODER_DEFAULTS, "variant": variant, "epochs": epochs, "batch_size": batch_size,
              "learning_rate": learning_rate, "subset": subset, "seed": seed,
              "architecture": VARIANTS[variant]}
    prepare_run_dir(out_dir, config, resume)
    keras.utils.set_random_seed(seed)
    images, labels = data.load(config["dataset"], "train")
    (x_train, y_train), (x_val, y_val) = split_train_val(images, labels, subset)
    train_ds = _pairs(x_train, y_train, batch_size, shuffle=True, seed=seed)
    val_ds = _pairs(x_val, y_val, 500, shuffle=False)
    epochs_before = epochs_done(out_dir) if resume else 0
    model = build_label_decoder(variant)
    model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss="binary_crossentropy")
    started = time.time()
    model = fit(model, train_ds, val_ds, out_dir, epochs, resume, verbose=verbose)
    wall = time.time() - started
    # A fresh, uncompiled copy: the saved generator carries no optimizer state.
    generator = keras.models.clone_model(model)
    generator.set_weights(model.get_weights())
    atomic_save(generator, os.path.join(out_dir, "generator.keras"))
    # The wall time covers this session only: epochs_before > 0 marks a resumed run.
    run_info = {"config": config, "train_images": len(x_train), "val_images": len(x_val),
                "parameters": generator.count_params(), "wall_time_s_last_session": round(wall, 1),
                "epochs_before_last_session": epochs_before, **provenance()}
    write_text(os.path.join(out_dir, "run.json"), json.dumps(run_info, indent=2))
    return generator, config


