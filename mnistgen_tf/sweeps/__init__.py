"""The experiments `mnistgen sweep` and `mnistgen figures` know, by name.

Each module here declares one `mnistgen_tf.sweep.Experiment` (grids,
profiles, table columns, figures); the scripts in ``experiments/`` run them.
"""

from mnistgen_tf.errors import MnistgenError
from mnistgen_tf.sweeps import (draw_paper_mnist, draw_precision, seed002_adder, seed002_autoencoders, seed003_gan,
                                 seed003_vae, seed004_augmentation, seed004_beta, seed004_ddpm, seed004_inpainting,
                                 seed004_structure, seed004_temperature, seed004_transfer, seed004_zoo,
                                 thesis_cifar10, thesis_conditional, thesis_fidelity, thesis_timesteps)

EXPERIMENTS = {module.EXPERIMENT.name: module.EXPERIMENT for module in (
    thesis_timesteps, thesis_conditional, seed002_autoencoders, seed002_adder, seed003_gan, seed003_vae,
    seed004_zoo, seed004_beta, seed004_structure, seed004_ddpm, seed004_inpainting, seed004_transfer,
    seed004_temperature, seed004_augmentation, thesis_fidelity, thesis_cifar10, draw_paper_mnist, draw_precision)}
EXPERIMENTS.update({experiment.name: experiment for experiment in (thesis_timesteps.CONVERGED,
                                                                   thesis_conditional.CONVERGED, draw_precision.PAPER)})


def get_experiment(name):
    try:
        return EXPERIMENTS[name]
    except KeyError:
        raise MnistgenError(f"unknown experiment {name!r}; choose one of {', '.join(EXPERIMENTS)}") from None
