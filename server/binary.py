"""Find a `tritonserver`: the one on PATH (official container), else the binary inside the nvidia-pytriton wheel."""

from __future__ import annotations

import os
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class ServerInstall:
    """Where a tritonserver and its backends live."""

    binary: Path
    backends: Path
    caches: Path
    libs: Path | None  # shared libraries the binary needs on LD_LIBRARY_PATH (pip wheel only)
    stub: Path | None  # Python backend stub to place beside the backend (pip wheel only)

    @property
    def has_onnxruntime(self) -> bool:
        """True when this server can run `onnxruntime_onnx` models itself."""
        return (self.backends / "onnxruntime").is_dir()


def find_server() -> ServerInstall:
    """Locate tritonserver: PATH first, then the nvidia-pytriton wheel."""
    on_path = shutil.which("tritonserver")
    if on_path:
        root = Path(on_path).resolve().parent.parent
        return ServerInstall(Path(on_path), root / "backends", root / "caches", None, None)
    try:
        import pytriton
    except ImportError:
        raise FileNotFoundError("no tritonserver on PATH and the nvidia-pytriton wheel is not installed") from None
    root = Path(pytriton.__file__).resolve().parent / "tritonserver"
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    stub = root / "python_backend_stubs" / version / "triton_python_backend_stub"
    if not stub.exists():
        raise FileNotFoundError(f"nvidia-pytriton has no Python backend stub for Python {version}")
    libs = root.parent.parent / "nvidia_pytriton.libs"
    return ServerInstall(root / "bin" / "tritonserver", root / "backends", root / "caches", libs, stub)


def prepare_backends(install: ServerInstall, workspace: Path) -> Path:
    """The backend folder to pass the server: the wheel's copied into `workspace` with the stub beside it."""
    if install.stub is None:
        return install.backends
    backends = workspace / "backends"
    shutil.copytree(install.backends, backends, dirs_exist_ok=True)
    shutil.copy2(install.stub, backends / "python" / "triton_python_backend_stub")
    return backends


def server_env(install: ServerInstall) -> dict[str, str]:
    """Environment for the server: wheel libraries on LD_LIBRARY_PATH, this Python's bin first on PATH for the stub."""
    env = dict(os.environ)
    if install.libs is not None:
        env["LD_LIBRARY_PATH"] = os.pathsep.join(filter(None, [str(install.libs), env.get("LD_LIBRARY_PATH")]))
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    return env
