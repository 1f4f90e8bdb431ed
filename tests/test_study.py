"""The pairwise user study: export two fake eval runs as an MTurk batch, tally known answers, log to W&B offline."""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path

import pytest
import torch

from eiip.cli import main
from eiip.color import composite
from eiip.data.samples import SAMPLE_PHOTOS, load_sample_photo
from eiip.io import write_image
from eiip.study import PAIRS_HEADER, load_study, plan_pairs, tally_study, wilson_interval

COMMON = [f"{photo}_{i}" for photo in SAMPLE_PHOTOS[:5] for i in range(2)]  # 10 keys in both runs
ONLY_A, ONLY_B = ["flower_0", "flower_1"], ["flower_9"]
# The answer set: answers and A-votes per pair; 30 answers, 21 for A (rate exactly 0.7).
ANSWERS_PER_PAIR = [4, 4, 2, 3, 3, 3, 3, 3, 3, 2]
A_VOTES_PER_PAIR = [2, 4, 1, 0, 3, 3, 3, 2, 2, 1]
# 95% Wilson score interval of 21/30, z = 1.959963984540054, by hand:
# (21 + z^2/2 -+ z * sqrt(21 * 9 / 30 + z^2 / 4)) / (30 + z^2)
WILSON_21_OF_30 = (0.5212421254, 0.8333525173)


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str | Path) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def make_run(directory: Path, keys: list[str], darken: float) -> Path:
    """A fake eval run of real photos: a white-hole input, and the photo scaled by `darken` as the result."""
    hole = torch.zeros(1, 32, 32, dtype=torch.bool)
    hole[:, 8:20, 10:26] = True
    rows = []
    for key in keys:
        photo = load_sample_photo(key.rsplit("_", 1)[0], 32)
        photo = photo.roll(int(key.rsplit("_", 1)[1]) * 5, dims=2)
        write_image(directory / "images" / key / "input.png", composite(torch.ones_like(photo), photo, ~hole))
        write_image(directory / "images" / key / "final.png", photo * darken)
        rows.append({"key": key, "hole_psnr": f"{20 + 10 * darken:.2f}"})
    with (directory / "results.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=["key", "hole_psnr"])
        writer.writeheader()
        writer.writerows(rows)
    return directory


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("runs")
    return make_run(root / "eiip", COMMON + ONLY_A, 1.0), make_run(root / "baseline", ONLY_B + COMMON[::-1], 0.6)


def read_rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def export(capsys: pytest.CaptureFixture[str], runs: tuple[Path, Path], out: Path, *extra: str) -> tuple[int, str, str]:
    return run_cli(capsys, "study", "export", "--a", runs[0], "--b", runs[1], "--out", out, "--name-a", "A",
                   "--name-b", "B", *extra)


@pytest.fixture()
def study(capsys: pytest.CaptureFixture[str], runs: tuple[Path, Path], tmp_path: Path) -> Path:
    out = tmp_path / "study"
    assert export(capsys, runs, out)[0] == 0
    return out


def test_export_writes_images_batch_key_and_metadata(
    capsys: pytest.CaptureFixture[str], runs: tuple[Path, Path], tmp_path: Path
) -> None:
    out = tmp_path / "study"
    code, stdout, err = export(capsys, runs, out, "--seed", "7", "--url-prefix", "https://bucket.example/s1")
    assert code == 0, err
    assert "wrote 10 pairs" in stdout
    assert "2 key(s) found only in" in err and "flower_0" in err and "1 key(s)" in err and "flower_9" in err
    pairs, key = read_rows(out / "pairs.csv"), read_rows(out / "key.csv")
    assert tuple(pairs[0]) == PAIRS_HEADER and tuple(key[0]) == ("pair_id", "key", "left", "right")
    assert [p["pair_id"] for p in pairs] == [k["pair_id"] for k in key] == [f"pair_{i:04d}" for i in range(10)]
    assert sorted(k["key"] for k in key) == sorted(COMMON)
    for pair, row in zip(pairs, key):
        pid = row["pair_id"]
        assert pair["image_left_url"] == f"https://bucket.example/s1/images/{pid}_left.png"
        assert {row["left"], row["right"]} == {"A", "B"}
        run_of = {"A": runs[0], "B": runs[1]}
        for side in ("left", "right"):
            source = run_of[row[side]] / "images" / row["key"] / "final.png"
            assert (out / "images" / f"{pid}_{side}.png").read_bytes() == source.read_bytes()
        assert (out / "images" / f"{pid}_input.png").read_bytes() == (
            runs[0] / "images" / row["key"] / "input.png").read_bytes()
    study = json.loads((out / "study.json").read_text())
    assert study["names"] == ["A", "B"] and study["seed"] == 7 and study["count"] == 10
    assert study["runs"] == {"A": str(runs[0].resolve()), "B": str(runs[1].resolve())}


def test_export_is_seeded_and_balanced(
    capsys: pytest.CaptureFixture[str], runs: tuple[Path, Path], tmp_path: Path
) -> None:
    for name, seed in (("one", "3"), ("two", "3"), ("other", "4")):
        assert export(capsys, runs, tmp_path / name, "--seed", seed)[0] == 0
    key = {name: (tmp_path / name / "key.csv").read_bytes() for name in ("one", "two", "other")}
    assert key["one"] == key["two"] != key["other"]
    assert sum(row["left"] == "A" for row in read_rows(tmp_path / "one" / "key.csv")) == 5
    pairs = plan_pairs([f"k{i}" for i in range(101)], ("A", "B"), n=None, seed=0)
    assert sum(pair.left == "A" for pair in pairs) == 51
    assert [pair.key for pair in pairs] != sorted(pair.key for pair in pairs)  # the order is shuffled too


def test_export_subset(capsys: pytest.CaptureFixture[str], runs: tuple[Path, Path], tmp_path: Path) -> None:
    code, _, _ = export(capsys, runs, tmp_path / "s", "--n", "4", "--seed", "1")
    assert code == 0
    key = read_rows(tmp_path / "s" / "key.csv")
    assert len(key) == 4 and set(k["key"] for k in key) <= set(COMMON)
    assert len(list((tmp_path / "s" / "images").iterdir())) == 12
    code, _, err = export(capsys, runs, tmp_path / "too_many", "--n", "11")
    assert code == 2 and "10 image(s) in both runs" in err


def test_export_default_names_and_force(
    capsys: pytest.CaptureFixture[str], runs: tuple[Path, Path], tmp_path: Path
) -> None:
    out = tmp_path / "study"
    argv = ["study", "export", "--a", runs[0], "--b", runs[1], "--out", out, "--n", "6"]
    assert run_cli(capsys, *argv)[0] == 0
    assert json.loads((out / "study.json").read_text())["names"] == ["eiip", "baseline"]
    code, _, err = run_cli(capsys, *argv)
    assert code == 2 and one_error_line(err) == f"error: output folder is not empty: {out} (use --force to overwrite)"
    argv[-1] = "3"
    assert run_cli(capsys, *argv, "--force")[0] == 0
    assert len(read_rows(out / "key.csv")) == 3 and len(list((out / "images").iterdir())) == 9


def one_error_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:"), err
    return lines[0]


def test_export_errors(capsys: pytest.CaptureFixture[str], runs: tuple[Path, Path], tmp_path: Path) -> None:
    lonely = make_run(tmp_path / "lonely", ["coffee_7"], 0.5)
    code, _, err = run_cli(capsys, "study", "export", "--a", runs[0], "--b", lonely, "--out", tmp_path / "x")
    assert code == 2 and "no image key is in both" in one_error_line(err)
    broken = make_run(tmp_path / "broken", COMMON[:2], 0.5)
    (broken / "images" / COMMON[1] / "final.png").unlink()
    code, _, err = run_cli(capsys, "study", "export", "--a", runs[0], "--b", broken, "--out", tmp_path / "y")
    assert code == 2 and str(broken / "images" / COMMON[1] / "final.png") in one_error_line(err)
    assert not (tmp_path / "y").exists()
    code, _, err = run_cli(capsys, "study", "export", "--a", tmp_path / "none", "--b", broken, "--out", tmp_path / "z")
    assert code == 2 and "results file not found" in one_error_line(err)
    code, _, err = run_cli(capsys, "study", "export", "--a", runs[0], "--b", runs[0], "--out", tmp_path / "z")
    assert code == 2 and "--name-a" in one_error_line(err)


def test_wilson_interval() -> None:
    low, high = wilson_interval(21, 30)
    assert low == pytest.approx(WILSON_21_OF_30[0], abs=1e-6) and high == pytest.approx(WILSON_21_OF_30[1], abs=1e-6)
    assert wilson_interval(0, 10)[0] == pytest.approx(0.0, abs=1e-12)
    assert wilson_interval(10, 10)[1] == pytest.approx(1.0, abs=1e-12)
    low99, high99 = wilson_interval(21, 30, confidence=0.99)
    assert low99 < low and high99 > high
    with pytest.raises(ValueError):
        wilson_interval(3, 0)


def synthetic_answers(study: Path) -> list[dict[str, str]]:
    """The known answer set, as rows with pair id, side chosen and worker."""
    _, pairs = load_study(study)
    rows = []
    for pair, answers, a_votes in zip(sorted(pairs.values(), key=lambda p: p.pair_id), ANSWERS_PER_PAIR,
                                      A_VOTES_PER_PAIR):
        for worker in range(answers):
            winner = "A" if worker < a_votes else "B"
            rows.append({"pair_id": pair.pair_id, "side": "left" if pair.left == winner else "right",
                         "worker": f"W{worker}"})
    return rows


def write_csv(path: Path, header: list[str], rows: list[list[str]]) -> Path:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def plain_answers(study: Path, path: Path) -> Path:
    spellings = {"left": ["left", "LEFT", "1"], "right": ["right", "Right", "2"]}
    rows = [[row["pair_id"], spellings[row["side"]][i % 3]] for i, row in enumerate(synthetic_answers(study))]
    return write_csv(path, ["pair_id", "choice"], rows)


def test_tally_plain_answers(capsys: pytest.CaptureFixture[str], study: Path, tmp_path: Path) -> None:
    answers = plain_answers(study, tmp_path / "answers.csv")
    result = tally_study(answers, study)
    a, b = result.scores
    assert (a.name, a.votes, b.name, b.votes) == ("A", 21, "B", 9)
    assert a.rate == pytest.approx(0.7) and b.rate == pytest.approx(0.3)
    assert (a.low, a.high) == pytest.approx(WILSON_21_OF_30, abs=1e-6)
    assert (b.low, b.high) == pytest.approx((1 - WILSON_21_OF_30[1], 1 - WILSON_21_OF_30[0]), abs=1e-6)
    assert (result.n_answers, result.n_pairs, result.n_pairs_total, result.n_workers) == (30, 10, 10, None)
    assert (result.pairs_won, result.pairs_tied) == ({"A": 6, "B": 1}, 3)
    code, stdout, err = run_cli(capsys, "study", "tally", answers, "--study", study, "--no-wandb")
    assert code == 0, err
    assert "70.0%" in stdout and "[52.1%, 83.3%]" in stdout and "30.0%" in stdout and "[16.7%, 47.9%]" in stdout
    assert "30 answers on 10 of 10 pairs; workers: unknown" in stdout
    assert "per-pair majority: A 6, B 1, tied 3" in stdout and "W&B" not in stdout


def mturk_answers(study: Path, path: Path) -> Path:
    header = ["HITId", "AssignmentId", "WorkerId", "AssignmentStatus", "Input.pair_id", "Input.image_input_url",
              "Answer.choice"]
    rows = [[f"H{i}", f"A{i}", row["worker"], "Submitted", row["pair_id"], f"images/{row['pair_id']}_input.png",
             row["side"]] for i, row in enumerate(synthetic_answers(study))]
    rows.append(["H99", "A99", "W9", "Rejected", rows[0][4], "", "left" if rows[0][6] == "right" else "right"])
    return write_csv(path, header, rows)


def test_tally_mturk_results_logs_an_offline_wandb_run(
    capsys: pytest.CaptureFixture[str], study: Path, tmp_path: Path
) -> None:
    answers = mturk_answers(study, tmp_path / "Batch_123_batch_results.csv")
    wandb_runs = Path(os.environ["WANDB_DIR"]) / "wandb"
    before = set(wandb_runs.glob("offline-run-*"))
    code, stdout, err = run_cli(capsys, "study", "tally", answers, "--study", study, "--wandb-project", "eiip-test")
    assert code == 0, err
    assert "70.0%" in stdout and "[52.1%, 83.3%]" in stdout
    assert "30 answers on 10 of 10 pairs; workers: 4" in stdout  # the rejected assignment is skipped
    new_runs = set(wandb_runs.glob("offline-run-*")) - before
    assert len(new_runs) == 1
    run_dir = new_runs.pop()
    assert list(run_dir.glob("run-*.wandb")) and "W&B: logged offline" in stdout and str(run_dir) in stdout
    (table_file,) = (run_dir / "files" / "media" / "table").glob("preference_*.table.json")
    table = json.loads(table_file.read_text())
    assert table["columns"] == ["method", "votes", "rate", "ci_low", "ci_high"]
    (name, votes, rate, low, high), _ = table["data"]
    assert (name, votes) == ("A", 21) and rate == pytest.approx(0.7)
    assert (low, high) == pytest.approx(WILSON_21_OF_30, abs=1e-6)


@pytest.mark.parametrize(
    ("header", "row", "expected"),
    [(["pair_id", "choice"], ["pair_9999", "left"], "line 3: unknown pair id 'pair_9999'"),
     (["pair_id", "choice"], ["pair_0001", "maybe"], "line 3: unknown choice 'maybe'"),
     (["Input.pair_id", "Answer.choice"], ["pair_0001", "3"], "line 3: unknown choice '3'"),
     (["pair", "answer"], ["pair_0001", "left"], "expected columns")],
)
def test_bad_answer_rows_are_errors_naming_the_line(
    capsys: pytest.CaptureFixture[str], study: Path, tmp_path: Path, header: list[str], row: list[str], expected: str
) -> None:
    answers = write_csv(tmp_path / "bad.csv", header, [["pair_0000", "right"], row])
    code, stdout, err = run_cli(capsys, "study", "tally", answers, "--study", study, "--no-wandb")
    assert code == 2 and stdout == ""
    line = one_error_line(err)
    assert str(answers) in line and expected in line
