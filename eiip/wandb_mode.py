"""Whether W&B logs online or offline: offline when WANDB_MODE says so or no API key is configured."""

from __future__ import annotations

import netrc
import os
from pathlib import Path


def wandb_api_key_configured() -> bool:
    """True when W&B can log online: WANDB_API_KEY is set or ~/.netrc has a key for api.wandb.ai."""
    if os.environ.get("WANDB_API_KEY"):
        return True
    try:
        return netrc.netrc().authenticators("api.wandb.ai") is not None
    except (FileNotFoundError, netrc.NetrcParseError):
        return False


def wandb_offline() -> bool:
    """Log offline: WANDB_MODE is offline/disabled, or there is no API key to log online with."""
    return os.environ.get("WANDB_MODE") in ("offline", "disabled") or not wandb_api_key_configured()


def offline_notice(run_dir: str | Path) -> str:
    """The one line printed when a run logs offline."""
    return (f"W&B: no API key configured (or WANDB_MODE=offline); logging offline to {run_dir}/wandb "
            "(upload later with `wandb sync`)")
