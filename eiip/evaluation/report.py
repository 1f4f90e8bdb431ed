"""Reporting an evaluation: summary files in the run directory and a W&B run (summary, table, plots)."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from eiip.evaluation.results import IMAGES_DIR, METRIC_COLUMNS
from eiip.io import read_image
from eiip.visualize import side_by_side
from eiip.wandb_mode import offline_notice, wandb_offline

SUMMARY_COLUMNS = ("n", "hole_ratio", *METRIC_COLUMNS)
IMAGE_PANELS = ("input", "mono", "final", "target")


def _cell(value: object) -> str:
    if isinstance(value, float):
        return "n/a" if math.isnan(value) else f"{value:.4f}"
    return str(value)


def summary_markdown(summary: Mapping[str, Any]) -> str:
    """The overall row and one row per hole-ratio bucket as a Markdown table."""
    columns = [c for c in SUMMARY_COLUMNS if c in summary["overall"]]
    lines = ["| rows | " + " | ".join(columns) + " |", "|---" * (len(columns) + 1) + "|"]
    for label, values in [("all", summary["overall"]), *summary["buckets"].items()]:
        lines.append(f"| {label} | " + " | ".join(_cell(values.get(c, math.nan)) for c in columns) + " |")
    return "\n".join(lines) + "\n"


def distribution_line(distribution: Mapping[str, Any]) -> str:
    """One line: FID and KID over the run's images, or why they are unavailable."""
    if "unavailable" in distribution:
        return f"FID/KID unavailable: {distribution['unavailable']}"
    return (f"FID {_cell(distribution['fid'])}, KID {_cell(distribution['kid_mean'])} "
            f"+- {_cell(distribution['kid_std'])} (subsets of {distribution['kid_subset_size']}) "
            f"over {distribution['n']} images (completions vs targets)")


def write_summary(run_dir: Path, summary: Mapping[str, Any], lpips_note: str | None = None) -> None:
    """summary.json and summary.md (with FID/KID when present and the reason when LPIPS could not be computed)."""
    record = dict(summary) | {"lpips_unavailable": lpips_note}
    (run_dir / "summary.json").write_text(json.dumps(record, indent=2, allow_nan=True) + "\n")
    lines = [distribution_line(summary["distribution"])] if "distribution" in summary else []
    if lpips_note:
        lines.append(f"LPIPS unavailable: {lpips_note}")
    notes = "".join(f"\n{line}\n" for line in lines)
    (run_dir / "summary.md").write_text(summary_markdown(summary) + notes)
    print(summary_markdown(summary) + notes, end="")


def read_summary(run_dir: Path) -> dict[str, Any]:
    """The summary `write_summary` recorded (without the LPIPS note)."""
    record = json.loads((run_dir / "summary.json").read_text())
    record.pop("lpips_unavailable")
    return record


def _image_table(wandb: Any, run_dir: Path, rows: Sequence[Mapping[str, Any]]) -> Any:
    """One row per image: its panels (when written) and its metrics."""
    metric_names = ["hole_ratio", *METRIC_COLUMNS, "seconds"]
    table = wandb.Table(columns=["key", *IMAGE_PANELS, *metric_names])
    for row in rows:
        folder = run_dir / IMAGES_DIR / str(row["key"])
        panels = [wandb.Image(str(folder / f"{p}.png")) if (folder / f"{p}.png").is_file() else None
                  for p in IMAGE_PANELS]
        table.add_data(row["key"], *panels, *(row.get(m) for m in metric_names))
    return table


def _examples(wandb: Any, run_dir: Path, rows: Sequence[Mapping[str, Any]], count: int = 16) -> list[Any]:
    """Input | mono | final | target strips of the first `count` images, captioned with their hole PSNR."""
    examples = []
    for row in rows[:count]:
        folder = run_dir / IMAGES_DIR / str(row["key"])
        paths = [folder / f"{p}.png" for p in IMAGE_PANELS]
        if all(path.is_file() for path in paths):
            strip = side_by_side([(name, read_image(path)) for name, path in zip(IMAGE_PANELS, paths)])
            examples.append(wandb.Image(strip, caption=f"{row['key']}: hole PSNR {row['hole_psnr']:.2f} dB"))
    return examples


def _bucket_table(wandb: Any, summary: Mapping[str, Any]) -> Any:
    """Per hole-ratio bucket: the bucket's mean hole ratio and mean metrics (for the line plot)."""
    columns = [c for c in SUMMARY_COLUMNS if c in summary["overall"]]
    table = wandb.Table(columns=["bucket", *columns])
    for label, values in summary["buckets"].items():
        table.add_data(label, *(values.get(c) for c in columns))
    return table


def log_to_wandb(cfg: DictConfig, run_dir: Path, rows: Sequence[Mapping[str, Any]], summary: Mapping[str, Any]) -> None:
    """A W&B run (offline with a notice when no API key is configured): summary, per-image table, plots."""
    import wandb

    offline = wandb_offline()
    if offline:
        print(offline_notice(run_dir))
    run = wandb.init(project=cfg.logger.project, entity=cfg.logger.entity, name=cfg.name, job_type="eval",
                     tags=list(cfg.logger.tags), dir=str(run_dir), mode="offline" if offline else "online",
                     config=OmegaConf.to_container(cfg, resolve=True))
    images = _image_table(wandb, run_dir, rows)
    buckets = _bucket_table(wandb, summary)
    results = wandb.Artifact(f"eval-{run.id}", type="eval-results", description=cfg.name)
    results.add(images, "images")  # offline runs keep a table's images only inside an artifact (wandb#4611)
    run.log_artifact(results)
    run.log({
        "eval/images": images,
        "eval/examples": _examples(wandb, run_dir, rows),
        "eval/hole_ratio_buckets": buckets,
        "eval/hole_psnr_vs_hole_ratio": wandb.plot.scatter(images, "hole_ratio", "hole_psnr",
                                                            title="hole PSNR vs hole ratio (per image)"),
        "eval/bucket_hole_psnr": wandb.plot.line(buckets, "hole_ratio", "hole_psnr",
                                                 title="mean hole PSNR per hole-ratio bucket"),
    })
    seconds = [float(r["seconds"]) for r in rows if isinstance(r.get("seconds"), float)]
    run.summary.update({f"eval/{k}": v for k, v in summary["overall"].items()})
    distribution = summary.get("distribution", {})
    run.summary.update({f"eval/{k}": v for k, v in distribution.items() if k in ("fid", "kid_mean", "kid_std")})
    if seconds:
        run.summary["eval/seconds_per_image"] = sum(seconds) / len(seconds)
    run.finish()
