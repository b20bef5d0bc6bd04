"""Sample grids and loss curves for the run folder.

Grids are tiled with numpy and written with Pillow: they are saved every few
batches, and a matplotlib figure per grid would cost more than the training
steps between two saves.  Loss curves draw on a bare matplotlib ``Figure`` (no pyplot), so they
work with no display and never change a notebook's plotting backend.
"""

import numpy as np
from PIL import Image


def tile_images(images, rows=5, cols=5, gap=2):
    """Tile images in [-1, 1] (N, H, W, C) into one uint8 array, rescaled to [0, 255].

    Args:
        images: images (N, H, W, C) in [-1, 1]; only the first ``rows * cols`` are used.
        rows: rows of the grid, filled one after the other.
        cols: images per row.
        gap: pixels of gray (128) between and around the images.
    Returns:
        uint8 array (rows * (H + gap) + gap, cols * (W + gap) + gap, C); empty cells stay gray.
    """
    images = np.asarray(images, dtype=np.float32)[: rows * cols]
    n, height, width, channels = images.shape
    pixels = np.clip((images + 1.0) * 127.5, 0, 255).round().astype(np.uint8)
    grid = np.full(
        (rows * (height + gap) + gap, cols * (width + gap) + gap, channels), 128, np.uint8
    )
    for k in range(n):
        top = gap + (k // cols) * (height + gap)
        left = gap + (k % cols) * (width + gap)
        grid[top : top + height, left : left + width] = pixels[k]
    return grid


def save_image_grid(images, path, rows=5, cols=5, min_size=320):
    """Save a rows×cols grid; small images are enlarged (nearest) so a 28×28 grid is legible.

    Args:
        images: images (N, H, W, C) in [-1, 1], C = 1 or 3.
        path: the image file to write (its suffix picks the format).
        rows: rows of the grid.
        cols: images per row.
        min_size: the grid is enlarged by a whole factor until its longer side has at least
            this many pixels.
    Returns:
        ``path``.
    """
    return save_grid(tile_images(images, rows, cols), path, min_size)


def save_grid(grid, path, min_size=320):
    """Save a grid from ``tile_images``, enlarged to at least ``min_size`` pixels.

    Args:
        grid: uint8 array (H, W, 1 or 3).
        path: the image file to write (its suffix picks the format).
        min_size: the longer side's least size in pixels, reached by a whole factor.
    Returns:
        ``path``.
    """
    enlarge(grid, max(1, int(np.ceil(min_size / max(grid.shape[:2]))))).save(path)
    return path


def enlarge(pixels, scale):
    """A uint8 (H, W, 1 or 3) array as a picture ``scale`` times larger, pixels kept sharp (nearest).

    Args:
        pixels: uint8 array (H, W, 1 or 3).
        scale: a whole factor; 1 or less keeps the size.
    Returns:
        A PIL image, mode 'L' (one channel) or 'RGB'.
    """
    if pixels.shape[2] == 1:
        picture = Image.fromarray(pixels[:, :, 0], mode="L")
    else:
        picture = Image.fromarray(pixels, mode="RGB")
    if scale > 1:
        picture = picture.resize((picture.width * scale, picture.height * scale), Image.NEAREST)
    return picture


def save_loss_plot(panels, path, title="Training"):
    """Plot ``{panel: {series name: values}}`` against batch number, one panel per row.

    Args:
        panels: ``{panel name: {series name: 1-D values}}``, at least one panel.
        path: the image file to write (its suffix picks the format).
        title: the figure's title.
    Returns:
        ``path``.
    """
    from matplotlib.figure import Figure  # no pyplot: never touches a notebook's backend

    figure = Figure(figsize=(8, 3.2 * len(panels)), dpi=100)
    for row, (panel, series) in enumerate(panels.items(), start=1):
        axes = figure.add_subplot(len(panels), 1, row)
        for name, values in series.items():
            axes.plot(np.arange(len(values)), values, label=name, linewidth=1)
        axes.set_ylabel(panel)
        axes.legend(loc="best", fontsize="small")
        axes.grid(alpha=0.3)
    axes.set_xlabel("batch")
    figure.suptitle(title)
    figure.tight_layout()
    figure.savefig(path)
    return path
