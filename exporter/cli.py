"""``model-monitor``: serve, check, baseline, report, backtest, demo and webhook.

Every configuration problem ends the command with exit status 2 and one
message saying what to fix; ``check --fail-on-alert`` exits 1 when a drift or
data-quality check fails.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import logging
import os
import sys
from datetime import datetime
from pathlib import Path
from typing import NoReturn

from exporter.commands import EXIT_CONFIG
from exporter.config import ConfigError
from exporter.memory import collector_paused


def _parse_time(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        pass
    try:
        stamp = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is neither epoch seconds nor an ISO-8601 time") from None
    if stamp.tzinfo is None:
        raise argparse.ArgumentTypeError(f"{text!r} has no time zone; add one, e.g. Z or +00:00")
    return stamp.timestamp()


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="model-monitor", description=__doc__.splitlines()[0])
    parser.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"],
                        help="the least severe log lines written to stderr")
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the exporter: update windows every interval, serve /metrics")
    serve.add_argument("--config", required=True, type=Path, help="the configuration file (YAML)")
    serve.add_argument("--port", type=int, help="overrides server.port")
    serve.add_argument("--web.config.file", dest="web_config", type=Path,
                       help="TLS and basic auth (Prometheus web configuration format); overrides "
                            "server.web_config_file")
    serve.add_argument("--shard", help="i/N: serve only the models whose name hashes to i of N; overrides shard:")

    check = sub.add_parser("check", help="one pass over every model's logs; print the metrics")
    check.add_argument("--config", required=True, type=Path, help="the configuration file (YAML)")
    check.add_argument("--format", choices=["json", "prometheus", "sagemaker-violations"], default="json",
                       help="sagemaker-violations: constraint_violations.json of one model's window")
    check.add_argument("--fail-on-alert", action="store_true",
                       help="exit 1 when a drift or data-quality check fails")
    check.add_argument("--now", type=_parse_time, help="evaluate windows ending at this time (default: now)")
    check.add_argument("--model", help="only this model (needed for sagemaker-violations with several models)")
    check.add_argument("--window", help="the window of sagemaker-violations (default: the model's longest)")
    check.add_argument("--out", type=Path, help="write the output to this file (atomically) instead of stdout")
    check.add_argument("--shard", help="i/N: check only the models whose name hashes to i of N; overrides shard:")

    baseline = sub.add_parser("baseline", help="compute a model's baseline from its reference, once, into a file "
                                                "that the config can name instead of the reference")
    baseline.add_argument("--config", required=True, type=Path, help="the configuration file (YAML)")
    baseline.add_argument("--model", help="the model (needed when the config has more than one)")
    baseline.add_argument("--out", required=True, type=Path,
                          help="the baseline file to write (JSON); with --format sagemaker, a folder")
    baseline.add_argument("--format", choices=["model-monitor", "sagemaker"], default="model-monitor",
                          help="sagemaker: also statistics.json and constraints.json in SageMaker Model Monitor's "
                               "format, beside baseline.json in the --out folder")

    report = sub.add_parser("report", help="one model's window as a self-contained HTML page, for whoever was paged")
    report.add_argument("--config", required=True, type=Path, help="the configuration file (YAML)")
    report.add_argument("--model", help="the model (needed when the config has more than one)")
    report.add_argument("--window", help="the window (default: the shortest with a failed check of the highest "
                                         "severity, else the longest)")
    report.add_argument("--now", type=_parse_time, help="the window ends at this time (default: now)")
    report.add_argument("--out", required=True, type=Path, help="the HTML file to write")

    backtest = sub.add_parser("backtest", help="replay a period of the logs and report the alerts that would "
                                                "have fired")
    backtest.add_argument("--config", required=True, type=Path, help="the configuration file (YAML)")
    backtest.add_argument("--from", dest="start", required=True, type=_parse_time,
                          help="start: epoch seconds or ISO-8601 with a zone")
    backtest.add_argument("--to", dest="end", required=True, type=_parse_time, help="end (same forms)")
    backtest.add_argument("--step", default="5m", help="windows end at every step (default 5m)")
    backtest.add_argument("--format", choices=["table", "json", "csv"], default="table",
                          help="the alerts that would have fired, as a table, JSON or CSV")
    backtest.add_argument("--model", help="only this model")
    backtest.add_argument("--openmetrics", type=Path,
                          help="also write the metrics of every step as OpenMetrics with timestamps (for promtool "
                               "tsdb create-blocks-from openmetrics)")

    demo = sub.add_parser("demo", help="simulate a model writing a prediction log, and monitor it")
    demo.add_argument("--dir", type=Path, default=Path("model-monitor-demo"), help="where the demo writes")
    demo.add_argument("--host", default="127.0.0.1", help="the address the demo's exporter listens on")
    demo.add_argument("--port", type=int, default=9108, help="the port of the demo's /metrics")
    demo.add_argument("--rate", type=float, default=20.0, help="predictions per second")
    demo.add_argument("--drift-after", type=float, default=120.0, help="seconds before the world drifts")
    demo.add_argument("--interval", default="2s", help="update interval")
    demo.add_argument("--label-delay", type=float, default=20.0, help="seconds before a label arrives")

    webhook = sub.add_parser("webhook", help="print Alertmanager notifications received by webhook as JSON lines")
    webhook.add_argument("--host", default="127.0.0.1", help="the address to listen on")
    webhook.add_argument("--port", type=int, default=5001, help="the port Alertmanager posts to")
    return parser


#: Commands that end by themselves: run as a program, they exit without the interpreter's teardown.
ONE_SHOT_COMMANDS = frozenset({"check", "baseline", "backtest", "report"})


def _exit_now(code: int) -> NoReturn:
    """End the process with ``code`` once its output is flushed, skipping the interpreter's teardown
    (freeing every module, array and thread pool one by one: about 0.13 s of a 1.5 s check, for
    nothing; every file the command wrote is closed already)."""
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):  # a closed pipe: nothing more to say to it
            stream.flush()
    os._exit(code)


def main(argv: list[str] | None = None) -> int:
    """The command line; ``argv`` None (the program itself): a one-shot command exits the process when done."""
    args = _parser().parse_args(argv)
    logging.basicConfig(level=args.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        stream=sys.stderr)
    # An update longer than the interval makes APScheduler skip a run; model_monitor_last_run_duration_seconds
    # shows it, so its per-run warning is noise.
    logging.getLogger("apscheduler").setLevel(logging.ERROR)
    code = _run(args)
    if argv is None and args.command in ONE_SHOT_COMMANDS and not _watched():
        _exit_now(code)
    return code


def _watched() -> bool:
    """Whether a profiler or tracer (cProfile, coverage, a debugger) runs in this process: they write
    what they saw at the interpreter's teardown, which a fast exit would skip."""
    return sys.getprofile() is not None or sys.gettrace() is not None


def _run(args: argparse.Namespace) -> int:
    """Run the command: its module is imported here, so a command loads only what it needs (``check`` no HTTP
    server, ``webhook`` no monitor), with the garbage collector paused while the modules load."""
    try:
        with collector_paused():
            command = importlib.import_module(f"exporter.commands.{args.command}")
        if args.command == "serve":
            return command.cmd_serve(args.config, args.port, args.web_config, args.shard)
        if args.command == "check":
            return command.cmd_check(args.config, args.format, args.fail_on_alert, args.now, args.model,
                                     args.window, args.out, args.shard)
        if args.command == "baseline":
            return command.cmd_baseline(args.config, args.model, args.out, args.format)
        if args.command == "backtest":
            return command.cmd_backtest(args)
        if args.command == "report":
            return command.cmd_report(args.config, args.model, args.window, args.now, args.out)
        if args.command == "webhook":
            return command.serve(args.host, args.port)
        return command.cmd_demo(args)
    except ConfigError as error:
        print(f"model-monitor: configuration error: {error}", file=sys.stderr)
        return EXIT_CONFIG


if __name__ == "__main__":
    sys.exit(main())
