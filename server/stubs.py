"""Find the Python-backend stub processes a tritonserver runs, by model instance, from /proc."""

from __future__ import annotations

from pathlib import Path

STUB = b"triton_python_backend_stub"
INSTANCE_ARG = 8  # argv of a stub: binary, model.py, shm region, shm sizes x2, parent pid, backend dir, ipc, instance


def live_stubs(server_pid: int, proc: Path = Path("/proc")) -> dict[str, int]:
    """{model instance name (e.g. `phase2_0_0`): pid} of the server's stubs that are running (zombies excluded)."""
    found = {}
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:  # the process ended while we looked
            continue
        state, ppid = stat.rsplit(")", 1)[1].split()[:2]
        if int(ppid) == server_pid and state not in "ZX" and argv[0].endswith(STUB) and len(argv) > INSTANCE_ARG:
            found[argv[INSTANCE_ARG].decode()] = int(entry.name)
    return found


def model_of(instance: str) -> str:
    """The model an instance name belongs to: `phase2_0_0` -> `phase2` (Triton names instances model_group_index)."""
    return instance.rsplit("_", 2)[0]
