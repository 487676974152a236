"""Which ``mmsr evaluate`` flags go together, checked before anything loads (``preflight``)."""

from __future__ import annotations

import argparse


class EvaluateFlagsError(ValueError):
    """Flags of ``mmsr evaluate`` that do not go together; one line, exit 2."""


def check_evaluate_flags(args: argparse.Namespace) -> None:
    """A benchmark set (``--pairs``/``--hr``) is scored whole: no ``--snapshot``, ``--limit`` or
    ``--sweep``; ``--center-crop`` only goes with one, ``--output-dir`` with one or ``--sweep``."""
    on_set = bool(args.pairs or args.hr)
    if on_set and (args.sweep or args.eval_snapshot or args.limit is not None):
        raise EvaluateFlagsError("--pairs/--hr score a whole set: --snapshot, --limit and --sweep do not apply")
    if not on_set and args.center_crop is not None:
        raise EvaluateFlagsError("--center-crop goes with --pairs or --hr")
    if not on_set and not args.sweep and args.output_dir is not None:
        raise EvaluateFlagsError("--output-dir goes with --pairs, --hr or --sweep")
    if args.center_crop is not None and args.center_crop < 1:
        raise EvaluateFlagsError(f"--center-crop must be >= 1, got {args.center_crop}")
