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


def save_line_panels(path, x_label, panels, title=None, log2_x=True):
    """One row of line plots over a shared x axis (e.g. timesteps), written as a PNG.

    ``panels`` is a list of ``(y label, {series label: (xs, ys)})``; a
    single series with an empty label is drawn without a legend.
    """
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 3.8), squeeze=False)
    for ax, (y_label, series) in zip(axes[0], panels):
        ticks = sorted({x for xs, _ in series.values() for x in xs})
        for label, (xs, ys) in series.items():
            ax.plot(xs, ys, "o-", label=label or None)
        if log2_x:  # the thesis's x values double from point to point
            ax.set_xscale("log", base=2)
            ax.xaxis.set_minor_locator(matplotlib.ticker.NullLocator())
        ax.set_xticks(ticks, [f"{t:g}" for t in ticks])
        ax.set_xlabel(x_label)
        ax.set_ylabel(y_label)
        ax.grid(True, alpha=0.3)
        if any(series):
            ax.legend(fontsize=8)
    if title:
        fig.suptitle(title, fontsize=10)
    write_png(fig, path)


def write_png(fig, path, tight=True):
    """Lay out (unless a colour bar placed by hand forbids it), write `fig` as a 120 dpi PNG, and close it."""
    if tight:
        fig.tight_layout()
    fig.savefig(path, format="png", dpi=120)
    plt.close(fig)
