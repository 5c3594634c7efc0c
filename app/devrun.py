"""`make run`: start one worker the Faust way, wait until it is ready, print where it is.

python -m app.devrun --web-port 6066 --datadir .worker-data
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from app.settings import Settings
from domain.tenants import DEV_TENANT_ID, DEV_TENANTS


def worker_command(
    datadir: str | Path, web_port: int, *, web_host: str | None = None, log_level: str = "info"
) -> list[str]:
    """A worker started the Faust way (SPEC section 8), as `make run`, the tests and the benchmark start it."""
    command = [str(Path(sys.executable).with_name("faust")), "--datadir", str(datadir), "-A", "app", "worker"]
    command += ["--web-port", str(web_port)]
    if web_host is not None:
        command += ["--web-host", web_host]
    return [*command, "-l", log_level]


def stop_worker(process: subprocess.Popen[bytes], sig: int = signal.SIGTERM, timeout: float = 30.0) -> None:
    """Send ``sig`` to a worker that still runs and wait for it; SIGKILL once ``timeout`` passes."""
    if process.poll() is None:
        process.send_signal(sig)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--web-port", type=int, default=6066)
    parser.add_argument("--datadir", default=".worker-data")
    args = parser.parse_args()
    settings = Settings.from_env()
    command = worker_command(args.datadir, args.web_port)
    env = {**os.environ, "WEBHOOK_ALLOW_PRIVATE": os.environ.get("WEBHOOK_ALLOW_PRIVATE", "1")}
    print("starting:", " ".join(command), flush=True)
    worker = subprocess.Popen(command, env=env)
    signal.signal(signal.SIGINT, lambda *_: worker.send_signal(signal.SIGINT))
    signal.signal(signal.SIGTERM, lambda *_: worker.send_signal(signal.SIGTERM))
    base = f"http://127.0.0.1:{args.web_port}"
    while worker.poll() is None:
        try:
            with urllib.request.urlopen(f"{base}/health/ready", timeout=2) as response:
                if response.status == 200:
                    break
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.5)
    if worker.poll() is None:
        tenant = DEV_TENANT_ID if settings.tenants.get(DEV_TENANT_ID) else settings.tenants.ids()[0]
        key = DEV_TENANTS[DEV_TENANT_ID].api_key if tenant == DEV_TENANT_ID else "(from TENANTS_FILE)"
        print(
            f"""
interview-streams worker is ready (broker {settings.broker})
  API          {base}/api/v1/interviews
  health       {base}/health/ready
  workflows    {base}/api/v1/admin/metrics/workflows   (X-API-Key: the admin key)
  tenant       X-Tenant-ID: {tenant}
  dev API key  X-API-Key: {key}
  admin key    ADMIN_API_KEY (default dev-admin-key-change-me)
Ctrl-C stops the worker; `make kafka-down` stops the local broker.
""",
            flush=True,
        )
    return worker.wait()


if __name__ == "__main__":
    sys.exit(main())
