"""Full disks and folders that cannot be written, made for real: a small tmpfs filled to the brim,
and ``chattr +i`` (which binds root too).  Each case ends in one message naming the folder and what
was kept, never a traceback, and the run resumes once space or rights are back.  Skipped, with the
reason, where this machine cannot mount a tmpfs or set the immutable flag."""

import os
import shutil
import subprocess
import sys

import pytest

from processes import ARGS, TINY_COMMAND
from utils.commands import cli
from utils.runs.checkpoint import read_training_state
from utils.runs.folder import RunFolder


def command(run_root, *args):
    env = {**os.environ, "GDL_RUN_DIR": str(run_root), "TF_CPP_MIN_LOG_LEVEL": "2"}
    result = subprocess.run([sys.executable, str(TINY_COMMAND), "04_01", *ARGS, "--no-quality", *args],
                            env=env, capture_output=True, text=True, timeout=300)
    return result


def train_here(run_root, monkeypatch, *args):
    """The command, as ``command`` runs it, in this process (tiny networks, the suite's autouse
    fixture) → the trained model."""
    monkeypatch.setenv("GDL_RUN_DIR", str(run_root))
    return cli.run("04_01", [*ARGS, "--no-quality", *args])


def in_process(run_root, monkeypatch, *args):
    """The command in this process, expected to stop: its SystemExit message."""
    with pytest.raises(SystemExit) as stop:
        train_here(run_root, monkeypatch, *args)
    return str(stop.value)


@pytest.fixture
def small_disk(tmp_path):
    """A 3 MB tmpfs at ``tmp_path / 'disk'``."""
    disk = tmp_path / "disk"
    disk.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", str(disk)],
                             capture_output=True, text=True)
    if mounted.returncode:
        pytest.skip(f"cannot mount a tmpfs here ({mounted.stderr.strip() or 'mount failed'})")
    yield disk
    subprocess.run(["umount", "-l", str(disk)], capture_output=True)


def fill(disk, leave):
    """Fill ``disk`` but ``leave`` bytes with a file it returns (delete it to free the space)."""
    free = shutil.disk_usage(disk).free
    filler = disk / "filler"
    with open(filler, "wb") as f:
        f.write(b"\0" * max(0, free - leave))
    return filler


def immutable(path, on=True):
    result = subprocess.run(["chattr", "+i" if on else "-i", str(path)], capture_output=True, text=True)
    if result.returncode:
        pytest.skip(f"cannot set the immutable flag here ({result.stderr.strip() or 'chattr failed'})")


def assert_named(result, *words):
    assert result.returncode not in (0, 139) and "Traceback" not in result.stderr, result.stderr[-3000:]
    assert "Exception ignored" not in result.stderr, result.stderr[-3000:]
    for word in words:
        assert word in result.stderr, result.stderr[-3000:]


def test_a_full_disk_while_training_keeps_the_last_checkpoint_and_the_run_resumes(small_disk, monkeypatch):
    train_here(small_disk, monkeypatch, "--epochs", "5")
    folder = RunFolder(small_disk / "gan" / "0001_silhouettes-horse")
    before = folder.checkpoint.read_bytes()
    filler = fill(small_disk, 40_000)  # less than a checkpoint
    full = command(small_disk, "--epochs", "10", "--resume")
    assert_named(full, "Could not write", str(folder.path), "No space left on device",
                 "is kept and loads")
    assert folder.checkpoint.read_bytes() == before and not list(folder.path.rglob(".tmp-*"))
    filler.unlink()
    assert train_here(small_disk, monkeypatch, "--epochs", "5", "--resume").epoch == 10


def test_a_new_run_on_a_full_disk_is_named(small_disk, monkeypatch):
    fill(small_disk, 0)
    said = in_process(small_disk, monkeypatch, "--epochs", "2")
    assert str(small_disk / "gan") in said and "No space left on device" in said


def test_an_immutable_run_folder_or_root_is_named_and_the_run_goes_on_once_writable(tmp_path, monkeypatch):
    root = tmp_path / "runs"
    folder = root / "gan" / "0001_silhouettes-horse"
    train_here(root, monkeypatch, "--epochs", "2")
    immutable(folder)
    try:
        said = in_process(root, monkeypatch, "--epochs", "2", "--resume")
    finally:
        immutable(folder, on=False)
    assert str(folder) in said and "Operation not permitted" in said
    kept = read_training_state(RunFolder(folder).checkpoint)["epoch"]  # the message's "kept"
    assert train_here(root, monkeypatch, "--epochs", "1", "--resume").epoch == kept + 1
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    immutable(fresh)
    try:
        said = in_process(fresh, monkeypatch, "--epochs", "1")
    finally:
        immutable(fresh, on=False)
    assert str(fresh) in said and "Operation not permitted" in said


def test_gdl_eval_on_a_run_it_cannot_write_into_is_named(trained, capsys):
    from utils.commands import evaluate

    _, folder = trained
    immutable(folder.path)
    try:
        with pytest.raises(SystemExit) as stop:
            evaluate.main([str(folder.path), "--data", "silhouettes:horse", "--samples", "20", "--draws", "1", "--reference", "100",
                           "--held-out", "20"])
    finally:
        immutable(folder.path, on=False)
    assert str(folder.path) in str(stop.value) and "Operation not permitted" in str(stop.value)
