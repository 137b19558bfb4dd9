"""Integration: the gRPC pinning remedy. With a short --grpc-max-connection-age the server recycles a client's
connection again and again (each reconnect is where a Kubernetes Service picks a pod anew), and the client sees
no error and the same answers throughout."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from conftest import free_server_ports
from kotox_client import ToxicityClient
from kotox_server.triton import TritonServer

pytestmark = pytest.mark.integration
AGE_MS = 1000  # overrides the launcher's minute (the later flag wins) so the test sees several recycles
SECONDS = 5


def client_ports(server_port: int) -> set[int]:
    """Local ports of established TCP connections to `server_port` on this machine, from /proc/net/tcp{,6}."""
    ports = set()
    for table in (Path("/proc/net/tcp"), Path("/proc/net/tcp6")):
        for line in table.read_text().splitlines()[1:]:
            local, remote, state = line.split()[1:4]
            if state == "01" and int(remote.rsplit(":", 1)[1], 16) == server_port:  # 01 = ESTABLISHED
                ports.add(int(local.rsplit(":", 1)[1], 16))
    return ports


def test_recycled_connections_cost_the_client_nothing(tiny_repository):
    ports = free_server_ports()
    extra = (f"--grpc-max-connection-age={AGE_MS}", f"--grpc-max-connection-age-grace={AGE_MS}")
    seen, answers = set(), []
    with TritonServer(tiny_repository, ports, extra_args=extra), ToxicityClient(ports.grpc_url) as client:
        end = time.monotonic() + SECONDS
        while time.monotonic() < end:
            answers.append(client.classify("연결이 바뀌어도 답은 같아요"))  # any error fails the test
            seen |= client_ports(ports.grpc)
    assert len(seen) >= SECONDS * 1000 // AGE_MS - 1, f"only {len(seen)} connections in {SECONDS} s"
    assert len(answers) > 50 and all(a == answers[0] for a in answers)
