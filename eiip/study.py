"""Pairwise-preference user study (paper Fig. 6): export image pairs for Amazon MTurk, tally the answers.

An eval run directory RUN holds ``RUN/results.csv`` (one row per image; column ``key`` is a unique,
filesystem-safe image id) and, per key, ``RUN/images/{key}/final.png`` (the method's result) and
``RUN/images/{key}/input.png`` (the masked input shown to the worker; taken from the first run).

A study directory holds ``images/pair_NNNN_{input,left,right}.png``, ``pairs.csv`` (the MTurk batch
input), ``key.csv`` (which method is on which side: the secret key) and ``study.json``.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import secrets
import shutil
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from statistics import NormalDist

import numpy as np

from eiip.errors import InputError

RESULTS_NAME = "results.csv"
PAIRS_NAME = "pairs.csv"
KEY_NAME = "key.csv"
STUDY_NAME = "study.json"
IMAGES_DIR = "images"
PAIRS_HEADER = ("pair_id", "image_input_url", "image_left_url", "image_right_url")
KEY_HEADER = ("pair_id", "key", "left", "right")
SIDES = ("left", "right")
_CHOICES = {"left": "left", "1": "left", "right": "right", "2": "right"}
_FORMATS = {"mturk": ("Input.pair_id", "Answer.choice"), "plain": ("pair_id", "choice")}


# --------------------------------------------------------------------------------------------
# Statistics
# --------------------------------------------------------------------------------------------


def wilson_interval(successes: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval of a binomial proportion `successes / n` at the given two-sided confidence."""
    if n < 1 or not 0 <= successes <= n:
        raise ValueError(f"need 0 <= successes <= n and n >= 1, got {successes} of {n}")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    z = NormalDist().inv_cdf(0.5 + confidence / 2)
    p = successes / n
    denominator = 1 + z * z / n
    center = (p + z * z / (2 * n)) / denominator
    half = z / denominator * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return max(0.0, center - half), min(1.0, center + half)


# --------------------------------------------------------------------------------------------
# Files
# --------------------------------------------------------------------------------------------


def _write_text_atomic(path: Path, text: str) -> None:
    """Write text so that `path` is either its old content or the complete new file."""
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
    try:
        tmp.write_text(text, encoding="utf-8", newline="")
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _csv_text(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue()


def _read_csv(path: Path, required: tuple[str, ...], what: str) -> tuple[csv.DictReader, list[dict[str, str]]]:
    """All rows of a CSV file (BOM tolerated); InputError if missing or lacking a required column."""
    if not path.is_file():
        raise InputError(f"{what} not found: {path}")
    with path.open(encoding="utf-8-sig", newline="") as handle:
        reader = csv.DictReader(handle)
        rows = list(reader)
    missing = [column for column in required if column not in (reader.fieldnames or [])]
    if missing:
        raise InputError(f"{path}: missing column(s) {', '.join(missing)}")
    return reader, rows


def _check_key(key: str, path: Path, line: int) -> None:
    if not key or key in (".", "..") or any(c in key for c in "/\\\0"):
        raise InputError(f"{path}, line {line}: key {key!r} is not a filesystem-safe image id")


def read_run_keys(run: str | Path) -> list[str]:
    """The image keys of an eval run, in the order of its results.csv; InputError if missing or duplicated."""
    path = Path(run) / RESULTS_NAME
    _, rows = _read_csv(path, ("key",), "results file")
    seen: set[str] = set()
    for line, row in enumerate(rows, start=2):
        key = (row["key"] or "").strip()
        _check_key(key, path, line)
        if key in seen:
            raise InputError(f"{path}, line {line}: duplicate key {key!r}")
        seen.add(key)
    return [row["key"].strip() for row in rows]


def _run_image(run: Path, key: str, name: str) -> Path:
    path = run / IMAGES_DIR / key / name
    if not path.is_file():
        raise InputError(f"image of key {key!r} not found: {path}")
    return path


# --------------------------------------------------------------------------------------------
# Export
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Pair:
    """One comparison: image `key`, with `left` and `right` the method names shown on each side."""

    pair_id: str
    key: str
    left: str
    right: str


@dataclass(frozen=True)
class Export:
    """What `export_study` wrote, and the keys found in one run only (skipped)."""

    directory: Path
    names: tuple[str, str]
    pairs: list[Pair]
    only_a: list[str]
    only_b: list[str]


def plan_pairs(keys: list[str], names: tuple[str, str], *, n: int | None, seed: int) -> list[Pair]:
    """Seeded random order (and subset of `n`) of `keys`, with sides counterbalanced: A is left in half the pairs."""
    if n is not None and n < 1:
        raise ValueError(f"the number of pairs must be >= 1, got {n}")
    if n is not None and n > len(keys):
        raise ValueError(f"--n {n} asks for more pairs than the {len(keys)} image(s) in both runs")
    rng = np.random.default_rng(seed)
    chosen = [keys[i] for i in rng.permutation(len(keys))[: n or len(keys)]]
    a_left = rng.permutation(np.arange(len(chosen)) < (len(chosen) + 1) // 2)
    width = max(4, len(str(len(chosen) - 1)))
    name_a, name_b = names
    return [
        Pair(f"pair_{i:0{width}d}", key, *((name_a, name_b) if left else (name_b, name_a)))
        for i, (key, left) in enumerate(zip(chosen, a_left))
    ]


def _prepare_out(out: Path, force: bool) -> None:
    """Create the study folder; refuse a non-empty one unless `force`, which clears a previous export."""
    if out.exists() and not out.is_dir():
        raise InputError(f"output path exists and is not a folder: {out}")
    if out.is_dir() and any(out.iterdir()):
        if not force:
            raise InputError(f"output folder is not empty: {out} (use --force to overwrite)")
        for old in (out / IMAGES_DIR).glob("pair_*.png"):
            old.unlink()
    (out / IMAGES_DIR).mkdir(parents=True, exist_ok=True)


def _image_names(pair_id: str) -> dict[str, str]:
    return {role: f"{IMAGES_DIR}/{pair_id}_{role}.png" for role in ("input", "left", "right")}


def _url(prefix: str, relative: str) -> str:
    return f"{prefix.rstrip('/')}/{relative}" if prefix else relative


def _copy_pair_images(pair: Pair, runs: dict[str, Path], input_run: Path, out: Path) -> None:
    names = _image_names(pair.pair_id)
    shutil.copyfile(_run_image(input_run, pair.key, "input.png"), out / names["input"])
    for side, method in zip(SIDES, (pair.left, pair.right)):
        shutil.copyfile(_run_image(runs[method], pair.key, "final.png"), out / names[side])


def _check_pair_images(pairs: list[Pair], run_a: Path, run_b: Path) -> None:
    """InputError naming the first missing image, before anything is written."""
    for pair in pairs:
        _run_image(run_a, pair.key, "input.png")
        _run_image(run_a, pair.key, "final.png")
        _run_image(run_b, pair.key, "final.png")


def export_study(
    run_a: str | Path,
    run_b: str | Path,
    out: str | Path,
    *,
    name_a: str | None = None,
    name_b: str | None = None,
    n: int | None = None,
    seed: int = 0,
    url_prefix: str = "",
    force: bool = False,
) -> Export:
    """Write a pairwise study of the images present in both runs (see the module docstring).

    The method names default to the run folders' names; `url_prefix` is prepended (with a '/') to each
    image's path in pairs.csv. Keys present in one run only are skipped and returned.
    """
    run_a, run_b, out = Path(run_a), Path(run_b), Path(out)
    names = (name_a or run_a.resolve().name, name_b or run_b.resolve().name)
    if names[0] == names[1]:
        raise ValueError(f"both methods are named {names[0]!r}; give distinct --name-a and --name-b")
    keys_a, keys_b = read_run_keys(run_a), read_run_keys(run_b)
    common = sorted(set(keys_a) & set(keys_b))
    if not common:
        raise InputError(f"no image key is in both {run_a / RESULTS_NAME} and {run_b / RESULTS_NAME}")
    pairs = plan_pairs(common, names, n=n, seed=seed)
    _check_pair_images(pairs, run_a, run_b)
    _prepare_out(out, force)
    runs = {names[0]: run_a, names[1]: run_b}
    for pair in pairs:
        _copy_pair_images(pair, runs, run_a, out)
    url_rows = [(p.pair_id, *(_url(url_prefix, f) for f in _image_names(p.pair_id).values())) for p in pairs]
    _write_text_atomic(out / PAIRS_NAME, _csv_text(PAIRS_HEADER, url_rows))
    _write_text_atomic(out / KEY_NAME, _csv_text(KEY_HEADER, [(p.pair_id, p.key, p.left, p.right) for p in pairs]))
    study = {"runs": {names[0]: str(run_a.resolve()), names[1]: str(run_b.resolve())}, "names": list(names),
             "seed": seed, "count": len(pairs), "url_prefix": url_prefix}
    _write_text_atomic(out / STUDY_NAME, json.dumps(study, indent=2) + "\n")
    only_a = sorted(set(keys_a) - set(keys_b))
    only_b = sorted(set(keys_b) - set(keys_a))
    return Export(out, names, pairs, only_a, only_b)


# --------------------------------------------------------------------------------------------
# Tally
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Answer:
    """One worker's choice on one pair; `line` is its line in the results file."""

    pair_id: str
    side: str
    worker: str | None
    line: int


@dataclass(frozen=True)
class MethodScore:
    """Votes for one method, its preference rate and the rate's 95% Wilson score interval."""

    name: str
    votes: int
    rate: float
    low: float
    high: float


@dataclass(frozen=True)
class Tally:
    """Result of a study: per-method scores and counts; `pairs_won` is the per-pair majority."""

    scores: tuple[MethodScore, MethodScore]
    n_answers: int
    n_pairs: int
    n_pairs_total: int
    n_workers: int | None
    pairs_won: dict[str, int]
    pairs_tied: int


def load_study(study_dir: str | Path) -> tuple[tuple[str, str], dict[str, Pair]]:
    """The method names and the pairs (by pair id) of an exported study."""
    study_dir = Path(study_dir)
    study_path = study_dir / STUDY_NAME
    if not study_path.is_file():
        raise InputError(f"study file not found: {study_path}")
    try:
        study = json.loads(study_path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise InputError(f"{study_path}: not valid JSON ({error})") from None
    names = tuple(study.get("names", ()) if isinstance(study, dict) else ())
    if len(names) != 2:
        raise InputError(f"{study_path}: expected two method names under 'names'")
    key_path = study_dir / KEY_NAME
    _, rows = _read_csv(key_path, KEY_HEADER, "study key")
    pairs = {}
    for line, row in enumerate(rows, start=2):
        if {row["left"], row["right"]} != set(names):
            raise InputError(f"{key_path}, line {line}: sides {row['left']!r}/{row['right']!r} are not {names}")
        pairs[row["pair_id"]] = Pair(row["pair_id"], row["key"], row["left"], row["right"])
    return names, pairs  # type: ignore[return-value]


def read_answers(path: str | Path) -> list[Answer]:
    """Answers from an MTurk batch results CSV (Input.pair_id, Answer.choice) or a plain one (pair_id, choice).

    Choices are left/right (any case) or 1/2; a WorkerId column is optional. MTurk rows whose
    AssignmentStatus is Rejected are skipped.
    """
    path = Path(path)
    reader, rows = _read_csv(path, (), "answers file")
    columns = reader.fieldnames or []
    formats = [pair for pair in _FORMATS.values() if set(pair) <= set(columns)]
    if not formats:
        raise InputError(f"{path}: expected columns Input.pair_id and Answer.choice (MTurk) or pair_id and choice")
    id_column, choice_column = formats[0]
    answers = []
    for line, row in enumerate(rows, start=2):
        if row.get("AssignmentStatus", "").strip() == "Rejected":
            continue
        choice = (row[choice_column] or "").strip()
        if choice.lower() not in _CHOICES:
            raise InputError(f"{path}, line {line}: unknown choice {choice!r} (expected left/right or 1/2)")
        worker = (row.get("WorkerId") or "").strip() or None
        answers.append(Answer((row[id_column] or "").strip(), _CHOICES[choice.lower()], worker, line))
    if not answers:
        raise InputError(f"{path}: no answers")
    return answers


def tally(answers: list[Answer], names: tuple[str, str], pairs: dict[str, Pair], source: str = "answers") -> Tally:
    """Count the votes of each method; InputError naming the line of an answer to an unknown pair."""
    votes: Counter[str] = Counter()
    per_pair: dict[str, Counter[str]] = defaultdict(Counter)
    for answer in answers:
        pair = pairs.get(answer.pair_id)
        if pair is None:
            raise InputError(f"{source}, line {answer.line}: unknown pair id {answer.pair_id!r}")
        winner = pair.left if answer.side == "left" else pair.right
        votes[winner] += 1
        per_pair[answer.pair_id][winner] += 1
    n = len(answers)
    scores = tuple(MethodScore(name, votes[name], votes[name] / n, *wilson_interval(votes[name], n)) for name in names)
    won, tied = _majority(per_pair.values(), names)
    workers = {answer.worker for answer in answers}
    return Tally(
        scores=scores,  # type: ignore[arg-type]
        n_answers=n,
        n_pairs=len(per_pair),
        n_pairs_total=len(pairs),
        n_workers=None if None in workers else len(workers),
        pairs_won=won,
        pairs_tied=tied,
    )


def _majority(per_pair: Iterable[Counter[str]], names: tuple[str, str]) -> tuple[dict[str, int], int]:
    """Pairs won by each method (most votes on the pair), and pairs tied."""
    won, tied = dict.fromkeys(names, 0), 0
    for counts in per_pair:
        first, second = counts[names[0]], counts[names[1]]
        if first == second:
            tied += 1
        else:
            won[names[0] if first > second else names[1]] += 1
    return won, tied


def tally_study(results: str | Path, study_dir: str | Path) -> Tally:
    """Read an answers file and tally it against an exported study's key."""
    names, pairs = load_study(study_dir)
    return tally(read_answers(results), names, pairs, source=str(results))


# --------------------------------------------------------------------------------------------
# W&B
# --------------------------------------------------------------------------------------------


def log_tally_to_wandb(result: Tally, *, project: str, config: dict, offline: bool) -> Path:
    """Log the rates and intervals as a W&B run (summary and a table); returns the run's local folder."""
    import wandb

    run = wandb.init(project=project, job_type="user-study", config=config, mode="offline" if offline else "online",
                     settings=wandb.Settings(silent=True))
    columns = ["method", "votes", "rate", "ci_low", "ci_high"]
    rows = [[s.name, s.votes, s.rate, s.low, s.high] for s in result.scores]
    run.log({"preference": wandb.Table(columns=columns, data=rows)})
    for name, *values in rows:
        run.summary.update({f"{name}/{column}": value for column, value in zip(columns[1:], values)})
    run.summary.update({"n_answers": result.n_answers, "n_pairs": result.n_pairs, "n_workers": result.n_workers})
    folder = Path(run.settings.sync_dir)
    run.finish()
    return folder
