"""Tests of the data loaders, on tiny data sets the tests write themselves.

Nothing here uses the network: downloads are served by a local HTTP server
on 127.0.0.1, and "offline" is a closed port there.
"""

import gzip
import hashlib
import io
import os
import pickle
import sys
import tarfile
import warnings

import numpy as np
import pytest
from PIL import Image

from fake_data import write_cifar10, write_cifar100, write_damaged_jpeg
from utils import loaders
from utils.data import cifar, silhouettes
from utils.data.celeb import ImageStream
from utils.data.download import DownloadError, UnknownCategory, download_quickdraw, main as download_main
from utils.loaders import (
    SILHOUETTE_CLASSES,
    load_celeb,
    load_cifar,
    load_safari,
    load_silhouettes,
)


# ---------------------------------------------------------------------------
# Fixtures
# ---------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def _own_data_folder(data_dir):
    """Every test here gets its own empty data folder (conftest.data_dir)."""
    return data_dir


def write_bitmaps(path, rows, start=0, shape=None, dtype=np.uint8):
    """A Quick, Draw!-style file whose image i is filled with (start + i) % 256."""
    values = (start + np.arange(rows)) % 256
    images = np.repeat(values[:, None], 784, axis=1).astype(dtype)
    if shape is not None:
        images = images.reshape(shape)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.save(path, images)
    return path


def pixel_values(x):
    """Back from [-1, 1] to the uint8 fill value of each image."""
    return np.rint(x[:, 0, 0, 0] * 127.5 + 127.5).astype(int)


# ---------------------------------------------------------------------------
# load_safari
# ---------------------------------------------------------------------------


def test_safari_splits_the_cap_evenly_between_files(data_dir, monkeypatch):
    monkeypatch.setattr(loaders, "SAFARI_MAX_IMAGES", 40)
    write_bitmaps(data_dir / "zoo" / "a.npy", 30, start=0)
    write_bitmaps(data_dir / "zoo" / "b.npy", 50, start=100, shape=(50, 28, 28))
    (data_dir / "zoo" / ".DS_Store").write_bytes(b"\0\1junk")
    (data_dir / "zoo" / "notes.txt").write_text("not data")

    x, y = load_safari("zoo")

    assert x.shape == (40, 28, 28, 1) and x.dtype == np.float32
    assert x.min() >= -1.0 and x.max() <= 1.0
    assert np.issubdtype(y.dtype, np.integer)
    assert np.bincount(y).tolist() == [20, 20]
    values = pixel_values(x)
    # Rows of file 0 hold 0..29, rows of file 1 hold 100..149, no repeats.
    assert set(values[y == 0]) <= set(range(0, 30))
    assert set(values[y == 1]) <= set(range(100, 150))
    assert len(set(values)) == 40
    # Every pixel of an image was scaled the same way.
    assert np.all(x == x[:, :1, :1, :])


def test_safari_keeps_small_files_whole_and_scales_exactly(data_dir):
    write_bitmaps(data_dir / "camel" / "full_numpy_bitmap_camel.npy", 256)
    x, y = load_safari("camel")
    assert x.shape == (256, 28, 28, 1)
    assert sorted(pixel_values(x)) == list(range(256))
    assert x.min() == -1.0 and x.max() == 1.0
    assert np.all(y == 0)


def test_safari_is_repeatable_with_numpy_seed(data_dir, monkeypatch):
    monkeypatch.setattr(loaders, "SAFARI_MAX_IMAGES", 10)
    write_bitmaps(data_dir / "camel" / "camel.npy", 100)
    np.random.seed(3)
    first, _ = load_safari("camel")
    np.random.seed(3)
    again, _ = load_safari("camel")
    np.random.seed(4)
    other, _ = load_safari("camel")
    assert np.array_equal(first, again)
    assert not np.array_equal(first, other)


def test_safari_missing_folder_says_how_to_get_data(data_dir):
    with pytest.raises(FileNotFoundError) as info:
        load_safari("camel")
    message = str(info.value)
    assert str(data_dir / "camel") in message
    assert "gdl-download camel" in message
    assert "--data silhouettes" in message


def test_safari_empty_folder(data_dir):
    (data_dir / "camel").mkdir()
    (data_dir / "camel" / ".DS_Store").write_bytes(b"junk")
    with pytest.raises(FileNotFoundError, match="no .npy files"):
        load_safari("camel")


def _truncated(path):
    write_bitmaps(path, 50)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _text(path):
    path.write_text("<html>Not found</html>")


def _empty(path):
    path.write_bytes(b"")


def _pickled_objects(path):
    np.save(path, np.array([{"a": 1}], dtype=object), allow_pickle=True)


@pytest.mark.parametrize(
    "make_bad, expected",
    [
        (lambda p: write_bitmaps(p, 5, shape=(5, 4, 196)), "shape"),
        (lambda p: np.save(p, np.zeros((5, 100), np.uint8)), "shape"),
        (lambda p: write_bitmaps(p, 5, dtype=np.float32), "uint8"),
        (_truncated, "truncated or corrupt"),
        (_text, "truncated or corrupt"),
        (_empty, "truncated or corrupt"),
        (_pickled_objects, "truncated or corrupt"),
    ],
)
def test_safari_bad_files_are_named(data_dir, make_bad, expected):
    write_bitmaps(data_dir / "camel" / "a_good.npy", 10)
    bad = data_dir / "camel" / "b_bad.npy"
    make_bad(bad)
    with pytest.raises(ValueError, match=expected) as info:
        load_safari("camel")
    assert str(bad) in str(info.value)


# ---------------------------------------------------------------------------
# download_quickdraw / gdl-download
# ---------------------------------------------------------------------------


def test_download_lands_at_the_book_path_once(data_dir, http_server, monkeypatch):
    write_bitmaps(http_server.root / "camel.npy", 25)
    monkeypatch.setenv("GDL_QUICKDRAW_URL", http_server.url)

    path = download_quickdraw("camel")

    assert path == data_dir / "camel" / "full_numpy_bitmap_camel.npy"
    assert path.is_file()
    assert http_server.requests == ["/camel.npy"]
    assert os.listdir(path.parent) == [path.name]  # no `.part` left
    x, y = load_safari("camel")
    assert x.shape == (25, 28, 28, 1)

    assert download_quickdraw("camel") == path
    assert len(http_server.requests) == 1  # already there: no request


def test_download_to_an_explicit_folder(tmp_path, http_server, monkeypatch):
    write_bitmaps(http_server.root / "camel.npy", 3)
    monkeypatch.setenv("GDL_QUICKDRAW_URL", http_server.url.rstrip("/"))
    path = download_quickdraw("camel", data_dir=tmp_path / "elsewhere")
    assert path == tmp_path / "elsewhere" / "camel" / "full_numpy_bitmap_camel.npy"
    assert path.is_file()


def test_download_offline_gives_a_clear_error_and_no_file(data_dir, dead_url, monkeypatch):
    monkeypatch.setenv("GDL_QUICKDRAW_URL", dead_url)
    target = data_dir / "camel" / "full_numpy_bitmap_camel.npy"
    with pytest.raises(DownloadError) as info:
        download_quickdraw("camel")
    message = str(info.value)
    assert str(target) in message
    assert dead_url + "camel.npy" in message
    assert "--data silhouettes" in message
    assert isinstance(info.value, OSError)
    assert not target.exists()
    assert not target.with_name(target.name + ".part").exists()


@pytest.mark.parametrize("served", [None, b"<html>Sorry, blocked by proxy</html>"])
def test_download_of_a_missing_or_bad_file_keeps_nothing(data_dir, http_server, monkeypatch, served):
    if served is not None:
        (http_server.root / "camel.npy").write_bytes(served)
    monkeypatch.setenv("GDL_QUICKDRAW_URL", http_server.url)
    with pytest.raises(DownloadError, match="camel.npy"):
        download_quickdraw("camel")
    assert list((data_dir / "camel").iterdir()) == []


def test_gdl_download_command(tmp_path, http_server, monkeypatch, capsys, dead_url):
    write_bitmaps(http_server.root / "camel.npy", 3)
    monkeypatch.setenv("GDL_QUICKDRAW_URL", http_server.url)
    assert download_main(["camel", "--data-dir", str(tmp_path / "d")]) == 0
    expected = tmp_path / "d" / "camel" / "full_numpy_bitmap_camel.npy"
    assert str(expected) in capsys.readouterr().out
    assert expected.is_file()

    monkeypatch.setenv("GDL_QUICKDRAW_URL", dead_url)
    assert download_main(["elephant"]) == 1
    assert "--data silhouettes" in capsys.readouterr().err


def test_a_category_the_server_does_not_have_is_named_with_where_the_names_are(data_dir, http_server, monkeypatch,
                                                                               capsys):
    monkeypatch.setenv("GDL_QUICKDRAW_URL", http_server.url)
    with pytest.raises(UnknownCategory, match="no category 'camle'.*404") as info:
        download_quickdraw("camle")
    assert "categories.txt" in str(info.value) and info.value.http_status == 404
    assert list((data_dir / "camle").iterdir()) == []
    assert download_main(["camle"]) == 2
    assert "categories.txt" in capsys.readouterr().err


@pytest.mark.parametrize("name", ["../camel", "", "..", " camel"])
def test_a_name_that_cannot_be_a_category_is_refused_before_any_request(name, http_server, monkeypatch, capsys):
    monkeypatch.setenv("GDL_QUICKDRAW_URL", http_server.url)
    with pytest.raises(SystemExit) as stopped:
        download_main(["camel", name])
    assert stopped.value.code == 2 and "gdl-download:" in capsys.readouterr().err
    with pytest.raises(ValueError, match="categories.txt"):
        download_quickdraw(name)
    assert http_server.requests == []


# ---------------------------------------------------------------------------
# Silhouettes (animal-shape-mnist)
# ---------------------------------------------------------------------------


@pytest.fixture
def fresh_silhouette_cache():
    silhouettes._raw_silhouettes.cache_clear()
    yield
    silhouettes._raw_silhouettes.cache_clear()


def test_silhouettes_all():
    x, y = load_silhouettes()
    assert x.shape == (10000, 28, 28, 1) and x.dtype == np.float32
    assert x.min() == -1.0 and x.max() == 1.0
    assert np.bincount(y).tolist() == [1000] * 10
    assert SILHOUETTE_CLASSES[7] == "horse" and len(SILHOUETTE_CLASSES) == 10
    # White shapes on black: the border is background, the centre mostly ink.
    assert x[:, 0, :, 0].mean() < -0.9 and x[:, 14, 14, 0].mean() > 0.5
    # Found without running the package's own (TensorFlow-importing) loader.
    assert "animal_shape_mnist.dataset_Loader" not in sys.modules


def test_silhouettes_class_filter():
    x, y = load_silhouettes("horse")
    assert x.shape == (1000, 28, 28, 1)
    assert np.all(y == 7)
    x, y = load_silhouettes(["cat", "zebra"])
    assert len(x) == 2000 and set(y.tolist()) == {2, 9}
    assert len(load_silhouettes("all")[0]) == 10000


def test_silhouettes_unknown_class_lists_the_valid_ones():
    with pytest.raises(ValueError, match="giraffe") as info:
        load_silhouettes("camel")
    assert "camel" in str(info.value)
    with pytest.raises(ValueError):
        load_silhouettes(["horse", "unicorn"])


@pytest.mark.parametrize("size", [32, 64])
def test_silhouettes_resized_to_colour(size):
    x, y = load_silhouettes("horse", image_size=size, channels=3)
    assert x.shape == (1000, size, size, 3) and x.dtype == np.float32
    assert x.min() >= -1.0 and x.max() <= 1.0
    assert np.array_equal(x[..., 0], x[..., 2])
    small, _ = load_silhouettes("horse")
    # Same pictures, just larger: the average brightness barely moves.
    assert abs(x.mean() - small.mean()) < 0.05


def test_silhouettes_are_cached_and_callers_get_their_own_copy(fresh_silhouette_cache):
    x, _ = load_silhouettes("bear")
    x[:] = 0
    again, _ = load_silhouettes("bear")
    assert again.min() == -1.0
    info = silhouettes._raw_silhouettes.cache_info()
    assert info.misses == 1 and info.hits == 1


class _Evil:
    def __init__(self, flag):
        self.flag = flag

    def __reduce__(self):
        return (os.system, (f"touch {self.flag}",))


def test_restricted_unpickler_refuses_code(tmp_path):
    flag = tmp_path / "pwned"
    payload = pickle.dumps(_Evil(flag))
    with pytest.raises(pickle.UnpicklingError, match="system"):
        silhouettes.unpickle_array(payload)
    assert not flag.exists()
    # A numpy array pickled by this numpy still loads (the package's files,
    # written by numpy 1, use the older `numpy.core` names: see above tests).
    array = np.arange(12, dtype=np.uint8).reshape(3, 4)
    assert np.array_equal(silhouettes.unpickle_array(pickle.dumps(array, protocol=4)), array)
    with pytest.raises(pickle.UnpicklingError):
        silhouettes.unpickle_array(pickle.dumps({"not": "an array"}))


def test_malicious_file_with_matching_hash_is_still_refused(tmp_path, monkeypatch, fresh_silhouette_cache):
    flag = tmp_path / "pwned"
    evil = tmp_path / silhouettes.DATA_FILE
    evil.write_bytes(gzip.compress(pickle.dumps(_Evil(flag))))
    monkeypatch.setattr(silhouettes, "package_file", lambda name: evil)
    monkeypatch.setitem(silhouettes.SHA256, silhouettes.DATA_FILE, hashlib.sha256(evil.read_bytes()).hexdigest())
    with pytest.raises(pickle.UnpicklingError, match="system"):
        load_silhouettes()
    assert not flag.exists()


def test_tampered_file_fails_the_hash_check(tmp_path, monkeypatch, fresh_silhouette_cache):
    original = silhouettes.package_file(silhouettes.DATA_FILE)
    tampered = tmp_path / silhouettes.DATA_FILE
    data = bytearray(original.read_bytes())
    data[-20] ^= 0xFF
    tampered.write_bytes(bytes(data))
    real = silhouettes.package_file
    monkeypatch.setattr(
        silhouettes,
        "package_file",
        lambda name: tampered if name == silhouettes.DATA_FILE else real(name),
    )
    with pytest.raises(ValueError, match="sha256") as info:
        load_silhouettes("horse")
    assert str(tampered) in str(info.value)


# ---------------------------------------------------------------------------
# load_cifar
# ---------------------------------------------------------------------------


def _check_class(x, y, label, count):
    assert x.shape == (count, 32, 32, 3) and x.dtype == np.float32
    assert y.shape == (count, 1) and np.all(y == label)
    rgb = np.rint(x * 127.5 + 127.5)
    assert np.all(rgb[..., 0] == 2 * label)
    assert np.all(rgb[..., 1] == 2 * label + 1)
    assert np.all(rgb[..., 2] == 255 - label)
    assert x.min() >= -1.0 and x.max() <= 1.0


def test_cifar10_from_a_folder_in_data(data_dir):
    write_cifar10(data_dir / "cifar-10-batches-py")
    x, y = load_cifar(7)
    _check_class(x, y, 7, 6)  # one horse per batch, 5 train + 1 test
    x, y = load_cifar(1, 10)
    _check_class(x, y, 1, 6)


def test_cifar_explicit_path(tmp_path):
    folder = write_cifar10(tmp_path / "copied" / "cifar-10-batches-py", per_batch=20)
    _check_class(*load_cifar(3, path=folder), 3, 12)
    _check_class(*load_cifar(3, path=folder.parent), 3, 12)
    with pytest.raises(FileNotFoundError, match="nowhere"):
        load_cifar(3, path=tmp_path / "nowhere")


def test_cifar100_fine_labels(data_dir):
    write_cifar100(data_dir / "cifar-100-python")
    _check_class(*load_cifar(42, num=100), 42, 4)
    _check_class(*load_cifar(99, 100), 99, 4)


def _cifar_archive(path, top="cifar-10-batches-py"):
    staging = path.parent / "staging"
    write_cifar10(staging / top)
    with tarfile.open(path, "w:gz") as archive:
        archive.add(staging / top, arcname=top)
    return path


def test_cifar_download_from_url(data_dir, http_server, monkeypatch):
    _cifar_archive(http_server.root / "cifar-10-python.tar.gz")
    monkeypatch.setenv("GDL_CIFAR_URL", http_server.url + "cifar-10-python.tar.gz")
    _check_class(*load_cifar(7), 7, 6)
    assert http_server.requests == ["/cifar-10-python.tar.gz"]
    _check_class(*load_cifar(2), 2, 6)
    assert len(http_server.requests) == 1  # extracted folder reused
    assert (data_dir / cifar.DOWNLOAD_CACHE).is_dir()


def test_cifar_download_from_a_folder_url(http_server, monkeypatch):
    _cifar_archive(http_server.root / "cifar-10-python.tar.gz")
    monkeypatch.setenv("GDL_CIFAR_URL", http_server.url)  # name is appended
    _check_class(*load_cifar(5), 5, 6)


def test_cifar_download_of_the_wrong_archive(data_dir, http_server, monkeypatch):
    _cifar_archive(http_server.root / "other.tar.gz", top="something-else")
    monkeypatch.setenv("GDL_CIFAR_URL", http_server.url + "other.tar.gz")
    with pytest.raises(DownloadError, match="cifar-10-batches-py"):
        load_cifar(5)


def test_cifar_download_offline(data_dir, dead_url, monkeypatch):
    monkeypatch.setenv("GDL_CIFAR_URL", dead_url)
    with pytest.raises(DownloadError, match="cifar-10-python.tar.gz"):
        load_cifar(5)
    assert list((data_dir / cifar.DOWNLOAD_CACHE).iterdir()) == []


def test_cifar_keras_fallback(monkeypatch):
    import keras

    x = np.zeros((6, 32, 32, 3), np.uint8) + np.arange(6, dtype=np.uint8)[:, None, None, None]
    y = (np.arange(6) % 3).astype(np.uint8).reshape(-1, 1)
    monkeypatch.setattr(keras.datasets.cifar10, "load_data", lambda: ((x[:4], y[:4]), (x[4:], y[4:])))
    images, labels = load_cifar(2)
    assert images.shape == (2, 32, 32, 3) and labels.shape == (2, 1)
    assert np.all(labels == 2)
    assert np.rint(images[:, 0, 0, 0] * 127.5 + 127.5).tolist() == [2, 5]


def test_cifar_offline_says_where_the_folder_goes(data_dir, monkeypatch):
    import keras

    def offline(**kwargs):
        raise Exception("URL fetch failure on https://www.cs.toronto.edu/...: None -- no network")

    monkeypatch.setattr(keras.datasets.cifar100, "load_data", offline)
    with pytest.raises(DownloadError) as info:
        load_cifar(1, num=100)
    assert str(data_dir / "cifar-100-python") in str(info.value)


@pytest.mark.parametrize("label, num", [(7, 20), (10, 10), (-1, 10), (100, 100), ("7", 10)])
def test_cifar_bad_arguments(label, num):
    with pytest.raises(ValueError):
        load_cifar(label, num)


def test_cifar_incomplete_or_corrupt_folder(data_dir):
    folder = write_cifar10(data_dir / "cifar-10-batches-py")
    (folder / "data_batch_3").unlink()
    with pytest.raises(FileNotFoundError, match="data_batch_3"):
        load_cifar(7)
    (folder / "data_batch_3").write_bytes(b"\x80\x02truncated")
    with pytest.raises(ValueError, match="data_batch_3"):
        load_cifar(7)


def test_cifar_batch_files_cannot_run_code(data_dir, tmp_path):
    folder = write_cifar10(data_dir / "cifar-10-batches-py")
    flag = tmp_path / "pwned"
    (folder / "test_batch").write_bytes(pickle.dumps(_Evil(flag), protocol=4))
    with pytest.raises(ValueError, match="test_batch"):
        load_cifar(7)
    assert not flag.exists()


# ---------------------------------------------------------------------------
# load_celeb
# ---------------------------------------------------------------------------

# Solid colours, one per image, so the tests can tell the images apart.
COLOURS = [(20 * i, 255 - 20 * i, (70 * i) % 256) for i in range(13)]


def _save(path, colour, fmt, size=(178, 218)):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, colour).save(path, fmt)


@pytest.fixture
def celeb(data_dir):
    """10 JPEGs and 3 PNGs at several depths, plus a cut-short JPEG, an undecodable one, one damaged in
    the middle, and junk."""
    root = data_dir / "celeb"
    for i in range(10):
        _save(root / "img_align_celeba" / f"{i:06d}.jpg", COLOURS[i], "JPEG")
    _save(root / "more" / "a.PNG", COLOURS[10], "PNG")
    _save(root / "more" / "deeper" / "b.png", COLOURS[11], "PNG")
    _save(root / "more" / "deeper" / "c.jpeg", COLOURS[12], "JPEG")
    # Cut short by an interrupted copy: caught by the up-front check.
    buffer = io.BytesIO()
    Image.new("RGB", (178, 218), (9, 9, 9)).save(buffer, "JPEG")
    (root / "img_align_celeba" / "000011.jpg").write_bytes(buffer.getvalue()[:300])
    # Starts and ends like a JPEG, fails to decode: caught by decoding it.
    (root / "img_align_celeba" / "000010.jpg").write_bytes(b"\xff\xd8\xff\xe0" + b"\0" * 300 + b"\xff\xd9")
    # Decodes, but libjpeg calls it damaged: caught by listening to the decoder.
    write_damaged_jpeg(root / "img_align_celeba" / "000012.jpg")
    (root / "img_align_celeba" / "notes.jpg").write_text("not a picture")
    (root / "README.txt").write_text("ignored: not an image name")
    return root


def _mean_colours(images):
    return np.rint(images.mean(axis=(1, 2)) * 127.5 + 127.5)


def test_celeb_warns_about_non_images_and_streams_batches(celeb):
    with pytest.warns(UserWarning, match="notes.jpg") as record:
        stream = load_celeb("celeb", 16, 4)
    assert len(record) == 1 and "4 file" in str(record[0].message)
    for name, why in (("000011.jpg", "cut short"), ("000010.jpg", "does not decode"),
                      ("000012.jpg", "damaged: Corrupt JPEG data")):
        assert f"{name} ({why}" in str(record[0].message)

    assert stream.n == 13 and len(stream.filepaths) == 13
    assert not any(p.endswith(("notes.jpg", "000010.jpg", "000011.jpg", "000012.jpg")) for p in stream.filepaths)
    assert len(stream) == 4  # ceil(13 / 4)
    assert stream.batch_size == 4 and stream.image_shape == (16, 16, 3)

    assert stream[0][0][0].shape == (16, 16, 3)
    images, labels = next(stream)
    assert images.shape == (4, 16, 16, 3) and images.dtype == np.float32
    assert labels.shape == (4,) and not labels.any()
    assert next(stream)[0].shape == (4, 16, 16, 3)

    # Many passes over the files, including the broken one, never crash.
    for count, (images, _) in enumerate(stream):
        assert images.shape == (4, 16, 16, 3)
        assert images.min() >= -1.0 and images.max() <= 1.0
        if count == 25:
            break

    spec = stream.dataset.element_spec
    assert tuple(spec.shape) == (4, 16, 16, 3)
    assert sum(1 for _ in stream.dataset.take(10)) == 10


def test_celeb_never_streams_a_damaged_image(celeb):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        stream = load_celeb("celeb", 8, 13, shuffle=False)
    first_pass = next(iter(stream.dataset)).numpy()
    # Sorted order: img_align_celeba/ (the damaged files left out), then more/.
    assert np.allclose(_mean_colours(first_pass), COLOURS, atol=3)
    assert [os.path.basename(p) for p in stream.filepaths[-4:]] == ["000009.jpg", "a.PNG", "b.png", "c.jpeg"]
    assert (celeb / ".gdl-image-check.json").is_file()  # the next load reads the verdict


def test_a_file_damaged_after_the_check_is_skipped_while_streaming(celeb):
    good = sorted((celeb / "img_align_celeba").glob("00000[0-4].jpg"))
    broken = celeb / "img_align_celeba" / "000010.jpg"
    stream = ImageStream(good[:2] + [broken] + good[2:], 8, 5, shuffle=False)
    assert np.allclose(_mean_colours(next(iter(stream.dataset)).numpy()), COLOURS[:5], atol=3)


def test_celeb_indexing_like_directory_iterator(celeb):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        stream = load_celeb("celeb", 8, 5, shuffle=True, seed=1)
    first, labels = stream[0]
    assert first.shape == (5, 8, 8, 3) and labels.shape == (5,)
    assert np.allclose(_mean_colours(first), COLOURS[:5], atol=3)
    assert stream[2][0].shape == (3, 8, 8, 3)  # the 3 left over
    assert np.array_equal(stream[-1][0], stream[2][0])
    with pytest.raises(IndexError):
        stream[3]


def test_celeb_shuffles_with_a_seed(celeb):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        a = load_celeb("celeb", 8, 6, seed=7)
        b = load_celeb("celeb", 8, 6, seed=7)
    batches_a = [next(a)[0] for _ in range(4)]
    batches_b = [next(b)[0] for _ in range(4)]
    assert all(np.array_equal(p, q) for p, q in zip(batches_a, batches_b))
    colours = _mean_colours(np.concatenate(batches_a[:2]))
    assert not np.allclose(colours, COLOURS[:12], atol=3)


def test_celeb_missing_or_empty_folder(data_dir):
    with pytest.raises(FileNotFoundError) as info:
        load_celeb("celeb", 64, 16)
    assert str(data_dir / "celeb") in str(info.value)
    assert "img_align_celeba" in str(info.value)

    (data_dir / "celeb" / "img_align_celeba").mkdir(parents=True)
    (data_dir / "celeb" / "list_attr_celeba.txt").write_text("attributes")
    with pytest.raises(FileNotFoundError, match="img_align_celeba"):
        load_celeb("celeb", 64, 16)

    (data_dir / "celeb" / "img_align_celeba" / "._000001.jpg").write_bytes(b"\0\5\26\7mac")
    with pytest.warns(UserWarning, match="._000001.jpg"):
        with pytest.raises(FileNotFoundError, match="no readable"):
            load_celeb("celeb", 64, 16)


def test_celeb_stream_of_only_broken_images_fails_clearly(tmp_path):
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"\xff\xd8\xff\xe0" + b"\0" * 50)
    stream = ImageStream([broken], 8, 2)
    with pytest.raises(RuntimeError, match="could be decoded"):
        next(stream)


def test_a_batch_of_files_that_all_fail_to_decode_is_named(tmp_path):
    from utils.data.celeb import ImageStream

    broken = []
    for k in range(3):
        path = tmp_path / f"{k}.jpg"
        path.write_bytes(b"\xff\xd8\xff" + b"\x00" * 64 + b"\xff\xd9")  # the markers, nothing to decode
        broken.append(str(path))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        stream = ImageStream(broken, (8, 8), 3, shuffle=False)
    with pytest.raises(ValueError, match=r"None of the 3 files of batch 0 could be decoded \(first: .*0\.jpg\)"):
        stream[0]
