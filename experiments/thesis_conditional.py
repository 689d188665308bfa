"""Thesis Figures 4.1 and 4.2 on MNIST: conditional against unconditional DRAW.

Grid (declared in `mnistgen_tf/sweeps/thesis_conditional.py`): T in
{1, 2, 4, 8, 16, 32} at T*z = 64, LSTM 256, with and without the digit label;
4 epochs on the MNIST training split, trained on the ELBO.  Per cell: test
BCE per pixel and -ELBO in nats, FID[mnist-cnn] of 10,000 samples against the
test split and, for conditional models, the label accuracy of those samples
under the shipped MNIST classifier.  Unconditional cells already finished by
`thesis_timesteps` in the same results folder are copied, not retrained, so
run that sweep first.

Time: about 35 minutes on a shared 2-core CPU for its 6 conditional cells
(the unconditional ones are copied); each cell's seconds per epoch go to
timing.csv.  Spread it over machines with --shard, or a SLURM array /
Kubernetes indexed Job (see `mnistgen_tf.sweep`).

This script is `mnistgen sweep thesis_conditional` with the same options:

    python experiments/thesis_conditional.py [--quick] [--shard I/N] [--aggregate] [--results DIR]
    mnistgen figures [--results DIR]    # Figures 4.1 and 4.2 from the saved cells, no training
"""

import sys

from mnistgen_tf.cli import main as mnistgen


def main(argv=None):
    return mnistgen(["sweep", "thesis_conditional", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    sys.exit(main())
