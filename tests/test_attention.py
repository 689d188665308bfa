import numpy as np
import pytest

import mnistgen_tf  # noqa: F401
from mnistgen_tf.layers.attention import AttentiveRead, AttentiveWrite, filterbanks, read_glimpses, window_box


def _window(m=1, gx=0.0, gy=0.0, log_var=0.0, log_delta=0.0, log_gamma=0.0):
    return np.tile(np.array([[gx, gy, log_var, log_delta, log_gamma]], "float32"), (m, 1))


def _centred_on(row, column, size=28):
    """g̃ of a window centred on the pixel at 0-based (row, column): the 1-based centre is index + 1."""
    return {"gx": 2 * (column + 1) / (size + 1) - 1, "gy": 2 * (row + 1) / (size + 1) - 1}


def test_every_filter_sums_to_one_over_the_image():
    window = np.random.default_rng(0).normal(size=(4, 5)).astype("float32")
    fx, fy, _ = filterbanks(window, (28, 20, 1), 5)
    assert fx.shape == (4, 5, 20) and fy.shape == (4, 5, 28)
    np.testing.assert_allclose(np.sum(fx, axis=-1), 1, atol=1e-5)
    np.testing.assert_allclose(np.sum(fy, axis=-1), 1, atol=1e-5)


def test_a_centred_unit_spaced_sharp_grid_reads_the_image_itself():
    # N = A = B, δ = 1, σ² -> 0, g centred: filter i sits on pixel i (1-based pixel coordinates;
    # 0-based ones put every filter one pixel off).
    x = np.random.default_rng(1).random((2, 28 * 28)).astype("float32")
    out = np.asarray(AttentiveRead(28, (28, 28, 1))([x, x, _window(2, log_var=-10.0)]))
    np.testing.assert_allclose(out[:, :784], x, atol=1e-6)


def test_write_is_the_transpose_of_read():
    rng = np.random.default_rng(2)
    x, w = rng.random((3, 28 * 28)).astype("float32"), rng.normal(size=(3, 5 * 5)).astype("float32")
    window = rng.normal(size=(3, 5)).astype("float32")
    window[:, 4] = 0.0  # γ = 1
    read = np.asarray(AttentiveRead(5, (28, 28, 1))([x, x, window]))[:, :25]
    written = np.asarray(AttentiveWrite(5, (28, 28, 1))([w, window]))
    np.testing.assert_allclose(np.sum(read * w, axis=1), np.sum(x * written, axis=1), rtol=1e-4)


def test_gamma_scales_read_and_divides_write():
    x = np.random.default_rng(3).random((1, 784)).astype("float32")
    plain, louder = (np.asarray(AttentiveRead(4, (28, 28, 1))([x, x, _window(log_gamma=g)])) for g in (0.0, np.log(3)))
    np.testing.assert_allclose(louder, 3 * plain, rtol=1e-5)
    w = np.ones((1, 16), "float32")
    plain, louder = (np.asarray(AttentiveWrite(4, (28, 28, 1))([w, _window(log_gamma=g)])) for g in (0.0, np.log(3)))
    np.testing.assert_allclose(louder, plain / 3, rtol=1e-5)


def test_the_exponent_divides_by_two_sigma_squared():
    # log σ² = log 4: neighbouring weights of one filter differ by exp(((a+1-μ)² - (a-μ)²) / 8).
    fx, _, _ = filterbanks(_window(log_var=np.log(4.0)), (28, 28, 1), 2)
    mu = 14.5 + (1 - 1 - 0.5) * 27.0  # filter 1 of 2: g = 14.5, offset -0.5, δ = 27
    a = np.arange(1, 29)
    expected = np.exp(-(a - mu) ** 2 / 8)
    np.testing.assert_allclose(np.asarray(fx)[0, 0], expected / expected.sum(), rtol=1e-4, atol=1e-12)


@pytest.mark.parametrize("row, column", [(3, 10), (20, 5)])
def test_rows_follow_gy_and_columns_gx(row, column):
    # One bright pixel; a sharp 3x3 window centred on it reads it with its middle filter only.
    image = np.zeros((1, 28, 28, 1), "float32")
    image[0, row, column] = 1.0
    window = _window(log_var=-10.0, log_delta=np.log(2 / 27), **_centred_on(row, column))  # δ = 1
    fx, fy, _ = filterbanks(window, (28, 28, 1), 3)
    glimpse = np.asarray(read_glimpses([image], fx, fy)[0])[0, :, :, 0]
    expected = np.zeros((3, 3))
    expected[1, 1] = 1.0
    np.testing.assert_allclose(glimpse, expected, atol=1e-6)


def test_colour_images_keep_their_channels():
    rng = np.random.default_rng(4)
    x = rng.random((2, 32 * 32 * 3)).astype("float32")
    read = AttentiveRead(32, (32, 32, 3))([x, x, _window(2, log_var=-10.0)])
    np.testing.assert_allclose(np.asarray(read)[:, :32 * 32 * 3], x, atol=1e-6)
    assert AttentiveWrite(5, (32, 32, 3))([rng.normal(size=(2, 75)).astype("float32"), _window(2)]).shape == (2, 3072)


@pytest.mark.parametrize("image_shape", [(28, 28, 1), (20, 28, 3)])
def test_read_and_write_agree_with_numpy_products(image_shape):
    # Distinct x and x̂, a non-square image and colour: the glimpses keep their order and channels.
    rng = np.random.default_rng(5)
    m, n, size = 3, 4, int(np.prod(image_shape))
    x, x_hat = (rng.random((m, size)).astype("float32") for _ in range(2))
    w, window = rng.normal(size=(m, n * n * image_shape[2])).astype("float32"), rng.normal(size=(m, 5)).astype("float32")
    fx, fy, gamma = (np.asarray(f, np.float64) for f in filterbanks(window, image_shape, n))
    images = [v.reshape(m, *image_shape) for v in (x, x_hat)]
    expected = np.concatenate([np.einsum("mjb,mbac,mia->mjic", fy, v, fx).reshape(m, -1) for v in images], axis=1)
    read = AttentiveRead(n, image_shape)([x, x_hat, window])
    np.testing.assert_allclose(np.asarray(read), gamma * expected, rtol=1e-4, atol=1e-6)
    patches = w.reshape(m, n, n, image_shape[2])
    expected = np.einsum("mjb,mjic,mia->mbac", fy, patches, fx).reshape(m, -1) / gamma
    np.testing.assert_allclose(np.asarray(AttentiveWrite(n, image_shape)([w, window])), expected, rtol=1e-4, atol=1e-6)


def test_one_filter_per_side_is_refused():
    with pytest.raises(ValueError, match="N >= 2"):
        filterbanks(_window(), (28, 28, 1), 1)


def test_window_box_spans_the_filter_centres_half_a_spacing_beyond():
    window = [0.0, 0.0, 0.0, 0.0, 0.0]  # centred, δ = (A - 1)/(N - 1) = 1 for N = A
    assert window_box(window, (28, 28, 1), 28) == pytest.approx((-0.5, -0.5, 28.0))  # a 28-pixel imshow's edges
    n, window = 3, _window(gx=0.3, gy=-0.4, log_var=0.0, log_delta=np.log(0.2))  # σ² = 1: smooth, no snapping
    left, top, side = window_box(window[0], (28, 28, 1), n)
    fx, fy, _ = (np.asarray(f) for f in filterbanks(window, (28, 28, 1), n))
    pixels = np.arange(28)  # 0-based, as the picture's
    centres_x, centres_y = fx[0] @ pixels, fy[0] @ pixels  # each filter's mean, from the filterbank itself
    spacing = side / n
    np.testing.assert_allclose(centres_x[[0, -1]], [left + spacing / 2, left + side - spacing / 2], atol=1e-3)
    np.testing.assert_allclose(centres_y[[0, -1]], [top + spacing / 2, top + side - spacing / 2], atol=1e-3)
