"""Several hosts: two MultiWorkerMirroredStrategy workers on 127.0.0.1 train together through the
chapter command (``--distribute multi-worker``, ``TF_CONFIG``), agree on the weights, stop
together when one of them is sent SIGTERM, and resume from the chief's checkpoint when restarted."""

import json
import os
import signal
import socket
import subprocess
import sys

from processes import TINY_COMMAND, saved, wait_for_saved_epoch
from utils.runs.folder import RunFolder

ARGS = ["--data", "silhouettes", "--batch-size", "8", "--print-every", "5", "--seed", "1",
        "--no-tensorboard", "--distribute", "multi-worker"]


def free_ports(n):
    sockets = [socket.socket() for _ in range(n)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def start_workers(run_dir, *args):
    """The README's multi-host launch, with both hosts on this machine."""
    cluster = {"worker": [f"127.0.0.1:{port}" for port in free_ports(2)]}
    workers = []
    for index in range(2):
        env = {**os.environ, "GDL_RUN_DIR": str(run_dir), "TF_CPP_MIN_LOG_LEVEL": "2",
               "PYTHONUNBUFFERED": "1", "CUDA_VISIBLE_DEVICES": "",
               "TF_CONFIG": json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}})}
        workers.append(subprocess.Popen(
            [sys.executable, str(TINY_COMMAND), "04_01", *ARGS, *args], env=env,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    return workers


def finish(workers, timeout=300):
    """→ [(return code, the final {"epoch", "fingerprint"} line, stderr)] per worker."""
    results = []
    for worker in workers:
        try:
            out, err = worker.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            for w in workers:
                w.kill()
            raise
        lines = [line for line in out.splitlines() if line.startswith("{")]
        results.append((worker.returncode, json.loads(lines[-1]) if lines else None, err))
    return results


def test_two_workers_train_together_stop_together_and_resume(run_dir):
    folder = RunFolder(run_dir / "gan" / "0001_silhouettes-horse")
    workers = start_workers(run_dir, "--epochs", "100000")
    wait_for_saved_epoch(folder, 6, workers[0], timeout=300)
    workers[1].send_signal(signal.SIGTERM)  # one host is preempted
    results = finish(workers)
    for code, final, err in results:
        assert code == 128 + signal.SIGTERM, err[-3000:]
    (_, chief, _), (_, other, _) = results
    assert chief["epoch"] == other["epoch"]  # both stopped after the same step
    assert chief["fingerprint"] == other["fingerprint"]  # with the same weights
    stopped_at = chief["epoch"]
    assert saved(folder)["epoch"] == stopped_at  # the chief saved the run as it stopped

    results = finish(start_workers(run_dir, "--resume", "--epochs", "3"))
    for code, final, err in results:
        assert code == 0, err[-3000:]
        assert final["epoch"] == stopped_at + 3
    assert results[0][1]["fingerprint"] == results[1][1]["fingerprint"]
    assert saved(folder)["epoch"] == stopped_at + 3
