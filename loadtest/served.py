"""A kotox server started as the README says (`python -m kotox_server`), on free loopback ports, for fault runs."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from kotox_server.stubs import live_stubs
from kotox_server.supervisor import probe
from kotox_server.triton import Ports


class Launched:
    """`python -m kotox_server` on `repository` as a child process; a context manager."""

    def __init__(self, repository: Path, ports: Ports | None = None, *extra: str):
        self.repository, self.ports, self.extra = repository, ports or Ports.free(), extra
        self.process: subprocess.Popen | None = None

    def start(self, timeout: float = 300) -> "Launched":
        """Start the launcher and wait until its readiness probe answers 200."""
        p = self.ports
        cmd = [sys.executable, "-m", "kotox_server", "--quiet", "--repository", str(self.repository),
               "--http-port", str(p.http), "--grpc-port", str(p.grpc), "--metrics-port", str(p.metrics),
               "--health-port", str(p.health), *self.extra]
        self.process = subprocess.Popen(cmd)
        deadline = time.monotonic() + timeout
        while probe(p) != 200:
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"kotox_server did not become ready: {' '.join(cmd)}")
            time.sleep(0.2)
        return self

    def stop(self) -> None:
        """SIGTERM the launcher (it stops the server) and wait."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(90)

    def server_pid(self) -> int:
        """The tritonserver process the launcher runs now."""
        for entry in Path("/proc").iterdir():
            try:
                if entry.name.isdigit() and (entry / "comm").read_text().strip() == "tritonserver" and \
                        int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == self.process.pid:
                    return int(entry.name)
            except OSError:
                continue
        raise RuntimeError("the launcher runs no tritonserver now")

    def stubs(self) -> dict[str, int]:
        """{model instance: pid} of the server's Python stubs."""
        return live_stubs(self.server_pid())

    def __enter__(self) -> "Launched":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
