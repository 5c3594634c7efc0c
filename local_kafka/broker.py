"""Run a real single-node Apache Kafka (KRaft, combined broker+controller) on loopback.

The jars come from Maven Central through ``local_kafka/pom.xml`` (``make kafka-jars``); this
script only writes the config, formats storage once, starts ``java kafka.Kafka`` in the
background with a pid file, and waits until a metadata request succeeds.

    python -m local_kafka.broker up      # reuse a broker that answers, else start one
    python -m local_kafka.broker down    # stop only the broker this script started
    python -m local_kafka.broker status

Environment: KAFKA_BROKER (host:port[,host:port]); when it names a non-loopback host nothing
local is ever started. KAFKA_PORT picks the local port when KAFKA_BROKER is unset (default
9092). KAFKA_DATA_DIR overrides where the broker keeps its logs and pid file.

From Python, ``LocalBroker(port, data_dir).start()`` / ``.stop(signal)`` run a broker of one's own
(the fault suite stops and restarts one on the same port and data directory).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
LIB_DIR = HERE / "lib"
LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1"}
# Brokers this process started: a dead child stays a zombie (and answers kill(pid, 0)) until reaped.
_CHILDREN: dict[int, subprocess.Popen[bytes]] = {}


class BrokerFailed(RuntimeError):
    """The broker exited while starting, or did not answer metadata in time."""


@dataclass(frozen=True)
class LocalBroker:
    port: int
    data_dir: Path

    @classmethod
    def on_free_ports(cls, data_dir: Path) -> LocalBroker:
        """A throwaway broker on a free port whose successor (the controller's) is free too."""
        for _ in range(100):
            with socket.socket() as listener, socket.socket() as controller:
                listener.bind(("127.0.0.1", 0))
                port = int(listener.getsockname()[1])
                try:
                    controller.bind(("127.0.0.1", port + 1))
                except OSError:
                    continue
            return cls(port=port, data_dir=data_dir)
        raise BrokerFailed("no two adjacent free ports on 127.0.0.1")

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def controller_port(self) -> int:
        return self.port + 1

    @property
    def pid_file(self) -> Path:
        return self.data_dir / "broker.pid"

    @property
    def log_file(self) -> Path:
        return self.data_dir / "broker.log"

    @property
    def config_file(self) -> Path:
        return self.data_dir / "server.properties"

    @property
    def log_dirs(self) -> Path:
        return self.data_dir / "kraft-logs"

    def config(self) -> str:
        return "\n".join(
            [
                "process.roles=broker,controller",
                "node.id=1",
                f"controller.quorum.voters=1@127.0.0.1:{self.controller_port}",
                f"listeners=PLAINTEXT://127.0.0.1:{self.port},CONTROLLER://127.0.0.1:{self.controller_port}",
                f"advertised.listeners=PLAINTEXT://127.0.0.1:{self.port}",
                "listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
                "controller.listener.names=CONTROLLER",
                "inter.broker.listener.name=PLAINTEXT",
                f"log.dirs={self.log_dirs}",
                "num.partitions=3",
                "offsets.topic.replication.factor=1",
                "offsets.topic.num.partitions=3",
                "transaction.state.log.replication.factor=1",
                "transaction.state.log.min.isr=1",
                "share.coordinator.state.topic.replication.factor=1",
                "share.coordinator.state.topic.min.isr=1",
                "group.initial.rebalance.delay.ms=0",
                # Over-size messages (> 1 MiB) must reach the worker so it can dead-letter them.
                "message.max.bytes=8388608",
                "replica.fetch.max.bytes=8388608",
                "auto.create.topics.enable=true",
                "",
            ]
        )

    def running_pid(self) -> int | None:
        """The pid of the broker started on this data directory, while it runs."""
        try:
            pid = int(self.pid_file.read_text().strip())
        except (FileNotFoundError, ValueError):
            return None
        child = _CHILDREN.get(pid)
        if child is not None:
            return pid if child.poll() is None else None
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        return pid

    def start(self, wait_seconds: float = 90.0) -> None:
        """Start this broker (unless its pid still runs) and wait until it answers metadata.

        Restarting on the same port and data directory keeps every topic, offset and group.
        """
        if self.running_pid() is None:
            self.data_dir.mkdir(parents=True, exist_ok=True)
            self.config_file.write_text(self.config())
            _format_storage(self)
            with open(self.log_file, "ab") as log:
                proc = subprocess.Popen(
                    _java_command("kafka.Kafka", str(self.config_file)),
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    start_new_session=True,  # outlives `make`; `down` stops it by pid
                )
            _CHILDREN[proc.pid] = proc
            self.pid_file.write_text(str(proc.pid))
            print(f"kafka: started Apache Kafka (pid {proc.pid}) on {self.bootstrap}, log {self.log_file}")
        deadline = time.monotonic() + wait_seconds
        while time.monotonic() < deadline:
            if self.running_pid() is None:
                raise BrokerFailed(f"kafka: broker exited during start-up; see {self.log_file}")
            if answers_metadata(self.bootstrap, timeout=2.0):
                print(f"kafka: broker answers metadata at {self.bootstrap}")
                return
            time.sleep(0.5)
        raise BrokerFailed(f"kafka: no metadata answer from {self.bootstrap} in {wait_seconds:.0f}s")

    def stop(self, sig: int = signal.SIGTERM, wait_seconds: float = 30.0) -> int | None:
        """Send ``sig`` to this broker, wait for it to exit (SIGKILL after ``wait_seconds``); its pid."""
        pid = self.running_pid()
        if pid is None:
            self.pid_file.unlink(missing_ok=True)
            return None
        os.kill(pid, sig)
        deadline = time.monotonic() + wait_seconds
        while time.monotonic() < deadline and self.running_pid() is not None:
            time.sleep(0.2)
        if self.running_pid() is not None:
            os.kill(pid, signal.SIGKILL)
            killed_by = time.monotonic() + 10.0
            while self.running_pid() is not None and time.monotonic() < killed_by:
                time.sleep(0.1)
        self.pid_file.unlink(missing_ok=True)
        return pid


@contextlib.contextmanager
def throwaway(data_dir: Path) -> Iterator[LocalBroker]:
    """A broker of one's own on free ports; stopped, and its data removed, on the way out."""
    broker = LocalBroker.on_free_ports(data_dir)
    try:
        broker.start()
        yield broker
    finally:
        broker.stop()
        shutil.rmtree(data_dir, ignore_errors=True)


def configured_bootstrap() -> str | None:
    return os.environ.get("KAFKA_BROKER") or None


def local_broker() -> LocalBroker:
    port = int(os.environ.get("KAFKA_PORT", "9092"))
    broker = configured_bootstrap()
    if broker:
        host, _, port_text = broker.split(",")[0].rpartition(":")
        if host.strip("[]") not in LOOPBACK_HOSTS:
            raise SystemExit(
                f"KAFKA_BROKER={broker} is not on loopback: nothing local is started; make sure that broker is up"
            )
        port = int(port_text)
    data_dir = Path(os.environ.get("KAFKA_DATA_DIR", HERE / f"data-{port}"))
    return LocalBroker(port=port, data_dir=data_dir)


async def _metadata_ok(bootstrap: str, timeout: float) -> bool:
    import logging

    from aiokafka.admin import AIOKafkaAdminClient

    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)  # refusals are expected while it boots
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=int(timeout * 1000))
    try:
        await asyncio.wait_for(admin.start(), timeout)
        await asyncio.wait_for(admin.describe_cluster(), timeout)
        return True
    except Exception:
        return False
    finally:
        with contextlib.suppress(Exception):
            await admin.close()


def answers_metadata(bootstrap: str, timeout: float = 3.0) -> bool:
    return asyncio.run(_metadata_ok(bootstrap, timeout))


def _java_command(main_class: str, *args: str) -> list[str]:
    if not LIB_DIR.is_dir() or not any(LIB_DIR.glob("kafka_2.13-*.jar")):
        raise SystemExit("Kafka jars missing: run `make kafka-jars` (Maven fetches them)")
    return [
        "java",
        "-Xms256m",
        "-Xmx1g",
        "-XX:+UseG1GC",
        "-Djava.awt.headless=true",
        f"-Dlog4j2.configurationFile={HERE / 'log4j2.properties'}",
        "-Dkafka.logs.dir=" + str(HERE),
        "-cp",
        f"{LIB_DIR}/*",
        main_class,
        *args,
    ]


def _format_storage(broker: LocalBroker) -> None:
    if (broker.log_dirs / "meta.properties").exists():
        return
    cluster_id = uuid.uuid4().hex[:22]
    subprocess.run(
        _java_command(
            "kafka.tools.StorageTool",
            "format",
            "-t",
            cluster_id,
            "-c",
            str(broker.config_file),
            "--ignore-formatted",
        ),
        check=True,
        stdout=subprocess.DEVNULL,
    )


def up(wait_seconds: float = 90.0) -> str:
    """Return a bootstrap address that answers metadata, starting a local broker if needed."""
    configured = configured_bootstrap()
    if configured and answers_metadata(configured):
        print(f"kafka: reusing broker at {configured}")
        return configured
    broker = local_broker()
    if answers_metadata(broker.bootstrap):
        print(f"kafka: reusing broker at {broker.bootstrap}")
        return broker.bootstrap
    try:
        broker.start(wait_seconds)
    except BrokerFailed as exc:
        raise SystemExit(str(exc)) from None
    return broker.bootstrap


def down(wait_seconds: float = 30.0) -> None:
    """Stop the broker this script started (and only that one)."""
    broker = local_broker()
    pid = broker.stop(wait_seconds=wait_seconds)
    if pid is None:
        print("kafka: no broker started by this project is running")
    else:
        print(f"kafka: stopped broker pid {pid}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=["up", "down", "status"])
    args = parser.parse_args(argv)
    if args.command == "up":
        up()
    elif args.command == "down":
        down()
    else:
        broker = local_broker()
        target = configured_bootstrap() or broker.bootstrap
        state = "answers metadata" if answers_metadata(target) else "not answering"
        print(f"kafka: {target} {state}; local pid {broker.running_pid()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
