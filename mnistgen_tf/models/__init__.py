"""One module per model family; importing this registers their trainers with Keras."""

from mnistgen_tf.models import adder, ddpm, draw, gan, vae, vqvae  # noqa: F401  (subclassed trainers, registered for load_model)
