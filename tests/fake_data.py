"""Data files in the layouts the real downloads have (CIFAR's pickled batches), and damaged image
files, written by tests."""

import io
import pickle

import numpy as np


def cifar_batch(path, labels, label_key):
    """A batch file in the format of the CIFAR "python version" archives.

    Image of label l: red = 2l, green = 2l + 1, blue = 255 - l (channel planes,
    as the archives store them), so the tests can check the transposition.
    """
    labels = np.asarray(labels)
    planes = np.stack([2 * labels, 2 * labels + 1, 255 - labels], axis=1).astype(np.uint8)
    data = np.repeat(planes, 1024, axis=1)  # (n, 3 * 1024)
    batch = {
        b"batch_label": b"testing batch",
        label_key.encode(): [int(l) for l in labels],
        b"data": data,
        b"filenames": [f"img_{i}.png".encode() for i in range(len(labels))],
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    # Protocol >= 3: Python 3 pickles `bytes` at protocol 2 through
    # `_codecs.encode`, which Keras' restricted unpickler rightly refuses (the
    # real archives, written by Python 2, need no such call).
    path.write_bytes(pickle.dumps(batch, protocol=4))


def write_cifar10(folder, per_batch=10):
    for i in range(1, 6):
        cifar_batch(folder / f"data_batch_{i}", np.arange(per_batch) % 10, "labels")
    cifar_batch(folder / "test_batch", np.arange(per_batch) % 10, "labels")
    return folder


def write_cifar100(folder):
    cifar_batch(folder / "train", np.arange(300) % 100, "fine_labels")
    cifar_batch(folder / "test", np.arange(100), "fine_labels")
    return folder


def write_damaged_jpeg(path, size=(218, 178)):
    """A JPEG that starts and ends whole but has 200 zero bytes in its middle, as a failing disk or
    a bad copy leaves it: libjpeg decodes it, printing "Corrupt JPEG data: bad Huffman code"."""
    from PIL import Image

    pixels = np.random.default_rng(0).integers(0, 256, size + (3,), dtype=np.uint8)
    smooth = np.cumsum(pixels, axis=1) // 50 % 256  # some structure, so it compresses like a photo
    buffer = io.BytesIO()
    Image.fromarray(smooth.astype(np.uint8)).save(buffer, "JPEG", quality=90)
    data = bytearray(buffer.getvalue())
    middle = len(data) // 2
    data[middle:middle + 200] = bytes(200)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(bytes(data))
    return path
