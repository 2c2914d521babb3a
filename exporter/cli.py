"""``model-monitor``: serve, check, baseline, report, backtest, demo and webhook.

Every configuration problem ends the command with exit status 2 and one
message saying what to fix; ``check --fail-on-alert`` exits 1 when a drift or
data-quality check fails.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import signal
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

from exporter.memory import build_allocators, collector_paused, fast_allocators

with collector_paused():
    from exporter.checks import failed_checks
    from exporter.config import Config, ConfigError, ModelConfig, load_config
    from exporter.exposition import SnapshotStore, build_families, families_as_json
    from exporter.model import build_monitors
    from exporter.state import StateDirLock, StateDirLockedError, write_atomically

if TYPE_CHECKING:
    from exporter.model import ModelMonitor

log = logging.getLogger("model_monitor")

EXIT_ALERT = 1
EXIT_CONFIG = 2


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
    parser.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the exporter: update windows every interval, serve /metrics")
    serve.add_argument("--config", required=True, type=Path)
    serve.add_argument("--port", type=int, help="overrides server.port")
    serve.add_argument("--web.config.file", dest="web_config", type=Path,
                       help="TLS and basic auth (Prometheus web configuration format); overrides "
                            "server.web_config_file")
    serve.add_argument("--shard", help="i/N: serve only the models whose name hashes to i of N; overrides shard:")

    check = sub.add_parser("check", help="one pass over every model's logs; print the metrics")
    check.add_argument("--config", required=True, type=Path)
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
    baseline.add_argument("--config", required=True, type=Path)
    baseline.add_argument("--model", help="the model (needed when the config has more than one)")
    baseline.add_argument("--out", required=True, type=Path,
                          help="the baseline file to write (JSON); with --format sagemaker, a folder")
    baseline.add_argument("--format", choices=["model-monitor", "sagemaker"], default="model-monitor",
                          help="sagemaker: also statistics.json and constraints.json in SageMaker Model Monitor's "
                               "format, beside baseline.json in the --out folder")

    report = sub.add_parser("report", help="one model's window as a self-contained HTML page, for whoever was paged")
    report.add_argument("--config", required=True, type=Path)
    report.add_argument("--model", help="the model (needed when the config has more than one)")
    report.add_argument("--window", help="the window (default: the shortest with a failed check of the highest "
                                         "severity, else the longest)")
    report.add_argument("--now", type=_parse_time, help="the window ends at this time (default: now)")
    report.add_argument("--out", required=True, type=Path, help="the HTML file to write")

    backtest = sub.add_parser("backtest", help="replay a period of the logs and report the alerts that would "
                                                "have fired")
    backtest.add_argument("--config", required=True, type=Path)
    backtest.add_argument("--from", dest="start", required=True, type=_parse_time,
                          help="start: epoch seconds or ISO-8601 with a zone")
    backtest.add_argument("--to", dest="end", required=True, type=_parse_time, help="end (same forms)")
    backtest.add_argument("--step", default="5m", help="windows end at every step (default 5m)")
    backtest.add_argument("--format", choices=["table", "json", "csv"], default="table")
    backtest.add_argument("--model", help="only this model")
    backtest.add_argument("--openmetrics", type=Path,
                          help="also write the metrics of every step as OpenMetrics with timestamps (for promtool "
                               "tsdb create-blocks-from openmetrics)")

    demo = sub.add_parser("demo", help="simulate a model writing a prediction log, and monitor it")
    demo.add_argument("--dir", type=Path, default=Path("model-monitor-demo"), help="where the demo writes")
    demo.add_argument("--host", default="127.0.0.1")
    demo.add_argument("--port", type=int, default=9108)
    demo.add_argument("--rate", type=float, default=20.0, help="predictions per second")
    demo.add_argument("--drift-after", type=float, default=120.0, help="seconds before the world drifts")
    demo.add_argument("--interval", default="2s", help="update interval")
    demo.add_argument("--label-delay", type=float, default=20.0, help="seconds before a label arrives")

    webhook = sub.add_parser("webhook", help="print Alertmanager notifications received by webhook as JSON lines")
    webhook.add_argument("--host", default="127.0.0.1")
    webhook.add_argument("--port", type=int, default=5001)
    return parser


def _load(path: Path) -> Config:
    return load_config(path)


def _sharded(config: Config, shard_text: str | None) -> Config:
    """The models this replica owns (``--shard``, else ``shard:``), each shard with its own state folder."""
    from exporter.shards import owned, parse_shard

    text = shard_text if shard_text is not None else config.shard
    if text is None:
        return config
    shard = parse_shard(text, "--shard" if shard_text is not None else "shard")
    mine = owned(config, shard)
    log.info("shard %s owns %d of %d model(s): %s", shard, len(mine.models), len(config.models),
             ", ".join(m.name for m in mine.models) or "none")
    if shard.count == 1:
        return mine
    # Replicas on one host share the config: each locks and keeps its own state folder.
    return mine.model_copy(update={"state_dir": config.state_dir / f"shard-{shard.index}-of-{shard.count}"})


def cmd_serve(config_path: Path, port: int | None, web_config: Path | None = None, shard: str | None = None) -> int:
    config = _sharded(_load(config_path), shard)
    if port is not None:
        config = config.model_copy(update={"server": config.server.model_copy(update={"port": port})})
    web_config = web_config or config.server.web_config_file
    if web_config is not None and not web_config.is_file():
        raise ConfigError(f"web config file not found: {web_config}")
    lock = _lock_state_dir(config.state_dir)
    try:  # released on a configuration error too, not only at the end
        return _serve(config, config_path, web_config)
    finally:
        lock.release()


def _serve(config: Config, config_path: Path, web_config: Path | None) -> int:
    from exporter.memory import lean_allocators
    from exporter.service import Exporter  # the HTTP server's modules: serve only
    from exporter.webconfig import load_web_config

    lean_allocators()  # a long-running process: give freed memory back
    monitors = build_monitors(config, str(config_path))
    exporter = Exporter(config, monitors)
    try:
        bound = exporter.start(config.server.host, config.server.port, web_config)
    except OSError as error:
        raise ConfigError(f"cannot listen on {config.server.host}:{config.server.port}: {error.strerror}") from None
    scheme = "https" if web_config is not None and load_web_config(web_config).tls_server_config else "http"
    print(f"model-monitor: serving {scheme}://{config.server.host}:{bound}/metrics "
          f"({len(monitors)} model(s), every {config.interval:g}s)", flush=True)
    # The handler takes no lock (an Event's set() or a log call can meet the lock that the main thread holds
    # where the signal interrupts it, and wait forever): it notes the signal, and the main thread looks.
    received: list[int] = []

    def _stop(signum: int, _frame: object) -> None:
        received.append(signum)

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    while not received:
        time.sleep(0.1)
    log.info("received signal %d; stopping", received[0])
    exporter.stop()
    log.info("stopped")
    return 0


def _lock_state_dir(state_dir: Path) -> StateDirLock:
    """Hold the state folder for this exporter; a second exporter on it is a configuration error."""
    try:
        state_dir.mkdir(parents=True, exist_ok=True)
        lock = StateDirLock(state_dir)
        lock.acquire()
    except StateDirLockedError as error:
        raise ConfigError(str(error)) from None
    except OSError as error:
        raise ConfigError(f"state_dir: cannot use {state_dir}: {error.strerror or error}") from None
    return lock


def _choose_model(config: Config, config_path: Path, model_name: str | None, required: bool) -> ModelConfig | None:
    """The model named ``model_name``; with none named, the only model (``required``) or every model (None)."""
    names = [m.name for m in config.models]
    if model_name is None:
        if not required:
            return None
        if len(names) > 1:
            raise ConfigError(f"the config has {len(names)} models ({', '.join(names)}): choose one with --model")
    model = next((m for m in config.models if model_name in (None, m.name)), None)
    if model is None:
        raise ConfigError(f"no model {model_name!r} in {config_path} (models: {', '.join(names)})")
    return model


def _emit(text: str, out: Path | None) -> None:
    """``text`` on stdout, or into ``out`` atomically (see :func:`exporter.state.write_atomically`)."""
    if out is None:
        sys.stdout.write(text)
        return
    try:
        write_atomically(out, text.encode("utf-8"))
    except OSError as error:
        raise ConfigError(f"cannot write {out}: {error.strerror or error}") from None


def _one_shot_monitors(config: Config, source: str) -> list[ModelMonitor]:
    """The monitors of ``check`` and ``report``, which read their logs once and keep no state; glibc's
    allocator set for each phase (exporter.memory): the reference build gives each column back, the
    ingest keeps what it frees for its next batch."""
    build_allocators()
    monitors = build_monitors(config, source, persist=False)
    fast_allocators()
    return monitors


def cmd_check(config_path: Path, fmt: str, fail_on_alert: bool, now: float | None, model_name: str | None = None,
              window: str | None = None, out: Path | None = None, shard: str | None = None) -> int:
    config = _sharded(_load(config_path), shard)
    chosen = _choose_model(config, config_path, model_name, required=fmt == "sagemaker-violations")
    if chosen is not None:
        config = config.model_copy(update={"models": [chosen]})
    if window is not None and fmt != "sagemaker-violations":
        raise ConfigError("--window chooses the window of --format sagemaker-violations")
    if chosen is not None and window is not None and window not in [w.label for w in chosen.windows]:
        raise ConfigError(f"model {chosen.name} has no window {window!r} "
                          f"(windows: {', '.join(w.label for w in chosen.windows)})")
    monitors = _one_shot_monitors(config, str(config_path))
    snapshots = [m.update(now=now, persist=False, budget=None, once=True) for m in monitors]
    failed = [line for s in snapshots for line in failed_checks(s)]
    if fmt == "json":
        families = build_families(snapshots)
        _emit(json.dumps({"metrics": families_as_json(families), "failed_checks": failed}, indent=1) + "\n", out)
    elif fmt == "sagemaker-violations":
        from exporter.sagemaker import violations

        assert chosen is not None
        longest = max(chosen.windows, key=lambda w: w.seconds).label
        _emit(json.dumps(violations(snapshots[0], window or longest), indent=2) + "\n", out)
    else:
        store = SnapshotStore()
        for snapshot in snapshots:
            store.publish(snapshot)
        _emit(store.exposition_text(), out)
    for line in failed:
        log.warning("check failed: %s", line)
    return EXIT_ALERT if fail_on_alert and failed else 0


def cmd_baseline(config_path: Path, model_name: str | None, out: Path, fmt: str = "model-monitor") -> int:
    from exporter.baseline import write_baseline
    from exporter.model import ModelMonitor, baseline_of_reference

    config = _load(config_path)
    model = _choose_model(config, config_path, model_name, required=True)
    assert model is not None
    if model.reference is None:
        raise ConfigError(f"models[{model.name}] names a baseline, not a reference: nothing to compute")
    base = baseline_of_reference(model, str(config_path))
    monitor = ModelMonitor(model, base.reference, None, base.spec, base.segments, base.performance,
                           base.performance_noise)
    target = out / "baseline.json" if fmt == "sagemaker" else out
    try:
        write_baseline(target, model, base, monitor.layout_fingerprint())
        written = [target]
        if fmt == "sagemaker":
            from exporter.components.quality import FeatureQuality
            from exporter.sagemaker import apply_constraints, read_constraints, write_files

            enforced, reference = model, base.reference
            if model.constraints is not None:
                enforced, reference = apply_constraints(model, reference,
                                                        read_constraints(model.constraints, model, str(config_path)))
            thresholds = FeatureQuality(reference, enforced.quality).thresholds
            written += write_files(out, enforced, reference, thresholds)
    except OSError as error:
        raise ConfigError(f"cannot write into {out}: {error.strerror or error}") from None
    print(f"model-monitor: wrote the baseline of model {model.name} to {', '.join(map(str, written))}", flush=True)
    return 0


def cmd_report(config_path: Path, model_name: str | None, window: str | None, now: float | None, out: Path) -> int:
    from exporter.report import default_window, render_report

    config = _load(config_path)
    model = _choose_model(config, config_path, model_name, required=True)
    assert model is not None
    labels = [w.label for w in model.windows]
    if window is not None and window not in labels:
        raise ConfigError(f"model {model.name} has no window {window!r} (windows: {', '.join(labels)})")
    [monitor] = _one_shot_monitors(config.model_copy(update={"models": [model]}), str(config_path))
    snapshot = monitor.update(now=now, persist=False, budget=None, once=True, keep_buckets=True)
    window = window or default_window(snapshot)
    _emit(render_report(snapshot, window, now), out)
    print(f"model-monitor: wrote the report of model {model.name}, window {window}, to {out}", flush=True)
    return 0


def cmd_backtest(args: argparse.Namespace) -> int:
    from exporter.backtest import render, run
    from exporter.durations import parse_duration

    config = _load(args.config)
    chosen = _choose_model(config, args.config, args.model, required=False)
    if chosen is not None:
        config = config.model_copy(update={"models": [chosen]})
    try:
        step = parse_duration(args.step)
    except ValueError as error:
        raise ConfigError(f"--step: {error}") from None
    if step <= 0 or args.end < args.start:
        raise ConfigError("--step must be positive and --to not before --from")
    monitors = build_monitors(config, str(args.config), persist=False)
    labels = {"job": "model-monitor", "instance": f"{config.server.host}:{config.server.port}"}
    try:
        # A progress bar only on a terminal: none when the output is piped or redirected.
        result = run(monitors, args.start, args.end, step, progress=sys.stderr.isatty() and sys.stdout.isatty(),
                     openmetrics=args.openmetrics, extra_labels=labels)
    except OSError as error:
        raise ConfigError(f"cannot write {args.openmetrics}: {error.strerror or error}") from None
    sys.stdout.write(render(result, args.format))
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from exporter.demo import TrafficWriter, prepare_demo

    config_path = prepare_demo(args.dir.resolve(), args.port, args.host, args.interval)
    writer = TrafficWriter(args.dir.resolve(), args.rate, args.drift_after, label_delay=args.label_delay)
    writer.start()
    print(f"model-monitor demo: a simulated model logs {args.rate:g} predictions/s to "
          f"{args.dir.resolve() / 'predictions'}; drift starts after {args.drift_after:g}s", flush=True)
    try:
        return cmd_serve(config_path, None)
    finally:
        writer.stop()


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
    try:
        if args.command == "serve":
            return cmd_serve(args.config, args.port, args.web_config, args.shard)
        if args.command == "check":
            return cmd_check(args.config, args.format, args.fail_on_alert, args.now, args.model, args.window,
                             args.out, args.shard)
        if args.command == "baseline":
            return cmd_baseline(args.config, args.model, args.out, args.format)
        if args.command == "backtest":
            return cmd_backtest(args)
        if args.command == "report":
            return cmd_report(args.config, args.model, args.window, args.now, args.out)
        if args.command == "webhook":
            from exporter.webhook import serve

            return serve(args.host, args.port)
        return cmd_demo(args)
    except ConfigError as error:
        print(f"model-monitor: configuration error: {error}", file=sys.stderr)
        return EXIT_CONFIG


if __name__ == "__main__":
    sys.exit(main())
