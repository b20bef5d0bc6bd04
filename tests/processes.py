"""A chapter command in a process of its own, with tiny networks (``tiny_command.py``): start it,
wait for its saves, read what it saved."""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from utils.runs.checkpoint import read_training_state

TINY_COMMAND = Path(__file__).with_name("tiny_command.py")
ARGS = ["--data", "silhouettes", "--batch-size", "8", "--print-every", "5", "--seed", "1",
        "--no-tensorboard"]


def start(run_dir, *args):
    env = {**os.environ, "GDL_RUN_DIR": str(run_dir), "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen([sys.executable, str(TINY_COMMAND), "04_01", *ARGS, *args], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_for_saved_epoch(folder, at_least, process, timeout=180):
    """Block until the run folder's history shows ``at_least`` epochs (the run is under way)."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        assert process.poll() is None, process.communicate()
        try:
            if json.loads(folder.history.read_text())["epoch"] >= at_least:
                return
        except (FileNotFoundError, ValueError):
            pass
        time.sleep(0.1)
    process.kill()
    raise AssertionError(f"no checkpoint with {at_least} epochs in {timeout}s")


def saved(folder):
    state = read_training_state(folder.checkpoint)
    history = json.loads(folder.history.read_text())
    assert history["epoch"] == state["epoch"] == len(history["d_losses"]) == len(state["d_losses"])
    return state
