"""A folder of the user's own images as a data set (``--data images:DIR``), on real PNG and
JPEG files: resized and cropped to the preset's size, grayscale and colour mixed, transparent
pixels on white, an empty folder and unreadable files named, subfolders as classes, and every
training command trained on one."""

import json

import numpy as np
import pytest
from PIL import Image

from fake_data import write_damaged_jpeg
from tiny import is_tiny
from utils.commands import cli
from utils.data import sets
from utils.data.sets.images import read_image


def write(path, array, **options):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.asarray(array, np.uint8)).save(path, **options)
    return path


def drawings(folder, n=6, size=12, seed=0):
    """n real image files, white shapes on black: grayscale PNGs and colour JPEGs, of two sizes."""
    rng = np.random.default_rng(seed)
    for i in range(n):
        shape = (size, size + 4, 3) if i % 2 else (size + 2, size)
        image = np.zeros(shape, np.uint8)
        top, left = rng.integers(0, 3, 2)
        image[top:top + size // 2 + 2, left:left + size // 2 + 2] = 255
        if i % 2:
            write(folder / f"colour{i}.jpg", image, quality=95)
        else:
            write(folder / f"gray{i}.png", image)
    return folder


def test_an_image_is_centre_cropped_resized_and_given_the_presets_channels(tmp_path):
    wide = np.zeros((8, 32, 3), np.uint8)
    wide[:, :4] = (255, 0, 0)  # the left edge: cropped away (squashed, it would be column 0)
    wide[:, 4:] = (0, 0, 255)  # around the centre square, kept
    path = write(tmp_path / "wide.png", wide)
    colour = read_image(path, (4, 4, 3))
    assert colour.shape == (4, 4, 3) and colour.dtype == np.uint8
    np.testing.assert_array_equal(colour[..., 2], 255)
    assert colour[..., 0].max() == 0  # no red left
    gray = read_image(path, (4, 4, 1))
    assert gray.shape == (4, 4, 1) and np.all(gray == round(0.114 * 255))  # ITU-R 601 luma of blue


def test_transparent_pixels_are_shown_on_white(tmp_path):
    rgba = np.zeros((4, 4, 4), np.uint8)
    rgba[:2, :, :] = (0, 0, 0, 255)  # opaque black top, fully transparent bottom
    image = read_image(write(tmp_path / "icon.png", rgba), (4, 4, 1))
    assert np.all(image[:2] == 0) and np.all(image[2:] == 255)


def test_a_folder_of_mixed_images_loads_at_the_model_size_in_minus_one_to_one(tmp_path):
    folder = drawings(tmp_path / "mine")
    for input_dim in ((8, 8, 1), (8, 8, 3)):
        x, streamed = sets.parse(f"images:{folder}").load_training(input_dim, 4)
        assert not streamed and x.shape == (6, *input_dim) and x.dtype == np.float32
        assert -1 <= x.min() < -0.9 and 0.9 < x.max() <= 1


def test_an_empty_or_missing_folder_is_named(tmp_path):
    (tmp_path / "empty" / "sub").mkdir(parents=True)
    (tmp_path / "empty" / "notes.txt").write_text("no images here")
    with pytest.raises(FileNotFoundError, match=f"{tmp_path / 'empty'} holds no image files"):
        sets.parse(f"images:{tmp_path / 'empty'}").load_training((8, 8, 1), 4)
    with pytest.raises(FileNotFoundError, match="there is no such folder"):
        sets.parse(f"images:{tmp_path / 'nowhere'}").load_training((8, 8, 1), 4)
    with pytest.raises(ValueError, match="names the folder"):
        sets.parse("images:")


def test_unreadable_files_are_named_and_skipped(tmp_path):
    folder = drawings(tmp_path / "mine", n=4)
    (folder / "page.png").write_text("<html>not an image</html>")
    whole = (folder / "colour1.jpg").read_bytes()
    (folder / "cut.jpg").write_bytes(whole[:len(whole) // 3])
    write_damaged_jpeg(folder / "damaged.jpg")  # PIL decodes it without a word; libjpeg complains
    with pytest.warns(UserWarning, match="skipping 3 file") as warned:
        x, _ = sets.parse(f"images:{folder}").load_training((8, 8, 1), 4)
    message = str(warned[0].message)
    assert "page.png" in message and "cut.jpg" in message and len(x) == 4
    assert "damaged.jpg (damaged: Corrupt JPEG data" in message


def test_a_folder_of_nothing_readable_is_named(tmp_path):
    folder = tmp_path / "broken"
    folder.mkdir()
    (folder / "a.png").write_bytes(b"\x89PNG broken")
    with pytest.warns(UserWarning, match="a.png"), pytest.raises(FileNotFoundError, match=f"{folder} holds no readable image"):
        sets.parse(f"images:{folder}").load_training((8, 8, 1), 4)


def test_subfolders_are_the_classes_of_a_conditional_model(tmp_path):
    folder = tmp_path / "animals"
    drawings(folder / "dog", n=3, seed=1)
    drawings(folder / "cat" / "deeper", n=2, seed=2)
    write(folder / "loose.png", np.zeros((8, 8)))
    with pytest.warns(UserWarning, match="belong to no class subfolder"):
        x, labels, names = sets.parse(f"images:{folder}", conditional=True).load_labelled((8, 8, 3))
    assert names == ("cat", "dog") and sorted(labels.tolist()) == [0, 0, 1, 1, 1] and x.shape == (5, 8, 8, 3)
    with pytest.raises(ValueError, match="one subfolder per class"):
        sets.parse(f"images:{folder / 'dog'}").load_labelled((8, 8, 1))


def test_the_folder_is_recorded_in_the_run_and_read_back(tmp_path):
    data = sets.parse(f"images:{tmp_path / 'My Drawings_2'}")
    assert data.run_name == "images-My-Drawings-2" and data.path == str((tmp_path / "My Drawings_2").resolve())
    data.write(tmp_path)
    assert json.loads((tmp_path / "data.json").read_text()) == {"name": "images", "path": data.path}
    assert sets.read(tmp_path) == data
    assert sets.infer("0001_images-My-Drawings-2") is None  # the path is not in the name
    assert data.default_features == "inception" and not data.animal_classes


COMMANDS = {"04_01": (28, 28, 1), "04_02": (32, 32, 3), "04_03": (64, 64, 3), "cgan": (28, 28, 1),
            "infogan": (28, 28, 1)}


@pytest.mark.parametrize("chapter", COMMANDS)
def test_every_command_trains_on_a_folder_of_images(chapter, tmp_path, run_dir, capsys):
    folder = tmp_path / "mine"
    if chapter == "cgan":
        drawings(folder / "circles", n=8, seed=1)
        drawings(folder / "squares", n=8, seed=2)
    else:
        drawings(folder, n=16)
    model = cli.run(chapter, ["--data", f"images:{folder}", "--epochs", "2", "--batch-size", "8",
                              "--print-every", "1", "--no-tensorboard", "--no-quality", "--seed", "0"])
    assert is_tiny(model) and model.epoch == 2 and tuple(model.input_dim) == COMMANDS[chapter]
    run = next((run_dir).glob("*/*_images-mine"))
    assert json.loads((run / "data.json").read_text()) == {"name": "images", "path": str(folder.resolve())}
    if chapter == "cgan":
        assert model.num_classes == 2
    assert "Done: epoch 2" in capsys.readouterr().out


def test_the_commands_refuse_a_folder_by_name(tmp_path, run_dir, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(SystemExit, match=f"gdl-gan: {empty} holds no image files"):
        cli.run("04_01", ["--data", f"images:{empty}", "--epochs", "1", "--no-quality"])
    with pytest.raises(SystemExit):
        cli.build_parser("04_01").parse_args(["--data", "images"])
    assert "images:DIR" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli.build_parser("04_01").parse_args(["--data", "mnist"])
    assert "invalid choice: 'mnist'" in capsys.readouterr().err


def test_offline_the_quality_monitor_says_which_features_it_needs_and_trains_on(tmp_path, run_dir, monkeypatch,
                                                                              dead_url, capsys):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "empty-keras-cache"))
    monkeypatch.setenv("GDL_INCEPTION_URL", dead_url)
    folder = drawings(tmp_path / "mine", n=8)
    model = cli.run("04_01", ["--data", f"images:{folder}", "--epochs", "1", "--batch-size", "8",
                              "--no-tensorboard", "--seed", "0"])
    err = capsys.readouterr().err
    assert model.epoch == 1
    assert "Sample quality will not be scored while training: images-mine is scored in the 'inception'" in err
