"""eval.py in several processes: launched ranks (as torchrun sets them), workers=N, resuming across world sizes."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path
from unittest import mock

import pytest
import torch
from hydra import compose, initialize_config_dir
from lightning.fabric.plugins.environments.lightning import find_free_network_port

from eiip.data.sample_shards import ensure_sample_shards
from eiip.evaluation import runner
from eiip.evaluation.distributed import Ranks, launched_ranks
from eiip.evaluation.naming import register_resolver
from eiip.evaluation.results import PARTS_DIR, RESULTS_NAME, ResultsStore
from eiip.io import InputError

ROOT = Path(__file__).resolve().parents[1]
EVAL = str(ROOT / "eval.py")
TIMEOUT_S = 300
# the 6 images of the sample train split, so that two processes get three images each
OVERRIDES = ("backbone=telea", "colorizer=levin", "colorizer.batch_size=1", "split=train", "logger=csv",
             "progress=false", "dist_timeout_min=2")  # one image per batch: the interruption tests stop after the first
FIRST_BATCH_THEN_INTERRUPT = f"""
import runpy, sys
from eiip.evaluation import runner
evaluate_batch = runner._evaluate_batch
def first_batch_only(*args, **kwargs):
    if first_batch_only.done:
        raise KeyboardInterrupt
    first_batch_only.done = True
    return evaluate_batch(*args, **kwargs)
first_batch_only.done = False
runner._evaluate_batch = first_batch_only
sys.argv[0] = {EVAL!r}
runpy.run_path({EVAL!r}, run_name="__main__")
"""


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("eiip-cache")


@pytest.fixture(scope="module")
def overrides(cache: Path) -> tuple[str, ...]:
    return (*OVERRIDES, f"fallback_data.root={ensure_sample_shards(cache / 'sample-shards')}")


@pytest.fixture(scope="module")
def environment(cache: Path) -> dict[str, str]:
    """What every eval.py process gets: this checkout, the test's caches, one thread (2 CPUs are shared)."""
    return os.environ | {"PYTHONPATH": str(ROOT), "EIIP_CACHE": str(cache), "TORCH_HOME": str(cache / "torch"),
                         "OMP_NUM_THREADS": "1"}


def start_eval(run_dir: Path, overrides: tuple[str, ...], environment: dict[str, str], log: Path,
               command: tuple[str, ...] = (EVAL,)) -> subprocess.Popen:
    with open(log, "w") as output:
        return subprocess.Popen([sys.executable, *command, *overrides, f"hydra.run.dir={run_dir}"], cwd=run_dir.parent,
                                env=environment, stdout=output, stderr=subprocess.STDOUT)


def finish(processes: list[subprocess.Popen], logs: list[Path]) -> list[int]:
    """Exit codes of the processes (killed after TIMEOUT_S each); their logs are printed on failure."""
    try:
        codes = [process.wait(timeout=TIMEOUT_S) for process in processes]
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait()
    for log in logs:
        print(f"--- {log.name}\n{log.read_text()}")
    return codes


def run_ranks(run_dir: Path, overrides: tuple[str, ...], environment: dict[str, str], world_size: int = 2,
              command: tuple[str, ...] = (EVAL,)) -> list[int]:
    """eval.py in `world_size` processes with the variables torchrun sets; their exit codes."""
    port = str(find_free_network_port())
    logs = [run_dir.parent / f"{run_dir.name}.rank{rank}.log" for rank in range(world_size)]
    processes = [start_eval(run_dir, overrides, environment | {
        "RANK": str(rank), "LOCAL_RANK": str(rank), "WORLD_SIZE": str(world_size), "LOCAL_WORLD_SIZE": str(world_size),
        "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": port}, log, command) for rank, log in enumerate(logs)]
    return finish(processes, logs)


def run_single(run_dir: Path, overrides: tuple[str, ...], environment: dict[str, str]) -> int:
    log = run_dir.parent / f"{run_dir.name}.log"
    return finish([start_eval(run_dir, overrides, environment, log)], [log])[0]


def rows_but_seconds(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as handle:
        return [{name: value for name, value in row.items() if name != "seconds"} for row in csv.DictReader(handle)]


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory, overrides: tuple[str, ...],
              environment: dict[str, str]) -> Path:
    """A one-process run of the same evaluation."""
    run_dir = tmp_path_factory.mktemp("one-process") / "run"
    run_dir.mkdir()
    assert run_single(run_dir, overrides, environment) == 0
    return run_dir


def assert_same_results(run_dir: Path, reference: Path) -> None:
    rows = rows_but_seconds(run_dir / RESULTS_NAME)
    assert [int(row["position"]) for row in rows] == list(range(6))
    assert rows == rows_but_seconds(reference / RESULTS_NAME)
    assert (run_dir / "summary.json").read_text() == (reference / "summary.json").read_text()
    assert not (run_dir / PARTS_DIR).exists()
    assert sorted(p.name for p in (run_dir / "images").iterdir()) == sorted(row["key"] for row in rows)


def test_two_launched_ranks_give_the_one_process_results_and_log_once(
    tmp_path: Path, overrides: tuple[str, ...], environment: dict[str, str], reference: Path
) -> None:
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    assert run_ranks(run_dir, (*overrides, "logger=wandb"), environment) == [0, 0]
    assert_same_results(run_dir, reference)
    assert len(list((run_dir / "wandb").glob("offline-run-*"))) == 1  # rank 0 only


def test_workers_spawn_local_processes_with_the_one_process_results(
    tmp_path: Path, overrides: tuple[str, ...], environment: dict[str, str], reference: Path
) -> None:
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    assert run_single(run_dir, (*overrides, "workers=2"), environment) == 0
    assert_same_results(run_dir, reference)


def test_an_interrupted_two_process_run_resumes_in_one_without_evaluating_twice(
    tmp_path: Path, overrides: tuple[str, ...], environment: dict[str, str], reference: Path,
    monkeypatch: pytest.MonkeyPatch
) -> None:
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    codes = run_ranks(run_dir, overrides, environment, command=("-c", FIRST_BATCH_THEN_INTERRUPT))
    assert all(code != 0 for code in codes)  # each rank stopped after its first image
    assert not (run_dir / RESULTS_NAME).exists()
    interrupted = {int(row["position"]): row["seconds"] for row in ResultsStore(run_dir).rows()}
    assert sorted(interrupted) == [0, 1]  # position 0 from rank 0's part, 1 from rank 1's

    for variable in ("EIIP_CACHE", "TORCH_HOME"):  # the same mask set (and LPIPS note) as the processes above
        monkeypatch.setenv(variable, environment[variable])
    evaluated: list[int] = []
    evaluate_batch = runner._evaluate_batch

    def counted(*args, **kwargs):  # noqa: ANN002, ANN003
        evaluated.extend(item.position for item in args[2])
        return evaluate_batch(*args, **kwargs)

    monkeypatch.setattr(runner, "_evaluate_batch", counted)
    register_resolver()
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as the processes above: the thread count can change a metric's 6th decimal
    try:
        with initialize_config_dir(str(ROOT / "conf"), version_base="1.3"):
            runner.evaluate(compose("eval", overrides=list(overrides)), run_dir)
    finally:
        torch.set_num_threads(threads)
    assert evaluated == [2, 3, 4, 5]
    assert_same_results(run_dir, reference)
    with open(run_dir / RESULTS_NAME, newline="") as handle:
        merged = {int(row["position"]): float(row["seconds"]) for row in csv.DictReader(handle)}
    assert {position: merged[position] for position in interrupted} == interrupted  # not recomputed


def _row(position: int, seconds: float) -> dict[str, object]:
    return {"key": f"k{position}", "shard_key": f"k{position}", "position": position, "hole_ratio": 0.25,
            "psnr": 30.0, "seconds": seconds}


def test_the_rows_are_the_union_of_results_and_every_part_whatever_wrote_them(tmp_path: Path) -> None:
    ResultsStore(tmp_path).append([_row(4, 1.0)])
    ResultsStore(tmp_path).merge()  # an earlier run's results.csv
    ResultsStore(tmp_path, rank=3).append([_row(3, 2.0), _row(0, 2.0)])  # parts of a 4-process run
    ResultsStore(tmp_path, rank=1).append([_row(1, 3.0), _row(4, 9.0)])  # 4 again: kept once
    with open(ResultsStore(tmp_path, rank=1).part, "a") as part:
        part.write("k2,k2,2,0.3")  # a torn last line
    assert ResultsStore(tmp_path).done_positions() == {0, 1, 3, 4}
    ResultsStore(tmp_path, rank=1).append([_row(2, 4.0)])
    expected = [(0, 2.0), (1, 3.0), (2, 4.0), (3, 2.0), (4, 1.0)]
    assert [(row["position"], row["seconds"]) for row in ResultsStore(tmp_path).merge()] == expected
    assert not (tmp_path / PARTS_DIR).exists()
    assert [(row["position"], row["seconds"]) for row in ResultsStore(tmp_path).rows()] == expected  # results.csv


TORCHRUN = {"RANK": "3", "WORLD_SIZE": "4", "LOCAL_RANK": "1", "MASTER_ADDR": "10.0.0.1", "MASTER_PORT": "29500"}
SRUN = {"SLURM_NTASKS": "4", "SLURM_PROCID": "2", "SLURM_LOCALID": "0", "SLURM_NTASKS_PER_NODE": "2",
        "SLURM_NODELIST": "node[07-08]", "SLURM_JOB_ID": "1234", "SLURM_JOB_NAME": "eval"}


@pytest.mark.parametrize(("variables", "expected"), [
    (TORCHRUN, Ranks(3, 4, 1, "10.0.0.1", 29500)),
    (SRUN, (2, 4, 0, "node07")),
    ({}, Ranks()),
    ({**SRUN, "SLURM_NTASKS": "1"}, Ranks()),  # a one-task allocation: one process (workers=N may spawn)
])
def test_the_launchers_ranks_are_detected(variables: dict[str, str], expected: Ranks | tuple) -> None:
    with mock.patch.dict(os.environ, variables, clear=True):
        ranks = launched_ranks()
    if isinstance(expected, tuple):  # srun: the port is derived from the job id by Lightning
        assert (ranks.rank, ranks.world_size, ranks.local_rank, ranks.address) == expected and ranks.port > 0
    else:
        assert ranks == expected


def test_workers_under_a_launcher_are_refused(tmp_path: Path) -> None:
    register_resolver()
    with initialize_config_dir(str(ROOT / "conf"), version_base="1.3"):
        cfg = compose("eval", overrides=[*OVERRIDES, "workers=2"])
    with mock.patch.dict(os.environ, TORCHRUN), pytest.raises(InputError, match="workers=2"):
        runner.evaluate(cfg, tmp_path)
