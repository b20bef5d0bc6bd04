"""The README's picture is made from a run folder by a script: its last grid beside its quality curve."""

import json

import numpy as np
import pytest
from PIL import Image

from utils.commands.run_figure import last_grid, main, run_figure
from utils.runs.folder import RunFolder


def fake_run(path, with_quality=True):
    folder = RunFolder(path)
    folder.images.mkdir(parents=True)
    for step, shade in ((50, 40), (500, 200), (100, 90)):
        Image.fromarray(np.full((20, 20), shade, np.uint8)).save(folder.sample(step))
    if with_quality:
        folder.quality.write_text(json.dumps({"floor": {"fid": 3.2}, "records": [
            {"epoch": 50, "fid": 300.0}, {"epoch": 100, "finite": False}, {"epoch": 500, "fid": 29.0}]}))
    return folder


def test_the_picture_shows_the_last_grid_and_the_scores(tmp_path):
    folder = fake_run(tmp_path / "run")
    assert last_grid(folder).name == folder.sample(500).name  # by step, not by name
    out = run_figure(folder.path, tmp_path / "figure.png")
    picture = np.asarray(Image.open(out))
    assert picture.shape[:2] == (360, 900)
    assert len(np.unique(picture.reshape(-1, picture.shape[-1]), axis=0)) > 10  # drawn, not blank


def test_a_run_without_scores_is_named(tmp_path, capsys):
    folder = fake_run(tmp_path / "run", with_quality=False)
    with pytest.raises(SystemExit) as stop:
        main([str(folder.path), str(tmp_path / "figure.png")])
    assert stop.value.code == 2 and "quality.json is missing" in capsys.readouterr().err
    with pytest.raises(FileNotFoundError, match="holds no sample grid"):
        run_figure(tmp_path / "empty", tmp_path / "figure.png")


def test_two_runs_side_by_side_against_training_time(tmp_path, capsys):
    book, modern = fake_run(tmp_path / "book"), fake_run(tmp_path / "modern")
    for folder, seconds in ((book, 60.0), (modern, 90.0)):
        quality = json.loads(folder.quality.read_text())
        for k, record in enumerate(quality["records"]):
            record["training_seconds"] = seconds * (k + 1)
        folder.quality.write_text(json.dumps(quality))
    out = tmp_path / "both.png"
    main([str(book.path), str(modern.path), str(out), "--labels", "book,modern"])
    assert np.asarray(Image.open(out)).shape[:2] == (360, 1350)
    with pytest.raises(SystemExit):
        main([str(book.path), str(modern.path), str(out), "--labels", "a,b,c"])
    assert "3 labels for 2 runs" in capsys.readouterr().err


def test_a_forgotten_picture_name_is_named_not_drawn_into_a_run(tmp_path, capsys):
    book, modern = fake_run(tmp_path / "book"), fake_run(tmp_path / "modern")
    for out in (str(modern.path), str(tmp_path / "picture")):
        with pytest.raises(SystemExit) as stop:
            main([str(book.path), out])
        assert stop.value.code == 2 and "the last argument is the picture to write" in capsys.readouterr().err
    assert not list(tmp_path.glob("*.png")) and not list(tmp_path.glob("modern*"))[1:]


@pytest.mark.parametrize("quality, message", [
    ({"records": []}, "no held-out floor"), ({"floor": {"fid": 3.2}, "records": [{"fid": 3.0}]}, "lacks its"),
    ("{not json", "is damaged")])
def test_a_damaged_quality_json_is_named(tmp_path, capsys, quality, message):
    folder = fake_run(tmp_path / "run")
    folder.quality.write_text(quality if isinstance(quality, str) else json.dumps(quality))
    with pytest.raises(SystemExit) as stop:
        main([str(folder.path), str(tmp_path / "figure.png")])
    assert stop.value.code == 2 and message in capsys.readouterr().err
