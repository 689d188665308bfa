"""experiments/thesis_fid_sanity.py (thesis Table 2.1 and Figure 2.3) on a small n."""

import csv
import json
import os

import pytest

from cli_helpers import module_from_path

SCRIPT = os.path.join(os.path.dirname(__file__), "..", "experiments", "thesis_fid_sanity.py")


@pytest.fixture(scope="module")
def script():
    return module_from_path(SCRIPT, "thesis_fid_sanity")


def test_small_run_writes_table_and_figure(script, mnist_available, tmp_path):
    n = 200  # above the 128 features of mnist-cnn, so no covariance is rank-deficient
    assert script.main(["--n", str(n), "--ks", "1,10,200,5000", "--out", str(tmp_path)]) == 0

    for name in ("thesis_fid_sanity.csv", "thesis_fid_sanity.md", "thesis_fid_sanity.json",
                 "figures/thesis_fig2_3_fid_repeated.png"):
        assert (tmp_path / name).stat().st_size > 0, name
    assert not list(tmp_path.rglob("*.tmp"))
    assert (tmp_path / "figures" / "thesis_fig2_3_fid_repeated.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    report = json.loads((tmp_path / "thesis_fid_sanity.json").read_text())
    rows = report["rows"]
    assert [r["k"] for r in rows] == [None, None, 1, 10, 200]  # k > n dropped
    assert {r["extractor"] for r in rows} == {"mnist-cnn"} and {r["n"] for r in rows} == {n}
    assert report["seed"] == 0 and report["git_commit"] and report["command"].startswith("python ")
    same, noise = rows[0]["ours"], rows[1]["ours"]
    by_k = {r["k"]: r["ours"] for r in rows[2:]}
    assert 0 < same < noise
    assert by_k[1] > by_k[10] > by_k[n]
    assert by_k[n] == pytest.approx(same)  # n distinct images against the other n is the first row
    assert rows[0]["paper value (Inception)"] == 11.1349125 and rows[1]["paper value (Inception)"] == 431.3836
    assert rows[2]["paper value (Inception)"] is None

    with open(tmp_path / "thesis_fid_sanity.csv", newline="") as f:
        table = list(csv.reader(f))
    assert table[0] == list(script.COLUMNS) and len(table) == 1 + len(rows)
    assert table[3][1] == "" and float(table[1][2]) == pytest.approx(same, rel=1e-5)
    md = (tmp_path / "thesis_fid_sanity.md").read_text()
    assert "## Provenance" in md and "git_commit" in md and "mnist-cnn" in md


def test_tiled_features_equal_features_of_tiled_images(mnist_available):
    # The script tiles features instead of featurising the repeated images: the same statistics.
    import numpy as np

    from mnistgen_tf import data
    from mnistgen_tf.metrics.features import get_extractor

    images = data.load("mnist", "test")[0][:5]
    extractor = get_extractor("mnist")
    tiled_images = extractor(np.resize(images, (20, 28, 28)))
    np.testing.assert_allclose(tiled_images, np.resize(extractor(images), (20, extractor.dim)), atol=1e-5)


def test_missing_inception_weights_exits_2_and_writes_nothing(script, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "empty_keras_home"))
    out = tmp_path / "out"
    assert script.main(["--features", "inception", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "InceptionV3" in err and len(err.strip().splitlines()) == 1
    assert not out.exists()


def test_file_names_get_a_suffix_for_other_extractors(script):
    assert script.suffix_for("mnist") == ""
    assert script.suffix_for("inception") == "_inception"
