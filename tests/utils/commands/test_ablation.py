"""The recipe search (``utils.commands.ablation``): variants as parts, runs kept in a results file
that survives interruptions, and a summary at the book's time."""

import json
import sys

import pytest

from processes import TINY_COMMAND
from utils.commands import ablation


def test_a_variant_is_parts_with_values():
    assert ablation.flags_of("ema+r1") == ["--ema", "0.999", "--r1", "1"]
    assert ablation.flags_of("sn+r1=0.01+adam+lr=0.001") == [
        "--spectral-norm", "--r1", "0.01", "--adam", "0,0.99", "--d-learning-rate", "0.001",
        "--g-learning-rate", "0.001"]
    assert ablation.flags_of("ncritic=2+dropout+batch=32") == ["--n-critic", "2", "--d-dropout", "0",
                                                             "--batch-size", "32"]
    with pytest.raises(ValueError, match="no part 'sgd'"):
        ablation.flags_of("sgd")
    with pytest.raises(ValueError, match="takes no value"):
        ablation.flags_of("sn=2")
    with pytest.raises(ValueError, match="r1= needs a value"):
        ablation.flags_of("r1=")


def test_every_part_makes_flags_the_command_takes():
    from utils.commands.cli import build_parser

    for name, part in ablation.PARTS.items():
        build_parser("04_01").parse_args(["--data", "silhouettes", *ablation.flags_of(name)])


def tiny_search(tmp_path, *extra):
    launcher = f"{sys.executable} {TINY_COMMAND} 04_01 --batch-size 8 --quality-samples 10"
    return ["--seeds", "0", "--quality-every", "1", "--out", str(tmp_path / "runs"),
            "--results", str(tmp_path / "results"), "--launcher", launcher, *extra]


def test_the_search_keeps_finished_runs_and_resumes_cut_ones(run_dir, tmp_path, capsys):
    args = tiny_search(tmp_path)
    ablation.main(["--variants", "book,ema", "--epochs", "1", "--parallel", "2", *args])
    results = ablation.Results(tmp_path / "results")
    runs = results.runs()
    assert sorted(r["variant"] for r in runs) == ["book", "ema"]
    assert all(r["records"][-1]["epoch"] == 1 and r["records"][-1]["training_seconds"] > 0 for r in runs)
    assert all(r["draws"] == 5 and r["records"][-1]["fid_sd"] is not None for r in runs)
    table = (tmp_path / "results" / "runs.md").read_text()
    assert "| 04_01 | silhouettes | book | 0 | 1 |" in table and "| ema | 0 | 1 |" in table
    assert "| book | 1 | 0 |" in (tmp_path / "results" / "summary.md").read_text()
    assert (tmp_path / "results" / "summary.png").exists()

    # Run again: nothing is trained twice, nothing appended.
    ablation.main(["--variants", "book,ema", "--epochs", "1", *args])
    assert len(results.runs()) == 2

    # A longer run of the same variant resumes its folder from the checkpoint (1 → 2 steps).
    ablation.main(["--variants", "book", "--epochs", "2", *args])
    two = [r for r in results.runs() if r["steps"] == 2]
    assert len(two) == 1 and [r["epoch"] for r in two[0]["records"]] == [1, 2]
    log = next((tmp_path / "runs" / "gan").glob("book-s0_*.log")).read_text()
    assert "--resume" in log or log.count("Done: epoch") >= 2

    # A line cut short by a crash is named and skipped, not fatal.
    with open(results.runs_file, "a") as f:
        f.write('{"chapter": "04_01", "da')
    assert len(results.runs()) == 3
    assert "not JSON" in capsys.readouterr().err


def test_the_summary_scores_each_variant_at_the_books_time():
    def run(variant, seed, fids, floor=2.0):
        return {"chapter": "04_01", "data": "silhouettes", "variant": variant, "seed": seed, "steps": 400,
                "floor": floor, "records": [{"epoch": 100 * (k + 1), "fid": fid, "recall": 0.5, "kid": 0.1}
                                            for k, fid in enumerate(fids)]}

    runs = [run("book", 0, [40, 20, 10, 8]), run("book", 1, [40, 20, 12, 8]),
            run("slow", 0, [30, 6, 4, 4]), run("slow", 1, [30, 6, 4, 4])]
    # "slow" costs twice the book's step: in the book's 200 steps it makes 100.
    rows = ablation.summarise(runs, {"book": 1.0, "slow": 2.0}, book_steps=200)
    by_name = {row["variant"]: row for row in rows}
    assert by_name["slow"]["book_time_steps"] == 100
    assert by_name["slow"]["book_time"]["multiple"] == [15.0, 15.0]  # FD 30 at step 100, floor 2
    assert by_name["book"]["book_time"]["multiple"] == [10.0, 10.0]  # FD 20 at step 200
    assert [row["variant"] for row in rows] == ["book", "slow"]  # ranked at equal time
    assert by_name["slow"]["four_times"]["multiple"] == [2.0, 2.0]  # step 400: FD 4
    assert by_name["book"]["book_time"]["worst_later"] == [5.0, 6.0]  # after step 200
    assert ablation.cost_ratios([{"chapter": "04_01", "data": "silhouettes", "variant": "slow",
                                  "seconds": 0.3, "book_seconds": 0.1}], "04_01", "silhouettes") == \
        {"slow": pytest.approx(3.0)}


@pytest.mark.parametrize("argv, message", [
    (["--variants", "book,emma"], "no part 'emma'"),
    (["--seeds", "one"], "--seeds 'one'"),
    (["--chapter", "99"], "--chapter '99'"),
    (["--parallel", "0"], "--parallel must be at least 1"),
    (["--launcher", " "], "--launcher is empty"),
])
def test_bad_input_is_named_with_status_2(argv, message, tmp_path, capsys):
    with pytest.raises(SystemExit, match=message) as stopped:
        ablation.main([*argv, "--results", str(tmp_path)])
    assert stopped.value.code == 2
    assert capsys.readouterr().err.strip() == str(stopped.value) and str(stopped.value).startswith("ablation: ")


def test_the_ablation_times_each_variants_step_in_turns(monkeypatch, tmp_path, capsys):
    from tiny import use_tiny_camel

    use_tiny_camel(monkeypatch, batch_size=8)
    ablation.main(["--time", "--variants", "book,sn+r1", "--results", str(tmp_path)])
    rows = [json.loads(line) for line in (tmp_path / "step_times.jsonl").read_text().splitlines()]
    assert [r["variant"] for r in rows] == ["book", "sn+r1"]
    assert all(r["book_seconds"] == rows[0]["seconds"] and r["cpu"] for r in rows)
    assert "× book 1.00" in capsys.readouterr().out


def test_the_step_costs_of_a_conditional_chapter_are_timed_on_images_and_labels(monkeypatch, tmp_path):
    from tiny import use_tiny_chapters

    use_tiny_chapters(monkeypatch, batch_size=8)
    ablation.main(["--time", "--chapter", "cgan", "--variants", "book,sn", "--results", str(tmp_path)])
    rows = [json.loads(line) for line in (tmp_path / "step_times.jsonl").read_text().splitlines()]
    assert [(r["chapter"], r["variant"]) for r in rows] == [("cgan", "book"), ("cgan", "sn")]
    assert all(r["seconds"] > 0 for r in rows)


def test_a_controllable_gans_runs_record_their_control(run_dir, tmp_path):
    """A CGAN's search runs record gdl-eval's class control at the end, and the summary shows it."""
    launcher = f"{sys.executable} {TINY_COMMAND} cgan --batch-size 8 --quality-samples 10"
    ablation.main(["--chapter", "cgan", "--variants", "book", "--epochs", "1", "--seeds", "0",
                   "--quality-every", "1", "--out", str(tmp_path / "runs"), "--results", str(tmp_path / "results"),
                   "--launcher", launcher, "--parallel", "1"])
    (run,) = ablation.Results(tmp_path / "results").runs()
    control = run["control"]
    assert 0.0 <= control["class_control"] <= 1.0 and len(control["per_class"]) == 10
    metrics = json.loads(next((tmp_path / "runs" / "cgan").glob("book-s0_*/eval/metrics.json")).read_text())
    assert control["class_control"] == metrics["class_control"]["mean"]
    summary = (tmp_path / "results" / "summary.md").read_text()
    assert "control at end |" in summary and f"| {control['class_control']:.3f} |" in summary
