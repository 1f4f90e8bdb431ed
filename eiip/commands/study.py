"""`eiip study export` and `eiip study tally`: the pairwise-preference user study (paper Fig. 6)."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from eiip.commands.masks import parse_count

if TYPE_CHECKING:
    from eiip.study import Tally

_SHOWN_KEYS = 5


def _report_skipped(keys: list[str], run: str) -> None:
    if keys:
        shown = ", ".join(keys[:_SHOWN_KEYS]) + (", ..." if len(keys) > _SHOWN_KEYS else "")
        print(f"skipped {len(keys)} key(s) found only in {run}: {shown}", file=sys.stderr)


def _run_export(args: argparse.Namespace) -> int:
    from eiip.study import export_study

    export = export_study(args.a, args.b, args.out, name_a=args.name_a, name_b=args.name_b, n=args.n,
                          seed=args.seed, url_prefix=args.url_prefix, force=args.force)
    _report_skipped(export.only_a, args.a)
    _report_skipped(export.only_b, args.b)
    a_left = sum(pair.left == export.names[0] for pair in export.pairs)
    print(f"wrote {len(export.pairs)} pairs ({export.names[0]} vs {export.names[1]}, {export.names[0]} on the left "
          f"in {a_left}) to {export.directory}: pairs.csv for MTurk, key.csv (keep it secret), study.json")
    return 0


def _print_tally(result: Tally) -> None:
    width = max(len("method"), *(len(score.name) for score in result.scores))
    print(f"{'method':<{width}}  votes  preference  95% CI (Wilson)")
    for s in result.scores:
        print(f"{s.name:<{width}}  {s.votes:>5}  {s.rate:>10.1%}  [{s.low:.1%}, {s.high:.1%}]")
    workers = "unknown" if result.n_workers is None else result.n_workers
    print(f"{result.n_answers} answers on {result.n_pairs} of {result.n_pairs_total} pairs; workers: {workers}")
    won = ", ".join(f"{name} {count}" for name, count in result.pairs_won.items())
    print(f"per-pair majority: {won}, tied {result.pairs_tied}")


def _run_tally(args: argparse.Namespace) -> int:
    from eiip.study import log_tally_to_wandb, tally_study
    from eiip.wandb_mode import wandb_offline

    result = tally_study(args.results, args.study)
    _print_tally(result)
    if not args.no_wandb:
        config = {"results": str(args.results), "study": str(args.study)}
        offline = wandb_offline()
        folder = log_tally_to_wandb(result, project=args.wandb_project, config=config, offline=offline)
        note = " offline (no API key, or WANDB_MODE=offline; upload later with `wandb sync`)" if offline else ""
        print(f"W&B: logged{note} to {folder}")
    return 0


def add_parsers(commands: argparse._SubParsersAction) -> None:
    """Register `study export` and `study tally`."""
    study = commands.add_parser("study", help="pairwise-preference user study: export pairs for MTurk, tally answers")
    actions = study.add_subparsers(dest="study_command", required=True)

    export = actions.add_parser("export", help="write image pairs of two eval runs as an MTurk batch")
    export.add_argument("--a", required=True, metavar="RUN_A", help="eval run folder (results.csv, images/{key}/)")
    export.add_argument("--b", required=True, metavar="RUN_B", help="the other eval run folder")
    export.add_argument("--out", required=True, help="study folder to write")
    export.add_argument("--name-a", default=None, help="method name of RUN_A (default: its folder name)")
    export.add_argument("--name-b", default=None, help="method name of RUN_B (default: its folder name)")
    export.add_argument("--n", type=parse_count, default=None, help="random subset of N images (default: all)")
    export.add_argument("--seed", type=int, default=0, help="seed of the subset, order and sides (default 0)")
    export.add_argument("--url-prefix", default="", metavar="URL",
                        help="prepended to image paths in pairs.csv, e.g. https://bucket.s3.amazonaws.com/study/")
    export.add_argument("--force", action="store_true", help="overwrite a non-empty study folder")
    export.set_defaults(run=_run_export)

    tally = actions.add_parser("tally", help="count the preferences of an answered study")
    tally.add_argument("results", metavar="RESULTS.csv",
                       help="MTurk batch results (Input.pair_id, Answer.choice) or a plain CSV (pair_id, choice)")
    tally.add_argument("--study", required=True, metavar="DIR", help="the study folder written by `study export`")
    tally.add_argument("--no-wandb", action="store_true", help="do not log to Weights & Biases")
    tally.add_argument("--wandb-project", default="eiip", help="W&B project (default eiip)")
    tally.set_defaults(run=_run_tally)
