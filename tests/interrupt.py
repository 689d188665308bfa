"""Run `mnistgen` and interrupt it at a chosen moment, as a kill -9 or a Ctrl-C would.

    python tests/interrupt.py MODE N mnistgen-arguments...

MODE says when:
    kill-batch   SIGKILL after training batch N (counted over the whole run)
    int-batch    SIGINT (Ctrl-C) after training batch N
    stall-batch  sleep after training batch N until killed (a writer that holds its folder)
    kill-save    SIGKILL during the Nth model save: its temporary file written, never renamed
    kill-eval    SIGKILL when `Model.evaluate` is called the Nth time (a sweep cell's evaluation)

Real signals at exact moments: the hooks only choose the moment.
"""

import os
import signal
import sys
import time

import keras

import mnistgen_tf.train
from mnistgen_tf import cli
from mnistgen_tf.files import tmp_name


def main():
    mode, n, argv = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
    calls = {"count": 0}

    def nth_call():
        calls["count"] += 1
        return calls["count"] == n

    if mode in ("kill-batch", "int-batch", "stall-batch"):
        def act():
            if mode == "stall-batch":
                time.sleep(600)
            os.kill(os.getpid(), signal.SIGKILL if mode == "kill-batch" else signal.SIGINT)

        # TerminateOnNaN is in every training run's callbacks, so its batch hook sees every batch.
        keras.callbacks.TerminateOnNaN.on_train_batch_end = lambda self, batch, logs=None: (
            act() if nth_call() else None)
    elif mode == "kill-save":
        save_model = mnistgen_tf.train.save_model

        def dying_save(model, path):
            if nth_call():
                model.save(tmp_name(path))  # the temporary file, written, never renamed
                os.kill(os.getpid(), signal.SIGKILL)
            save_model(model, path)

        mnistgen_tf.train.save_model = dying_save
    elif mode == "kill-eval":
        evaluate = keras.Model.evaluate

        def dying_evaluate(self, *args, **kwargs):
            if nth_call():
                os.kill(os.getpid(), signal.SIGKILL)
            return evaluate(self, *args, **kwargs)

        keras.Model.evaluate = dying_evaluate
    else:
        sys.exit(f"unknown mode {mode}")
    return cli.main(argv)


if __name__ == "__main__":
    sys.exit(main())
