"""Which ``mmsr evaluate`` flags go together, checked before anything loads (``preflight``)."""

from __future__ import annotations

import argparse


class EvaluateFlagsError(ValueError):
    """Flags of ``mmsr evaluate`` that do not go together; one line, exit 2."""


def check_evaluate_flags(args: argparse.Namespace) -> None:
    """A benchmark set (``--pairs``/``--hr``) is scored whole: no ``--snapshot``, ``--limit`` or
    ``--sweep``; ``--center-crop`` and ``--output-dir`` only go with one."""
    on_set = bool(args.pairs or args.hr)
    if on_set and (args.sweep or args.eval_snapshot or args.limit is not None):
        raise EvaluateFlagsError("--pairs/--hr score a whole set: --snapshot, --limit and --sweep do not apply")
    if not on_set and (args.center_crop is not None or args.output_dir is not None):
        raise EvaluateFlagsError("--center-crop and --output-dir go with --pairs or --hr")
    if args.center_crop is not None and args.center_crop < 1:
        raise EvaluateFlagsError(f"--center-crop must be >= 1, got {args.center_crop}")
