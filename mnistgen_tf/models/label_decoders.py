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

import keras
from keras import layers

from mnistgen_tf.errors import MnistgenError
from mnistgen_tf.layers.transformer import RowPositions

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


def label_input():
    """The generator's one input, named as `mnistgen_tf.sampling` feeds it."""
    return keras.Input((), dtype="int32", name="label")


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
                         embeddings_initializer=keras.initializers.RandomUniform(-1.0, 1.0))(labels)
    x = layers.LayerNormalization(name="norm_1")(x)
    x = layers.Dense(latent, name="dense_1")(x)
    x = layers.Dense(2 * latent, name="dense_2")(x)
    x = layers.LayerNormalization(name="norm_2")(x)
    x = layers.Dense(ROWS * COLS, name="dense_out")(x)
    x = layers.LayerNormalization(name="norm_out")(x)
    return keras.Model([labels], _to_image(x, "out"), name=name or f"dense_decoder_latent{latent}")


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
    token = layers.Embedding(NUM_CLASSES, d_model, name="embedding")(labels)
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
    return keras.Model([labels], _to_image(x, "out"), name=name or f"transformer_{num_layers}_{num_layers}")


def build_decoder_only(num_layers=6, d_model=64, ff_dim=128, norm="pre", name=None, heads=None):
    """Label + row position -> residual feed-forward blocks -> rows (no attention).

    ``heads`` is accepted and ignored so all transformer variants share one config.
    """
    labels = label_input()
    token = layers.Embedding(NUM_CLASSES, d_model, name="embedding")(labels)
    x = RowPositions(ROWS, add_input=True, name="label_plus_rows")(token)
    for i in range(num_layers):
        x = _feed_forward(x, ff_dim, d_model, norm, f"block{i}")
    x = _final_norm(x, norm, "blocks_norm")
    x = layers.Dense(COLS, name="rows_out")(x)
    return keras.Model([labels], _to_image(x, "out"), name=name or f"decoder_only_{num_layers}")


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
