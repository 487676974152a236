"""The ``mmsr`` command: parse argv, load the typed config, call one entry function.

Bad input (unknown flag, missing file, unknown config key, wrong type, a feature store or snapshot
that does not exist, an unreachable catalog, a model that cannot be loaded) prints one line,
``mmsr: error: ...``, and exits with status 2; a data file the feature store names but that is gone
exits with status 1 and names the file. No traceback.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, NoReturn

from orchestration.cli.console_log import QUIET_COMMANDS, ConsoleLog, log_path, log_workdir
from orchestration.config_loading import ConfigError, load_config

if TYPE_CHECKING:
    from orchestration.mmsr_config import MmsrConfig

USAGE_ERROR = 2
DATA_DAMAGED = 1


class UsageError(Exception):
    """Bad input from the user: reported in one line with exit status 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{self.prog}: {message}")


def _add_config_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", help="YAML config file (sections: preprocess, featurestore, train, vq_train, tracking, serve, promotion, evaluate)")
    parser.add_argument(
        "--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
        help="override one config value, e.g. --set train.steps=20 (repeatable)",
    )
    parser.add_argument(
        "--verbose", action="store_true",
        help="show Ray, Beam, transformers and diffusers output live (by default it goes to <workdir>/logs/)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="mmsr", description="Multimodal diffusion super-resolution: data, training, registry, serving.")
    parser.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    quick = commands.add_parser("quickstart", help="run the whole flow on the embedded demo photos and tiny models")
    quick.add_argument("--workdir", default="mmsr-runs", help="where every output goes (default: %(default)s)")
    quick.add_argument("--steps", type=int, default=None, help="training steps (default: the quickstart preset's)")
    _add_config_flags(quick)

    pre = commands.add_parser("preprocess", help="HR images -> degraded LR + modalities + tokens -> feature-store commit")
    pre.add_argument("--input", help="HR images: path, glob, fsspec URL or manifest (overrides preprocess.input)")
    _add_config_flags(pre)

    train = commands.add_parser("train", help="fit MMLC + UNet on a feature-store snapshot with Ray Train")
    train.add_argument("--snapshot", help="snapshot id or tag (overrides train.snapshot)")
    train.add_argument("--run-name", help="MLflow / Ray run name; reusing one resumes it")
    train.add_argument("--register", action="store_true", help="register the trained model as a new version")
    _add_config_flags(train)

    _add_registry_parsers(commands)

    from orchestration.cli.features_command import add_features_parser

    add_features_parser(commands, _add_config_flags)

    from orchestration.cli.vq_command import add_train_vq_parser

    add_train_vq_parser(commands, _add_config_flags)

    from orchestration.cli.relocate_command import add_relocate_parser

    add_relocate_parser(commands, _add_config_flags)

    serve = commands.add_parser("serve", help="serve a registered model over HTTP (mlflow models serve)")
    serve.add_argument("--model", help="model URI (default: models:/<registered_model>@<champion_alias>)")
    serve.add_argument("--port", type=int, help="port (overrides serve.port)")
    _add_config_flags(serve)
    return parser


def _add_registry_parsers(commands: argparse._SubParsersAction) -> None:
    """``mmsr evaluate`` and ``mmsr promote``."""
    evaluate = commands.add_parser("evaluate", help="PSNR/SSIM of a registered model on a snapshot's eval split")
    evaluate.add_argument("--model", required=True, help="model URI, e.g. models:/mmsr-sr@champion or models:/mmsr-sr/3")
    evaluate.add_argument("--snapshot", dest="eval_snapshot", help="snapshot id or tag (default: current)")
    evaluate.add_argument("--limit", type=int, default=None, help="evaluate at most this many eval rows")
    evaluate.add_argument(
        "--sweep", action="append", default=[], metavar="KEY=V1,V2",
        help="evaluate once per value (repeatable: every combination), e.g. temperature.depth=0.5,1,2, "
        "guidance_mode=cfg,m_empty-cfg,m-cfg, disable_modalities=none,caption,depth or "
        "temperature_schedule=constant,timestep_aware; one MLflow run per setting, one table (sweep_table.csv)",
    )
    benchmark = evaluate.add_mutually_exclusive_group()
    benchmark.add_argument(
        "--pairs", nargs=2, metavar=("LR_SOURCE", "HR_SOURCE"),
        help="score a real LR/HR set instead of a snapshot (folders, globs, URLs or manifests; matched by file stem)",
    )
    benchmark.add_argument("--hr", metavar="HR_SOURCE", help="score an HR-only set; its LRs are made by preprocess.degradation, seeded by evaluate.seed")
    evaluate.add_argument("--center-crop", type=int, metavar="N", help="with --pairs/--hr: score the centred N x N HR (and its LR) of each image")
    evaluate.add_argument("--output-dir", metavar="DIR", help="with --pairs/--hr: write each SR as <stem>.png and metrics.csv here; with --sweep: sweep_table.csv")
    _add_config_flags(evaluate)

    promote = commands.add_parser(
        "promote", help="move the champion alias to a version that beats it on the promotion gates, or roll back"
    )
    which = promote.add_mutually_exclusive_group(required=True)
    which.add_argument("--version", type=int, help="candidate version: evaluated, gated against the champion, promoted if it passes")
    which.add_argument("--rollback", action="store_true", help="point champion back at the version it replaced")
    promote.add_argument(
        "--snapshot", dest="eval_snapshot",
        help="snapshot id or tag both models are scored on (default: promotion.eval_snapshot, else current)",
    )
    _add_config_flags(promote)


def _overrides(args: argparse.Namespace) -> list[str]:
    """--set values plus the dedicated flags, which are shorthands for config keys."""
    extra = list(args.overrides)
    shorthands = {"input": "preprocess.input", "snapshot": "train.snapshot", "port": "serve.port"}
    for flag, key in shorthands.items():
        value = getattr(args, flag, None)
        if value is not None:
            extra.append(f"{key}={value}")
    return extra


def _load(args: argparse.Namespace) -> MmsrConfig:
    from orchestration.quickstart.quickstart_preset import quickstart_preset
    from orchestration.mmsr_config import MmsrConfig

    defaults = quickstart_preset(args.workdir, args.steps) if args.command == "quickstart" else None
    return load_config(MmsrConfig, args.config, _overrides(args), defaults)


def _dispatch(args: argparse.Namespace, config: MmsrConfig) -> int:
    from orchestration.cli import commands
    from orchestration.cli.features_command import run_features
    from orchestration.cli.relocate_command import relocate
    from orchestration.cli.vq_command import train_vq

    handlers: dict[str, Callable[..., int]] = {
        "quickstart": commands.quickstart, "preprocess": commands.preprocess, "train": commands.train,
        "evaluate": commands.evaluate, "promote": commands.promote, "serve": commands.serve,
        "features": run_features, "train-vq": train_vq, "relocate": relocate,
    }
    return handlers[args.command](config, args)


def _usage_error(error: Exception) -> int:
    print(f"mmsr: error: {' '.join(str(error).split())}", file=sys.stderr)
    return USAGE_ERROR


def main(argv: Sequence[str] | None = None) -> int:
    try:  # argv and the config are checked before torch, Beam and Ray load: bad input answers at once
        args = build_parser().parse_args(argv)
        logging.basicConfig(level=args.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
        if args.log_level != "DEBUG":  # Beam logs every type-hint conversion and cache at INFO
            logging.getLogger("apache_beam").setLevel(logging.WARNING)
        config = _load(args)
    except (UsageError, ConfigError) as error:
        return _usage_error(error)
    from orchestration.cli.preflight import PREFLIGHT_ERRORS, preflight

    try:  # still before torch, Beam and Ray: the store, the snapshot, the workdir
        preflight(args, config)
    except PREFLIGHT_ERRORS as error:
        return _usage_error(error)
    from orchestration.cli.commands import RUN_FAILURES, USER_ERRORS

    console = _console_log(args, config)
    try:
        return _run_logged(args, config, console)
    except (UsageError, ConfigError, *USER_ERRORS) as error:
        return _usage_error(error)
    except RUN_FAILURES as error:
        print(f"mmsr: failed: {' '.join(str(error).split())}", file=sys.stderr)
        return 1
    except FileNotFoundError as error:  # a data file the catalog names is gone: the data is damaged
        from orchestration.cli.damaged_store import damaged_line, missing_data_file

        missing = missing_data_file(error, config.featurestore)
        if missing is None:
            return _unexpected(error, console)
        print(f"mmsr: error: {damaged_line(missing)}", file=sys.stderr)
        return DATA_DAMAGED
    except KeyboardInterrupt:
        print("mmsr: interrupted; nothing partial was committed", file=sys.stderr)
        return 130
    except Exception as error:
        return _unexpected(error, console)


def _unexpected(error: Exception, console: ConsoleLog | None) -> int:
    """A bug or an environment failure: its traceback is in the log file (live with ``--verbose``,
    or for the light commands, which keep the console); the console gets one line naming the file."""
    if console is None or console.verbose:
        raise error
    print(f"mmsr: failed: {type(error).__name__}: {' '.join(str(error).split())[:300]} "
          f"(traceback in {console.path})", file=sys.stderr)
    return 1


def _console_log(args: argparse.Namespace, config: MmsrConfig) -> ConsoleLog | None:
    """The log file of a command that starts Beam, Ray or loads models (None for the light ones),
    under ``--workdir`` for the quickstart and beside the feature store for the others."""
    if args.command not in QUIET_COMMANDS:
        return None
    workdir = args.workdir if args.command == "quickstart" else log_workdir(config.featurestore.catalog_uri)
    return ConsoleLog(log_path(workdir, args.command), verbose=args.verbose, level=args.log_level)


def _run_logged(args: argparse.Namespace, config: MmsrConfig, console: ConsoleLog | None) -> int:
    """Dispatch, library output into ``console``'s log file; the summary names the file."""
    if console is None:
        return _dispatch(args, config)
    with console.capture() as progress:
        args.progress = progress
        status = _dispatch(args, config)
    print(f"log: {console.path}")
    return status
