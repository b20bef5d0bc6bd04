"""Open Quick, Draw! bitmap files (`.npy`) without reading them whole.

The Quick, Draw! "numpy_bitmap" files hold one 28x28 grayscale drawing per
row, as `uint8` of shape `(N, 784)`.  The camel file alone is ~95 MB, and
`load_safari` only keeps a random subset of each file, so we memory-map the
file and let the caller pick rows: only the pages holding those rows are read.

Both the loader and the downloader (which checks a fresh download before
keeping it) use `open_bitmaps`, so a bad file is reported the same way.
"""

import numpy as np

IMAGE_SIDE = 28


def open_bitmaps(path):
    """Memory-maps a bitmap `.npy` file and checks it holds 28x28 `uint8` images.

    Args:
        path: the `.npy` file.

    Returns:
        A read-only `numpy.memmap` of shape `(N, 784)` or `(N, 28, 28)`.

    Raises:
        ValueError: naming the file, if it is truncated, corrupt, not a plain
            `.npy` array, or of the wrong shape or dtype.
    """
    try:
        # `allow_pickle=False`: a `.npy` that needs pickle to load is refused
        # instead of being allowed to run code.
        images = np.load(path, mmap_mode="r", allow_pickle=False)
    except (ValueError, OSError, EOFError) as err:
        raise ValueError(
            f"{path} is not a readable .npy array ({err}). The file is "
            "probably truncated or corrupt: delete it and download it again "
            "(e.g. `gdl-download camel`)."
        ) from err

    side = IMAGE_SIDE
    good_shape = images.ndim == 2 and images.shape[1] == side * side
    good_shape = good_shape or images.shape[1:] == (side, side)
    if not good_shape:
        raise ValueError(
            f"{path} holds an array of shape {images.shape}; Quick, Draw! "
            f"bitmaps must have shape (N, {side * side}) or (N, {side}, {side})."
        )
    if images.dtype != np.uint8:
        raise ValueError(
            f"{path} holds {images.dtype} values; Quick, Draw! bitmaps must "
            "be uint8 (0 = background, 255 = ink)."
        )
    if len(images) == 0:
        raise ValueError(f"{path} holds no images (its first axis is 0).")
    return images
