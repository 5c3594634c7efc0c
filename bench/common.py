"""What every benchmark scenario shares: the broker, worker subprocesses, tenants and the figures.

A scenario is a module with ``async def run(env: BenchEnv) -> list[Figure]``; ``python -m bench``
runs them one after another on one broker and prints one table. Figures are measured, never asserted:
a target that is missed is printed as missed, with the figure.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Literal

import aiohttp
import psutil

from app.devrun import stop_worker, worker_command

ROOT = Path(__file__).resolve().parents[1]
ADMIN_KEY = "bench-admin-key"
TENANT_ID = "bench"
TENANT_KEY = "bench-api-key"
TENANT_WEBHOOK_SECRET = "bench-webhook-secret"


@dataclass(frozen=True)
class Figure:
    """One measured number; ``target`` and ``better`` say what it is compared with, if anything."""

    scenario: str
    name: str
    value: float
    unit: str
    target: float | None = None
    better: Literal["higher", "lower"] = "higher"
    note: str = ""

    @property
    def met(self) -> bool | None:
        if self.target is None:
            return None
        return self.value >= self.target if self.better == "higher" else self.value <= self.target

    def as_json(self) -> dict[str, object]:
        return {**asdict(self), "met": self.met}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class WorkerProcess:
    name: str
    base_url: str
    datadir: Path
    log_path: Path
    process: subprocess.Popen[bytes]

    @property
    def pid(self) -> int:
        return self.process.pid

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30.0) -> None:
        stop_worker(self.process, sig, timeout)


@dataclass
class BenchEnv:
    """One broker and a scratch directory; each scenario takes its own consumer group."""

    bootstrap: str
    workdir: Path
    quick: bool = False
    worker_log_level: str = "warn"
    workers: list[WorkerProcess] = field(default_factory=list)

    @property
    def tenants_file(self) -> Path:
        path = self.workdir / "tenants.json"
        if not path.exists():
            path.write_text(json.dumps({TENANT_ID: {"apiKey": TENANT_KEY, "webhookSecret": TENANT_WEBHOOK_SECRET}}))
        return path

    @staticmethod
    def new_group(scenario: str) -> str:
        return f"bench-{scenario}-{uuid.uuid4().hex[:6]}"

    def worker_env(self, group_id: str, **overrides: str) -> dict[str, str]:
        return {
            **os.environ,
            "KAFKA_BROKER": self.bootstrap,
            "KAFKA_GROUP_ID": group_id,
            "TENANTS_FILE": str(self.tenants_file),
            "ADMIN_API_KEY": ADMIN_KEY,
            "WEBHOOK_ALLOW_PRIVATE": "1",
            **overrides,
        }

    async def start_worker(
        self, name: str, group_id: str, *, datadir: Path | None = None, ready_timeout: float = 120.0, **env: str
    ) -> WorkerProcess:
        """``faust -A app worker`` as a subprocess, returned once /health/ready answers 200."""
        port = free_port()
        datadir = datadir or self.workdir / f"{group_id}-{name}"
        log_path = self.workdir / f"{group_id}-{name}.log"
        command = worker_command(datadir, port, web_host="127.0.0.1", log_level=self.worker_log_level)
        with open(log_path, "ab") as log:
            process = subprocess.Popen(
                command, cwd=ROOT, env=self.worker_env(group_id, **env), stdout=log, stderr=subprocess.STDOUT
            )
        worker = WorkerProcess(name, f"http://127.0.0.1:{port}", datadir, log_path, process)
        self.workers.append(worker)
        await wait_ready(worker, ready_timeout)
        return worker

    def stop_all(self) -> None:
        for worker in self.workers:
            worker.stop()
        self.workers.clear()


async def wait_ready(worker: WorkerProcess, timeout: float) -> float:
    """Seconds until the worker's /health/ready answered 200."""
    started = time.monotonic()
    async with aiohttp.ClientSession() as session:
        while time.monotonic() - started < timeout:
            if worker.process.poll() is not None:
                raise RuntimeError(f"worker {worker.name} exited; log: {worker.log_path}")
            try:
                async with session.get(f"{worker.base_url}/health/ready") as response:
                    if response.status == 200:
                        return time.monotonic() - started
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)
    raise RuntimeError(f"worker {worker.name} not ready in {timeout}s; log: {worker.log_path}")


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of a non-empty list."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(q / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


def cpu_seconds(pid: int) -> float:
    """User + system CPU a process has used so far (0 once it is gone)."""
    try:
        times = psutil.Process(pid).cpu_times()
    except psutil.Error:
        return 0.0
    return float(times.user + times.system)


def start_profile(pid: int, name: str, seconds: float | None = None) -> subprocess.Popen[bytes] | None:
    """py-spy samples ``pid`` into <dir>/<name>.txt (collapsed stacks) when BENCH_PROFILE (or
    BENCH_PROFILE_DIR) names a directory; for ``seconds``, or until ``stop_profile``.

    Only the thread holding the GIL is sampled (``--gil``), so the stacks share out the CPU of the
    worker's Python code between its threads. The worker is not paused for a sample
    (``--nonblocking``): on this machine a paused thread stops at its next system call, so py-spy's
    default mode puts nearly every sample just after one. A loop that spent 5-7% of its time in
    ``asyncio.get_event_loop()`` (a ``getpid`` call) had 96-98% of its samples there paused, 8-11%
    unpaused. An unpaused stack is sometimes read while it changes (a fifth to a third of a busy
    worker's samples lose their outer frames, and some mix frames of two calls), so each stack starts
    with its thread (``--threads``): the share of each thread holds even where the stack does not.
    """
    where = os.environ.get("BENCH_PROFILE") or os.environ.get("BENCH_PROFILE_DIR")
    py_spy = Path(sys.executable).with_name("py-spy")
    if not where or not py_spy.exists():
        return None
    Path(where).mkdir(parents=True, exist_ok=True)
    output = Path(where) / f"{name}.txt"
    print(f"  profiling {name} (pid {pid}) into {output}", flush=True)
    command = [str(py_spy), "record", "--pid", str(pid), "--rate", "100", "--format", "raw", "--output", str(output)]
    if seconds is not None:
        command += ["--duration", str(int(seconds))]
    return subprocess.Popen(
        [*command, "--gil", "--nonblocking", "--threads"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )


def stop_profile(profiler: subprocess.Popen[bytes] | None) -> None:
    if profiler is not None and profiler.poll() is None:
        profiler.send_signal(signal.SIGINT)  # py-spy writes what it has sampled so far
        profiler.wait(30)
