"""The DRAW paper issue, end to end on quick profiles: likelihoods, curve, glimpses; bfloat16 against float32."""

import json

import pytest

pytestmark = pytest.mark.slow  # quick sweeps of DRAW trained end to end: a minute or two


@pytest.fixture(scope="module")
def paper_results(tmp_path_factory, mnist_available):
    from mnistgen_tf.cli import main

    root = tmp_path_factory.mktemp("paper")
    assert main(["sweep", "draw_paper_mnist", "--quick", "--results", str(root)]) == 0
    assert main(["figures", "--quick", "--results", str(root)]) == 0
    return root / "quick"


def test_both_cells_measure_their_bounds_beside_the_papers(paper_results):
    from mnistgen_tf.cli import main

    cells = paper_results / "draw_paper_mnist" / "cells"
    records = {p.parent.name: json.loads(p.read_text()) for p in cells.glob("*/cell.json")}
    assert sorted(records) == ["read0_write0", "read2_write5"]
    for name, record in records.items():
        metrics = record["metrics"]
        # k = 1 is a one-sample -ELBO of 20 of the images the test -ELBO averages over.
        assert metrics["nll_k1"] == pytest.approx(metrics["test_neg_elbo"], rel=0.15)
        assert 0 < metrics["nll_k10"] < 784 * 0.7 and metrics["nll_images"] == 20  # below a coin flip per pixel
        # The float32 -ELBO is the one-sample bound the k = 1 estimate is, on the same posterior draws.
        assert metrics["test_neg_elbo_float32"] == pytest.approx(metrics["nll_k1"], rel=0.02)
        assert 0 < metrics["test_kl"] < metrics["test_neg_elbo_float32"]
        assert record["settings"]["clip_norm"] == 10.0
        assert record["epochs"] == 2 and record["train_hours"] > 0
        assert record["settings"]["dynamic_binarization"] and record["settings"]["shared_dense"]
    assert records["read0_write0"]["paper_bound"] == 87.40 and records["read2_write5"]["paper_bound"] == 80.97
    assert records["read0_write0"]["target"] == 90.0 and records["read2_write5"]["target"] == 85.0
    # bfloat16 only where the benchmark measured it faster: the plain model, not the attention one.
    assert records["read0_write0"]["settings"]["precision"] == "mixed_bfloat16"
    assert records["read2_write5"]["settings"]["precision"] == "float32"
    for name in records:  # kept for the likelihood to be measured again, e.g. with more samples
        run = cells / name / "run"
        assert sorted(p.name for p in run.glob("*.keras")) == ["best.keras", "generator.keras"]
        assert main(["nll", str(run), "--k", "2", "--images", "10"]) == 0
    table = (paper_results / "draw_paper_mnist" / "table.md").read_text()
    assert "| read2_write5 | 2 | 5 | float32 |" in table and "80.97" in table and "paper (bound)" in table
    for name, record in records.items():  # how far from the target, on the bound that strictly holds
        over = record["metrics"]["test_neg_elbo_float32"] - record["target"]
        assert f"| {record['target']:.1f} | {over:+.2f} |" in table, name


def test_figures_show_the_curve_the_glimpses_and_samples_over_time(paper_results):
    import numpy as np

    from mnistgen_tf.sweep import Results
    from mnistgen_tf.sweeps.draw_paper_mnist import EXPERIMENT, sample_panels

    figures = paper_results / "figures"
    for name in ("draw_paper_test_elbo.png", "draw_paper_glimpses.png", "draw_paper_samples_over_time.png"):
        assert (figures / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", name
    arrays = np.load(paper_results / "draw_paper_mnist" / "cells" / "read2_write5" / "figure_data.npz")
    assert list(arrays["shown_steps"]) == [0, 1, 2, 3]  # T = 4: every step shown
    assert arrays["read_windows"].shape == arrays["write_windows"].shape == (4, 4, 5)
    assert len(arrays["test_neg_elbo_by_epoch"]) == 2
    # Samples over time, a panel per generator: 8 rows of the 4 steps' canvases, 28 pixels with 2-pixel gaps.
    results = Results(EXPERIMENT, str(paper_results.parent), quick=True)
    panels = sample_panels(results)
    assert [label for label, _ in panels] == ["no attention", "read 2x2, write 5x5"]
    assert all(grid.shape == (8 * 30 + 2, 4 * 30 + 2) for _, grid in panels)
    assert not np.array_equal(panels[0][1], panels[1][1])
    plain = np.load(paper_results / "draw_paper_mnist" / "cells" / "read0_write0" / "figure_data.npz")
    assert "read_windows" not in plain.files


@pytest.mark.parametrize("name", ["draw_precision", "draw_precision_paper"])
def test_precision_sweep_compares_bfloat16_with_float32(tmp_path, mnist_available, name):
    from mnistgen_tf.cli import main

    assert main(["sweep", name, "--quick", "--results", str(tmp_path)]) == 0
    folder = tmp_path / "quick" / name
    records = {p.parent.name: json.loads(p.read_text()) for p in (folder / "cells").glob("*/cell.json")}
    assert sorted(records) == ["float32_seed0", "mixed_bfloat16_seed0"]
    paper = name == "draw_precision_paper"  # the DRAW paper's configuration, as draw_paper_mnist trains it
    for cell in folder.glob("cells/*/run"):  # what training read: the run's own configuration
        config = json.loads((cell / "config.json").read_text())
        assert (config["shared_dense"], config["dynamic_binarization"], config["timesteps"]) == (
            paper, paper, 3 if paper else 2)
        assert (config["clip_norm"], config["xla"]) == ((10.0, False) if paper else (0.0, True))  # 0: not clipped
    elbo = {cell: r["metrics"]["neg_elbo_nats"] for cell, r in records.items()}
    assert elbo["float32_seed0"] != elbo["mixed_bfloat16_seed0"]  # trained apart, not copied
    summary = (folder / "summary.md").read_text()
    change = elbo["mixed_bfloat16_seed0"] - elbo["float32_seed0"]
    within = "yes" if abs(change) <= 0.5 else "no"
    assert f"| mixed_bfloat16 | 1 | {elbo['mixed_bfloat16_seed0']:.2f} |  | {change:+.2f} | {within} |" in summary
