"""Sweep YAMLs (W&B) and their Hydra --multirun twins: they parse, agree, and every command composes and starts."""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from hydra import compose, initialize_config_dir

from eiip.evaluation.naming import register_resolver

ROOT = Path(__file__).resolve().parents[1]
SWEEPS = sorted((ROOT / "sweeps").glob("*.yaml"))
CONFIG_OF = {"train.py": "train", "eval.py": "eval"}


def load_sweep(path: Path) -> dict:
    return yaml.safe_load(path.read_text())


def grid_commands(sweep: dict) -> list[list[str]]:
    """The `key=value` arguments W&B's ${args_no_hyphens} passes, for every point of the grid."""
    keys, choices = [], []
    for key, spec in sweep["parameters"].items():
        keys.append(key)
        choices.append(spec["values"] if "values" in spec else [spec["value"]])
    return [[f"{k}={v}" for k, v in zip(keys, point)] for point in itertools.product(*choices)]


def experiment_grid(name: str) -> dict[str, list[str]]:
    """The sweeper params of conf/experiment/NAME.yaml, split into choices."""
    params = yaml.safe_load((ROOT / "conf" / "experiment" / f"{name}.yaml").read_text())["hydra"]["sweeper"]["params"]
    return {key: _split_choices(str(value)) for key, value in params.items()}


def _split_choices(text: str) -> list[str]:
    choices, depth, current = [], 0, ""
    for char in text:
        depth += char == "["
        depth -= char == "]"
        if char == "," and depth == 0:
            choices.append(current)
            current = ""
        else:
            current += char
    return [*choices, current]


def test_there_is_a_sweep_for_every_paper_table_and_figure() -> None:
    assert {p.stem for p in SWEEPS} == {"table1", "table2", "table3", "fig9"}


@pytest.mark.parametrize("path", SWEEPS, ids=lambda p: p.stem)
def test_sweep_uses_the_standard_hydra_command(path: Path) -> None:
    sweep = load_sweep(path)
    assert sweep["program"] in CONFIG_OF
    assert sweep["method"] == "grid"
    assert sweep["command"] == ["${env}", "python", "${program}", "${args_no_hyphens}"]


@pytest.mark.parametrize("path", SWEEPS, ids=lambda p: p.stem)
def test_sweep_grid_equals_its_hydra_multirun_experiment(path: Path) -> None:
    sweep = load_sweep(path)
    swept = {key: [str(v) for v in spec["values"]] for key, spec in sweep["parameters"].items() if "values" in spec}
    assert experiment_grid(path.stem) == swept


@pytest.mark.parametrize("path", SWEEPS, ids=lambda p: p.stem)
def test_every_grid_point_composes(path: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("EIIP_DATA", str(tmp_path))
    sweep = load_sweep(path)
    register_resolver()
    commands = grid_commands(sweep)
    with initialize_config_dir(str(ROOT / "conf"), version_base="1.3"):
        for arguments in commands:
            cfg = compose(CONFIG_OF[sweep["program"]], overrides=arguments)
            assert cfg.data.root == f"{tmp_path}/{cfg.data.name}"
            assert cfg.name if sweep["program"] == "eval.py" else cfg.run_name
    assert len(commands) == {"table1": 32, "table2": 32, "table3": 36, "fig9": 20}[path.stem]


@pytest.mark.parametrize("path", SWEEPS, ids=lambda p: p.stem)
def test_the_sweep_command_starts(path: Path, tmp_path: Path) -> None:
    """A dry run of the first grid point through the real program: Hydra parses and resolves the command."""
    sweep = load_sweep(path)
    arguments = grid_commands(sweep)[0]
    env = os.environ | {"EIIP_DATA": str(tmp_path)}
    result = subprocess.run([sys.executable, sweep["program"], *arguments, "--cfg", "job", "--resolve"],
                            cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    printed = yaml.safe_load(result.stdout)
    assert printed["data"]["root"].startswith(str(tmp_path))


@pytest.mark.parametrize("bottleneck, expected", [
    ("mono", [("internal_reference", ["colorizer=internal_reference"]), ("validated_blend", ["colorizer=validated_blend"])]),
    ("rgb", [("", [])]),
])
def test_table1_evaluates_mono_runs_with_the_papers_internal_stage_and_the_default(
        bottleneck: str, expected: list, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from eiip.external.training import evaluation_plan

    monkeypatch.setenv("EIIP_DATA", str(tmp_path))
    register_resolver()
    with initialize_config_dir(str(ROOT / "conf"), version_base="1.3"):
        cfg = compose("train", overrides=["+experiment=table1", f"bottleneck={bottleneck}", "data=places2"])
        assert evaluation_plan(cfg) == expected
        colorizer = compose("eval", overrides=["ckpt=x.ckpt", "colorizer=internal_reference"]).colorizer
    assert colorizer.name == "internal" and colorizer.options.preset == "reference" and colorizer.internal


@pytest.mark.parametrize("name", ["table2", "fig9"])
def test_eval_grids_label_the_papers_colorizer_and_the_default(name: str) -> None:
    assert experiment_grid(name)["colorizer"] == ["internal_reference", "validated_blend"]


def test_table3_rows_are_the_papers_internal_stage_and_the_guided_colorizers_with_fast_as_an_extra() -> None:
    colorizers = experiment_grid("table3")["colorizer"]
    assert colorizers[0] == "internal_reference" and colorizers[-1] == "internal"  # "Ours", then `fast` as an extra
    assert sorted(colorizers[1:-1]) == ["dt", "internal_base", "knn", "levin", "local_linear", "mean", "validated_blend"]


@pytest.mark.parametrize(("colorizer", "label"), [("internal_reference", "internal-reference"), ("internal", "internal"),
                                                  ("internal_base", "internal-base"), ("levin", "levin")])
def test_eval_names_tell_the_internal_presets_apart(colorizer: str, label: str, monkeypatch: pytest.MonkeyPatch,
                                                    tmp_path: Path) -> None:
    """Eval folders and W&B runs are named by `cfg.name`: the reference preset is not `internal` (the fast one)."""
    monkeypatch.setenv("EIIP_DATA", str(tmp_path))
    register_resolver()
    with initialize_config_dir(str(ROOT / "conf"), version_base="1.3"):
        cfg = compose("eval", overrides=["backbone=truth", "data=dtd", f"colorizer={colorizer}"])
    assert cfg.name == f"truth-dtd-{label}-freeform-s0"
