"""Figures built with matplotlib from saved arrays and results, never by training."""

import math

import matplotlib

matplotlib.use("Agg")  # files only; no display on the machines that make figures
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def image_grid(images, ncols=None, pad=2):
    """Tile (n, H, W[, C]) images in [0, 1] into one (rows*H, cols*W[, C]) array."""
    images = np.asarray(images)
    if images.ndim == 4 and images.shape[-1] == 1:
        images = images[..., 0]
    n, h, w = images.shape[:3]
    ncols = ncols or math.ceil(math.sqrt(n))
    nrows = math.ceil(n / ncols)
    grid = np.ones((nrows * (h + pad) + pad, ncols * (w + pad) + pad) + images.shape[3:], np.float32)
    for i, image in enumerate(images):
        r, c = divmod(i, ncols)
        top, left = pad + r * (h + pad), pad + c * (w + pad)
        grid[top:top + h, left:left + w] = image
    return grid


def save_grid_png(images, path, ncols=None):
    """Write `image_grid(images)` as a PNG (grey for one channel)."""
    grid = np.clip(image_grid(images, ncols), 0.0, 1.0)
    plt.imsave(path, grid, cmap="gray" if grid.ndim == 2 else None, vmin=0.0, vmax=1.0, format="png")
