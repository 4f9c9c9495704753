"""`linreg-bench export`, `verify` and `predict`: filled by the export issue."""
from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add export's subcommands (none yet)."""
