"""Reading downloaded weight files safely and checking their keys against the expected layers."""

from __future__ import annotations

import pickle
from collections.abc import Callable, Mapping
from pathlib import Path

import torch
from torch import Tensor

from eiip.errors import InputError

Shape = tuple[int, ...]


def load_untrusted(path: Path, kind: str = "weights") -> dict[str, object]:
    """A `.pth`/`.ckpt` file's dict, read with `weights_only=True` (tensors and plain data; no pickled code).

    InputError naming the file as ``kind`` when it is missing, unreadable that way, or not a dict."""
    if not path.is_file():
        raise InputError(f"{kind} not found: {path}")
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, OSError, ValueError) as error:
        reason = (str(error).strip().splitlines() or [type(error).__name__])[0]
        raise InputError(f"cannot read {kind} {path} as plain tensors and data (weights_only): {reason[:200]}") from error
    if not isinstance(data, dict):
        raise InputError(f"{path} holds a {type(data).__name__}, not a dict of {kind}")
    return data


def tensor_dict(data: Mapping[str, object], path: Path, entry: str | None = None) -> dict[str, Tensor]:
    """`data[entry]` (or `data` itself), checked to be a str -> Tensor dict; DataParallel's `module.` stripped."""
    state = data.get(entry) if entry is not None else data
    if not isinstance(state, Mapping) or not all(isinstance(v, Tensor) for v in state.values()):
        where = f"entry {entry!r} of " if entry else ""
        raise InputError(f"{where}{path} is not a state dict of tensors")
    return {str(key).removeprefix("module."): value for key, value in state.items()}


def _listing(keys: list[str], limit: int = 4) -> str:
    shown = ", ".join(keys[:limit])
    return shown + (f" (+{len(keys) - limit} more)" if len(keys) > limit else "")


def check_keys(state: Mapping[str, Tensor], expected: Mapping[str, Shape], source: Path) -> None:
    """Raise one InputError line unless `state` has exactly the `expected` keys with those shapes."""
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    wrong = [f"{key} {tuple(state[key].shape)} (expected {tuple(expected[key])})"
             for key in expected if key in state and tuple(state[key].shape) != tuple(expected[key])]
    problems = []
    if missing:
        problems.append(f"missing key(s) {_listing(missing)}")
    if unexpected:
        problems.append(f"unexpected key(s) {_listing(unexpected)}")
    if wrong:
        problems.append(f"wrong shape(s) {_listing(wrong, 2)}")
    if problems:
        raise InputError(f"{source} does not match the release's layers: {'; '.join(problems)}")


def convert(state: Mapping[str, Tensor], target: Mapping[str, Tensor], release_name: Callable[[str], str],
            source: Path) -> dict[str, Tensor]:
    """The target's state dict filled from `state`, where `release_name(target_key)` names each entry.

    Every target key must be in `state` under its release name with the target's shape, and nothing else.
    """
    names = {key: release_name(key) for key in target}
    check_keys(state, {names[key]: tuple(value.shape) for key, value in target.items()}, source)
    return {key: state[names[key]].to(target[key].dtype) for key in target}
