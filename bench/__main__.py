"""``python -m bench [--only name,...] [--quick]``: every scenario on one broker, one table, bench/results.json.

The broker is KAFKA_BROKER when set; otherwise a fresh local one (its own port and a temporary data
directory) is started for the run and stopped at the end. A scenario module not written yet is
reported as "not built"; one that raises is reported with its error and the others still run.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime
import importlib
import importlib.metadata
import json
import os
import platform
import sys
import tempfile
import time
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from bench.common import ROOT, BenchEnv, Figure

SCENARIOS = ["throughput", "steps", "latency", "sse_fanout", "lag_endpoint", "recovery"]
RESULTS = ROOT / "bench" / "results.json"


@contextlib.contextmanager
def broker() -> Iterator[str]:
    """KAFKA_BROKER if set, else a fresh local broker for this run only."""
    configured = os.environ.get("KAFKA_BROKER")
    if configured:
        yield configured
        return
    from local_kafka.broker import throwaway

    with throwaway(Path(tempfile.mkdtemp(prefix="bench-kafka-"))) as local:
        yield local.bootstrap


def _cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def _ram_gib() -> float:
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 1024 / 1024, 1)
    return 0.0


def _kafka_version() -> str:
    jars = sorted((ROOT / "local_kafka" / "lib").glob("kafka_2.13-*.jar"))
    return jars[-1].stem.removeprefix("kafka_2.13-") if jars else "unknown"


def machine(bootstrap: str) -> dict[str, Any]:
    def version(package: str) -> str:
        try:
            return importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            return "missing"

    return {
        "nproc": os.cpu_count(),
        "cpu": _cpu_model(),
        "ramGiB": _ram_gib(),
        "python": platform.python_version(),
        "kafka": _kafka_version(),
        "broker": bootstrap,
        "faust-streaming": version("faust-streaming"),
        "aiokafka": version("aiokafka"),
        "confluent-kafka": version("confluent-kafka"),  # the worker's producer (librdkafka, bundled)
        "loadavg": [round(x, 2) for x in os.getloadavg()],
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
    }


async def run_scenario(name: str, env: BenchEnv) -> tuple[str, list[Figure]]:
    """(status, figures): status is "ok", "not built" or the error."""
    try:
        module = importlib.import_module(f"bench.{name}")
    except ModuleNotFoundError as exc:
        if exc.name == f"bench.{name}":
            return "not built", []
        raise
    try:
        figures = list(await module.run(env))
    except Exception as exc:
        traceback.print_exc()
        return f"error: {type(exc).__name__}: {exc}", []
    finally:
        env.stop_all()
    return "ok", figures


def _cell(value: object) -> str:
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):  # three significant digits are all a noisy benchmark can say
        return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.3g}"
    return str(value)


def table(rows: list[tuple[str, str, str, str, str, str]]) -> str:
    header = ("scenario", "figure", "value", "unit", "target", "met")
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)) for row in [header, *rows]]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(lines)


def rows_of(name: str, status: str, figures: list[Figure]) -> list[tuple[str, str, str, str, str, str]]:
    if not figures:
        return [(name, status, "", "", "", "")]
    rows = []
    for figure in figures:
        target = "" if figure.target is None else ("≥ " if figure.better == "higher" else "≤ ") + _cell(figure.target)
        met = {None: "", True: "yes", False: "NO"}[figure.met]
        rows.append((figure.scenario, figure.name, _cell(figure.value), figure.unit, target, met))
    return rows


def _previous_results() -> dict[str, Any]:
    with contextlib.suppress(OSError, ValueError):
        previous = json.loads(RESULTS.read_text())
        if isinstance(previous, dict) and isinstance(previous.get("scenarios"), dict):
            return previous
    return {"scenarios": {}}


async def main_async(bootstrap: str, names: list[str], quick: bool, keep: Path | None = None) -> int:
    failed = False
    # A run of some scenarios (--only) keeps the others' figures from before; each says when it ran.
    results: dict[str, Any] = {"scenarios": {}} if names == SCENARIOS else _previous_results()
    rows: list[tuple[str, str, str, str, str, str]] = []
    scratch = contextlib.nullcontext(str(keep)) if keep else tempfile.TemporaryDirectory(prefix="bench-")
    with scratch as workdir:
        results["machine"] = machine(bootstrap)
        env = BenchEnv(
            bootstrap=bootstrap, workdir=Path(workdir), quick=quick, worker_log_level="info" if keep else "warn"
        )
        for name in names:
            print(f"== {name}", flush=True)
            began = time.monotonic()
            status, figures = await run_scenario(name, env)
            failed |= status.startswith("error")
            seconds = round(time.monotonic() - began, 1)
            print(f"   {status} in {seconds}s", flush=True)
            results["scenarios"][name] = {
                "status": status,
                "quick": quick,
                "date": results["machine"]["date"],
                "seconds": seconds,
                "figures": [figure.as_json() for figure in figures],
            }
            rows += rows_of(name, status, figures)
            # Written after every scenario: a run cut short keeps what it measured.
            RESULTS.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n")
    print()
    print(table(rows))
    print(f"\nwritten {RESULTS.relative_to(ROOT)}")
    return 1 if failed else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--only", help="comma-separated scenarios, of: " + ", ".join(SCENARIOS))
    parser.add_argument("--quick", action="store_true", help="fewer events: a run of a few minutes")
    parser.add_argument(
        "--keep", type=Path, metavar="DIR", help="keep the workers' data and info-level logs in DIR (to see why)"
    )
    args = parser.parse_args(argv)
    names = SCENARIOS if not args.only else [name.strip() for name in args.only.split(",") if name.strip()]
    unknown = [name for name in names if name not in SCENARIOS]
    if unknown:
        parser.error(f"unknown scenario(s): {', '.join(unknown)}")
    # The local broker's launcher runs its own event loop: start it before ours.
    with broker() as bootstrap:
        if args.keep:
            args.keep.mkdir(parents=True, exist_ok=True)
        return asyncio.run(main_async(bootstrap, names, args.quick, args.keep))


if __name__ == "__main__":
    sys.exit(main())
