"""Which files of an image folder are whole, decodable images: the ends, the decoder's complaints,
and the verdict kept in the folder."""

import os

import numpy as np
import pytest
from PIL import Image

from fake_data import write_damaged_jpeg
from utils.data import image_files
from utils.data.image_files import CHECK_FILE, drop_non_images, image_problems, list_images


def photo(path, seed=1):
    pixels = np.random.default_rng(seed).integers(0, 256, (40, 30, 3), dtype=np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path, "JPEG")
    return path


@pytest.fixture
def folder(tmp_path):
    root = tmp_path / "faces"
    photo(root / "a.jpg", 1)
    photo(root / "sub" / "b.jpeg", 2)
    Image.new("RGB", (9, 9), (5, 6, 7)).save(root / "c.png")
    write_damaged_jpeg(root / "damaged.jpg")
    whole = (root / "a.jpg").read_bytes()
    (root / "cut.jpg").write_bytes(whole[: len(whole) // 2])
    (root / "page.jpg").write_text("<html>not an image</html>")
    return root


def test_a_damaged_middle_is_found_by_the_decoders_complaint(folder):
    problems = image_problems(list_images(folder))
    assert set(map(os.path.basename, problems)) == {"damaged.jpg", "cut.jpg", "page.jpg"}
    why = {os.path.basename(path): text for path, text in problems.items()}
    assert why["damaged.jpg"].startswith("damaged: Corrupt JPEG data")
    assert why["cut.jpg"] == "cut short" and why["page.jpg"] == "not a JPEG or PNG"


def test_the_whole_images_are_kept_in_order_and_the_others_named_in_one_warning(folder):
    with pytest.warns(UserWarning) as warned:
        kept = drop_non_images(list_images(folder))
    assert [os.path.relpath(p, folder) for p in kept] == ["a.jpg", "c.png", os.path.join("sub", "b.jpeg")]
    assert len(warned) == 1
    message = str(warned[0].message)
    assert "Skipping 3 file(s)" in message
    assert all(name in message for name in ("damaged.jpg (damaged: Corrupt JPEG data", "cut.jpg (cut short)",
                                             "page.jpg (not a JPEG or PNG)"))


def test_a_file_that_does_not_decode_at_all_is_named(tmp_path):
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"\xff\xd8\xff\xe0" + b"\0" * 300 + b"\xff\xd9")
    assert image_problems([broken])[str(broken)].startswith("does not decode")


def test_the_verdict_is_kept_in_the_folder_and_checked_again_when_a_file_changes(folder, monkeypatch):
    files = list_images(folder)
    first = image_problems(files, folder)
    assert (folder / CHECK_FILE).is_file()

    def must_not_decode(paths):
        raise AssertionError("decoded again although nothing changed")

    monkeypatch.setattr(image_files, "_decoding_problems", must_not_decode)
    assert image_problems(files, folder) == first
    monkeypatch.undo()

    photo(folder / "damaged.jpg", 3)  # repaired: a whole image now
    assert set(map(os.path.basename, image_problems(files, folder))) == {"cut.jpg", "page.jpg"}

    (folder / CHECK_FILE).write_text("{damaged")  # a damaged verdict is never trusted
    assert set(map(os.path.basename, image_problems(files, folder))) == {"cut.jpg", "page.jpg"}


def test_a_read_only_folder_is_checked_without_keeping_the_verdict(folder, monkeypatch):
    def cannot_write(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr("utils.runs.folder.write_json_atomically", cannot_write)
    assert len(image_problems(list_images(folder), folder)) == 3
    assert not (folder / CHECK_FILE).exists()


def test_stderr_is_given_back_after_the_check(folder, capfd):
    image_problems(list_images(folder))
    os.write(2, b"after the check\n")
    assert "after the check" in capfd.readouterr().err
