"""One image or a whole folder, for `eiip colorize`, `eiip inpaint` and `eiip recolor`.

One image: ``--image --mask --out``. A folder: ``--input-dir --out-dir`` with ``--mask-dir`` (masks
matched by file stem) or ``--mask FILE`` (one mask for every image). Every image of the folder
(IMAGE_EXTENSIONS, sorted) is written to ``OUT_DIR/<stem>.png``; outputs already there are skipped
(they are written atomically, so an existing one is complete). A bad input is reported as one line
``error: <file>: <reason>`` after the others are written, and the command exits with status 2.
"""

from __future__ import annotations

import argparse
import os
import sys
import warnings
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from eiip.commands.masks import parse_count
from eiip.choices import DEFAULT_MAX_PIXELS
from eiip.errors import InputError, one_line_warning

IMAGE_EXTENSIONS: tuple[str, ...] = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")
"""Files of an input folder that are read as images (any letter case)."""

OUTPUT_SUFFIX = ".png"
"""Folder mode writes lossless PNG outputs, whatever the input's format."""

_SINGLE_OPTIONS = ("image", "out", "gray", "compare", "mono_out")
_FOLDER_OPTIONS = ("input_dir", "mask_dir", "out_dir", "gray_dir", "workers")
_USAGE = ("give --image, --mask and --out for one image, or --input-dir, --out-dir and --mask-dir (or one --mask) "
          "for a folder")


@dataclass(frozen=True)
class Job:
    """The files of one image: its hole mask, its output and, for colorize, its completed monochrome."""

    image: str | Path
    mask: str | Path
    out: str | Path
    gray: str | Path | None = None


Process = Callable[[argparse.Namespace, Job], object]
"""Writes `job.out` from the job's inputs; raises InputError or ValueError for a bad input."""


@dataclass
class Plan:
    """A folder's images: the jobs to run, how many outputs were already there, the inputs found bad."""

    jobs: list[Job] = field(default_factory=list)
    skipped: int = 0
    errors: list[tuple[Path, str]] = field(default_factory=list)


# --------------------------------------------------------------------------------------------
# Options and mode
# --------------------------------------------------------------------------------------------


def add_io_options(
    parser: argparse.ArgumentParser, *, image: str, mask: str, out: str, gray_dir: bool = False
) -> argparse._ArgumentGroup:
    """Add --image, --mask, --out (one image; the help texts given) and the folder options.

    Returns the group of one-image options, for a command's own (--compare, ...)."""
    single = parser.add_argument_group("one image")
    single.add_argument("--image", default=None, help=image)
    single.add_argument("--mask", default=None, help=f"{mask}; in folder mode, one mask for every image")
    single.add_argument("--out", default=None, help=out)
    folder = parser.add_argument_group(
        "folder mode", f"every image of --input-dir ({' '.join(IMAGE_EXTENSIONS)}) to --out-dir/<stem>{OUTPUT_SUFFIX}; "
                    "outputs already there are skipped, bad inputs listed at the end (exit status 2)")
    folder.add_argument("--input-dir", default=None, metavar="DIR", help="folder of input images")
    folder.add_argument("--mask-dir", default=None, metavar="DIR", help="masks named as the images (any extension)")
    if gray_dir:
        folder.add_argument("--gray-dir", default=None, metavar="DIR",
                            help="completed monochromes named as the images (default: each image's own)")
    folder.add_argument("--out-dir", default=None, metavar="DIR", help="output folder")
    folder.add_argument("--workers", type=parse_count, default=None, metavar="N",
                        help="images processed in parallel by N processes (default 1)")
    parser.add_argument("--max-pixels", type=parse_count, default=DEFAULT_MAX_PIXELS, metavar="N",
                        help="refuse input images of more than N pixels, before decoding them "
                             f"(default {DEFAULT_MAX_PIXELS:,})")
    return single


def _given(args: argparse.Namespace, names: tuple[str, ...]) -> list[str]:
    return [f"--{name.replace('_', '-')}" for name in names if getattr(args, name, None) is not None]


def folder_mode(args: argparse.Namespace) -> bool:
    """True for a folder (--input-dir), False for one image; ValueError for a mix of both or a missing option."""
    single, folder = _given(args, _SINGLE_OPTIONS), _given(args, _FOLDER_OPTIONS)
    if single and folder:
        raise ValueError(f"{', '.join(single)} (one image) and {', '.join(folder)} (a folder) exclude each other; "
                         f"{_USAGE}")
    required = ("input_dir", "out_dir") if folder else ("image", "mask", "out")
    if any(getattr(args, name) is None for name in required):
        raise ValueError(_USAGE)
    if folder and (args.mask is None) == (args.mask_dir is None):
        raise ValueError(f"give one of --mask-dir and --mask; {_USAGE}")
    return bool(folder)


def single_job(args: argparse.Namespace) -> Job:
    """The files of one-image mode."""
    return Job(args.image, args.mask, args.out, getattr(args, "gray", None))


# --------------------------------------------------------------------------------------------
# Planning
# --------------------------------------------------------------------------------------------


def _folder(path: str, option: str) -> Path:
    if not Path(path).is_dir():
        raise InputError(f"{option} {path} is not a folder")
    return Path(path)


def _image_files(folder: Path) -> list[Path]:
    return sorted(path for path in folder.iterdir() if path.suffix.lower() in IMAGE_EXTENSIONS and path.is_file())


def _by_stem(folder: Path) -> dict[str, list[Path]]:
    index: dict[str, list[Path]] = {}
    for path in _image_files(folder):
        index.setdefault(path.stem, []).append(path)
    return index


def _match(index: dict[str, list[Path]], stem: str, kind: str, folder: str) -> Path:
    """The one file of `index` named `stem`; InputError if there is none or more than one."""
    found = index.get(stem, [])
    if len(found) != 1:
        names = ", ".join(path.name for path in found)
        raise InputError(f"{len(found) or 'no'} {kind}s named {stem}.* in {folder}{f' ({names})' if found else ''}")
    return found[0]


def _job(
    image: Path, args: argparse.Namespace, masks: dict[str, list[Path]] | None, grays: dict[str, list[Path]] | None
) -> Job:
    """The job of one image of the folder; InputError if its mask or monochrome is missing or ambiguous."""
    mask = _match(masks, image.stem, "mask", args.mask_dir) if masks is not None else Path(args.mask)
    gray = _match(grays, image.stem, "monochrome", args.gray_dir) if grays is not None else None
    return Job(image, mask, Path(args.out_dir) / f"{image.stem}{OUTPUT_SUFFIX}", gray)


def plan_folder(args: argparse.Namespace) -> Plan:
    """The jobs of folder mode; InputError for a bad folder, per-image problems in `Plan.errors`."""
    inputs = _folder(args.input_dir, "--input-dir")
    if Path(args.out_dir).resolve() == inputs.resolve():
        raise InputError(f"--out-dir {args.out_dir} is the input folder: outputs would replace the inputs")
    if args.mask is not None and not Path(args.mask).is_file():
        raise InputError(f"mask not found: {args.mask}")
    masks = _by_stem(_folder(args.mask_dir, "--mask-dir")) if args.mask_dir is not None else None
    gray_dir = getattr(args, "gray_dir", None)
    grays = _by_stem(_folder(gray_dir, "--gray-dir")) if gray_dir is not None else None
    images = _image_files(inputs)
    if not images:
        raise InputError(f"no images ({' '.join(IMAGE_EXTENSIONS)}) in --input-dir {inputs}")
    stems = Counter(image.stem for image in images)
    plan = Plan()
    for image in images:
        if (Path(args.out_dir) / f"{image.stem}{OUTPUT_SUFFIX}").exists():
            plan.skipped += 1
            continue
        try:
            if stems[image.stem] > 1:
                raise InputError(f"{stems[image.stem]} inputs named {image.stem}.* would write the same output")
            plan.jobs.append(_job(image, args, masks, grays))
        except InputError as error:
            plan.errors.append((image, str(error)))
    return plan


# --------------------------------------------------------------------------------------------
# Running
# --------------------------------------------------------------------------------------------


def _run_job(process: Process, args: argparse.Namespace, job: Job) -> str | None:
    """Run one job; the reason of a bad input, or None once its output is written."""
    try:
        process(args, job)
    except (InputError, ValueError) as error:
        return str(error)
    return None


def _init_worker(threads: int) -> None:
    import torch

    torch.set_num_threads(threads)
    warnings.showwarning = one_line_warning


def _serial(process: Process, args: argparse.Namespace, jobs: list[Job]) -> Iterator[tuple[Job, str | None]]:
    for job in jobs:
        yield job, _run_job(process, args, job)


def _parallel(
    process: Process, args: argparse.Namespace, jobs: list[Job], workers: int
) -> Iterator[tuple[Job, str | None]]:
    """Jobs in `workers` spawned processes sharing the CPU cores; results in order of completion."""
    from concurrent.futures import ProcessPoolExecutor, as_completed
    from multiprocessing import get_context

    threads = max(1, (os.cpu_count() or 1) // workers)
    with ProcessPoolExecutor(workers, mp_context=get_context("spawn"), initializer=_init_worker,
                             initargs=(threads,)) as pool:
        futures = {pool.submit(_run_job, process, args, job): job for job in jobs}
        try:
            for future in as_completed(futures):
                yield futures[future], future.result()
        finally:
            pool.shutdown(cancel_futures=True)


def _run_all(process: Process, args: argparse.Namespace, jobs: list[Job]) -> list[tuple[Path, str]]:
    """Run the jobs (in --workers processes) under one progress bar; returns the bad inputs and their reasons."""
    from tqdm import tqdm

    workers = min(args.workers or 1, len(jobs))
    quiet = argparse.Namespace(**{**vars(args), "quiet": True})  # no progress bar per image
    results = _parallel(process, quiet, jobs, workers) if workers > 1 else _serial(process, quiet, jobs)
    failed = []
    with tqdm(total=len(jobs), unit="image", disable=args.quiet, file=sys.stderr) as bar:
        for job, error in results:
            if error is not None:
                failed.append((Path(job.image), error))
            bar.update()
    return failed


def run_folder(args: argparse.Namespace, process: Process) -> int:
    """Folder mode: run `process` on every image not done yet; 2 if any input was bad, else 0."""
    plan = plan_folder(args)
    failed = _run_all(process, args, plan.jobs)
    errors = sorted(plan.errors + failed)
    for image, reason in errors:
        print(f"error: {image}: {reason}", file=sys.stderr)
    print(f"wrote {len(plan.jobs) - len(failed)} image(s) to {args.out_dir}, skipped {plan.skipped} already there, "
          f"{len(errors)} failed")
    return 2 if errors else 0
