"""Thesis Figures 3.1, 3.3 and 3.5 on MNIST: DRAW against the number of timesteps.

Grid (declared in `mnistgen_tf/sweeps/thesis_timesteps.py`): T in
{1, 2, 4, 8, 16, 32} at T*z = 64, and z in {4, 8, 16, 32} at T = 16; LSTM 256,
4 epochs on the MNIST training split, trained on the ELBO.  Per cell: test
BCE per pixel and -ELBO in nats, FID[mnist-cnn] of 10,000 samples against
the test split, variance law, inactive variables, parameters, training time.

Time: about 50 minutes on a shared 2-core CPU; each cell's seconds per epoch
go to timing.csv.  Spread it over machines with --shard, or a SLURM array /
Kubernetes indexed Job (see `mnistgen_tf.sweep`).

This script is `mnistgen sweep thesis_timesteps` with the same options:

    python experiments/thesis_timesteps.py [--quick] [--shard I/N] [--aggregate] [--results DIR]
    mnistgen figures [--results DIR]    # Figures 3.1, 3.3, 3.5 from the saved cells, no training

Results: RESULTS/thesis_timesteps/{table.csv,table.md,timing.csv,cells/<cell>/cell.json}
(RESULTS/quick/... with --quick).  A rerun skips finished cells and resumes
an interrupted one from its last epoch.
"""

import sys

from mnistgen_tf.cli import main as mnistgen


def main(argv=None):
    return mnistgen(["sweep", "thesis_timesteps", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    sys.exit(main())
