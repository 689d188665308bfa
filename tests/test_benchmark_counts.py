"""The throughput benchmark's FLOP count matches the kernels the DRAW it times has; its breakdown runs."""

import os

import pytest

from mnistgen_tf.models.draw import build_draw

from cli_helpers import module_from_path

BENCHMARK = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "benchmarks", "draw_throughput.py")


@pytest.fixture(scope="module")
def benchmark():
    return module_from_path(BENCHMARK, "draw_throughput")


@pytest.mark.parametrize("conditional, read_n, write_n", [(False, 0, 0), (True, 0, 0), (False, 2, 3), (True, 2, 5)])
def test_kernel_shapes_are_the_models_kernels_and_their_uses(benchmark, conditional, read_n, write_n):
    timesteps, z_dim, units = 3, 4, 8
    model = build_draw(timesteps, z_dim, units, conditional=conditional, read_n=read_n, write_n=write_n,
                       shared_dense=True)
    uses = {}
    for weight in model.weights:
        if len(weight.shape) == 2:  # kernels, recurrent kernels
            once = "encoder_image_gates" in weight.path  # the image's share of the gates: once per image
            shape = tuple(weight.shape)
            uses[shape] = uses.get(shape, 0) + (1 if once else timesteps)
    assert uses == benchmark.kernel_shapes(timesteps, z_dim, units, conditional=conditional, read_n=read_n,
                                           write_n=write_n)


def test_attention_adds_its_filterbank_products(benchmark):
    plain = benchmark.forward_macs_per_image(2, 4, 8, read_n=2, write_n=3)
    kernels = sum(a * b * n for (a, b), n in benchmark.kernel_shapes(2, 4, 8, read_n=2, write_n=3).items())
    read, write = 2 * (2 * 28 * 28 + 2 * 28 * 2), 28 * 3 * 3 + 28 * 3 * 28  # Fy x Fx^T twice; Fy^T w Fx
    assert plain == kernels + 2 * (read + write)


def test_the_breakdown_times_every_part_of_the_step(benchmark, mnist_available, monkeypatch, capsys):
    monkeypatch.setattr("sys.argv", ["draw_throughput.py", "--breakdown", "--steps", "2", "--batch-size", "10",
                                     "--timesteps", "2", "--z-dim", "3", "--units", "8", "--rounds", "1"])
    benchmark.main()
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("config: T=2 z=3 LSTM=8 batch=10") and "medians of 1 rounds" in lines[0]
    parts = [line.split(":")[0].strip() for line in lines[1:5]]
    assert parts == ["forward", "+ backward", "+ Adam", "fit"]
    added = [float(line.split("(adds")[1].split(",")[0]) for line in lines[1:5]]
    assert sum(added) == pytest.approx(float(lines[4].split(":")[1].split("ms")[0]), abs=0.2)  # they add up to fit
    assert lines[5].startswith("kernel FLOPs at the own-shapes rate") and lines[5].endswith("of fit")


def test_the_throughput_ratio_is_the_median_of_its_rounds(benchmark, mnist_available, monkeypatch, capsys):
    monkeypatch.setattr("sys.argv", ["draw_throughput.py", "--steps", "2", "--warmup-steps", "1", "--batch-size",
                                     "10", "--timesteps", "2", "--z-dim", "3", "--units", "8", "--rounds", "3"])
    measured = []
    real_rounds = benchmark.throughput_rounds
    monkeypatch.setattr(benchmark, "throughput_rounds", lambda args: measured.extend(real_rounds(args)) or measured)
    benchmark.main()
    lines = dict(line.split(":", 1) for line in capsys.readouterr().out.splitlines())
    assert lines["config"].endswith("medians of 3 rounds") and len(measured) == 3
    flops_per_image = 6 * benchmark.forward_macs_per_image(2, 3, 8)
    ratios = [images * flops_per_image / own for images, own in measured]  # each round's own
    printed = [float(r) for r in lines["ratio to own shapes"].split("rounds':")[1].strip(" )").split(", ")]
    assert printed == pytest.approx(ratios, abs=0.006)
    assert float(lines["ratio to own shapes"].split()[0]) == pytest.approx(sorted(ratios)[1], abs=0.006)
    images = lines["training by round"].replace(",", " ").split()[:-1]
    assert [float(i) for i in images] == pytest.approx([i for i, _ in measured], abs=0.5)
