"""tests/tiny_command.py, which the process tests run, trains every chapter's command with tiny
networks and prints the model it trained."""

import json
import os
import subprocess
import sys

import pytest

from processes import TINY_COMMAND


@pytest.mark.parametrize("chapter, section, data", [
    ("04_01", "gan", "silhouettes-horse"), ("04_02", "wgan", "silhouettes-horse"),
    ("04_03", "wgangp", "silhouettes-horse"), ("cgan", "cgan", "silhouettes-all"),
    ("infogan", "infogan", "silhouettes-all")])
def test_it_runs_every_chapter(chapter, section, data, run_dir):
    result = subprocess.run(
        [sys.executable, str(TINY_COMMAND), chapter, "--data", "silhouettes", "--epochs", "1",
         "--print-every", "1", "--no-quality", "--no-tensorboard", "--seed", "0"],
        env={**os.environ, "GDL_RUN_DIR": str(run_dir), "TF_CPP_MIN_LOG_LEVEL": "2"},
        capture_output=True, text=True, timeout=600)
    # It stops with an error when the command trained other than the tiny networks.
    assert result.returncode == 0, result.stderr[-3000:]
    printed = json.loads(result.stdout.strip().splitlines()[-1])
    assert printed["epoch"] == 1 and printed["parameters"] > 0
    [run] = (run_dir / section).glob(f"*_{data}")
    assert (run / "weights").is_dir()
