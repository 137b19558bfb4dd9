"""server/Dockerfile read against the project: image tag, copied files, entrypoint, ports, user, what it installs.

No Docker engine runs here, so the file is parsed and every claim it makes is checked against the launcher, the
contract and the pins it must agree with.
"""

import ast
import fnmatch
import json
import re
import subprocess
import sys
import tomllib
from importlib.metadata import version
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from deployment_files import pins
from kotox_build.repository import SERVED_AT, cpu_instances
from kotox_client import contract
from kotox_server.triton import Ports, TritonServer

ROOT = Path(__file__).resolve().parent.parent
DOCKERFILE = ROOT / "server" / "Dockerfile"
REQUIREMENTS = ROOT / "server" / "container-requirements.txt"
CONTAINER_PYTHON = (3, 10)  # Ubuntu 22.04's Python in nvcr.io/nvidia/tritonserver:24.10-py3


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs of the Dockerfile, continuation lines joined, comments dropped."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text(encoding="utf-8"))
    lines = [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.strip().startswith("#")]
    return [(ln.split(None, 1)[0].upper(), ln.split(None, 1)[1] if " " in ln else "") for ln in lines]


def args_of(name: str) -> list[str]:
    return [a for i, a in instructions() if i == name]


def ngc_release(triton_version: str) -> str:
    """The NGC container release of a Triton server version: monthly since 2.42 = 24.01."""
    minor = int(triton_version.split(".")[1])
    months = 2024 * 12 + (minor - 42)
    return f"{months // 12 % 100:02d}.{months % 12 + 1:02d}"


def test_release_rule_matches_known_pairs():
    assert [ngc_release(v) for v in ("2.40.0", "2.42.0", "2.51.0", "2.54.0")] == ["23.11", "24.01", "24.10", "25.01"]


def test_image_is_the_official_container_of_the_pinned_server_version():
    images = [a.split()[0] for a in args_of("FROM")]
    assert images[0] == f"nvcr.io/nvidia/tritonserver:{ngc_release(version('tritonclient'))}-py3"
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    pinned = next(Requirement(d) for d in pyproject if d.startswith("tritonclient"))
    assert version("tritonclient") in pinned.specifier
    assert images[1:] == ["runtime", "runtime"]  # the cpu and bundled (GPU) stages build on the runtime stage


def _dockerignore_allows(path: str) -> bool:
    allowed = True
    for pattern in (ROOT / ".dockerignore").read_text().splitlines():
        pattern = pattern.strip()
        if not pattern or pattern.startswith("#"):
            continue
        negate, pattern = pattern.startswith("!"), pattern.lstrip("!").rstrip("/")
        parts = Path(path).parts
        if any(fnmatch.fnmatch("/".join(parts[:n]), pattern) for n in range(1, len(parts) + 1)):
            allowed = negate
    return allowed


BUILT = {"model_repository_gpu": "gpu-repository", "model_repository_cpu": "cpu-repository"}  # folder: make target


def test_copied_sources_exist_and_pass_the_dockerignore():
    sources = [a.split()[-2] for a in args_of("COPY")]
    assert sources
    assert [a.split()[-1] for a in args_of("COPY") if a.split()[-2] in BUILT] == [SERVED_AT] * len(BUILT)
    for src in sources:
        if src in BUILT:  # built by its make target, never committed
            assert re.search(rf"^{BUILT[src]}:.*\n\t.*--out {src}$", (ROOT / "Makefile").read_text(), re.M)
            assert f"/{src}/" in (ROOT / ".gitignore").read_text().splitlines()
            assert _dockerignore_allows(f"{src}/toxicity/config.pbtxt")
        else:
            tracked = [src] if (ROOT / src).is_file() else subprocess.run(
                ["git", "ls-files", src], cwd=ROOT, capture_output=True, text=True).stdout.split()
            assert tracked, f"{src} does not exist in the project"
            excluded = [f for f in tracked if not _dockerignore_allows(f)]
            assert not excluded, f"{excluded} are excluded by .dockerignore"
    assert not _dockerignore_allows("checkpoints/demo/phase2/model.safetensors")
    assert not _dockerignore_allows(".venv/bin/python")


def make_dry_run(target: str) -> str:
    """The commands `make TARGET` would run, without its prerequisites."""
    skipped = [f"--old-file={t}" for t in ("setup", "gpu-repository", "cpu-repository") if t != target]
    return subprocess.run(["make", "-n", *skipped, target], cwd=ROOT, capture_output=True, text=True,
                          check=True).stdout


def test_image_targets_tag_what_the_overlays_run():
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    assert f"-t kotox-triton:{version} ." in make_dry_run("image")
    assert f"--target cpu -t kotox-triton-cpu:{version} ." in make_dry_run("image-cpu")


def test_gpu_repository_gets_the_entry_processes_of_the_gpu_pods_cores():
    """Built on any machine, the BLS entry count is that of the cores the gpu overlay gives a pod."""
    gpu = yaml.safe_load_all((ROOT / "server" / "k8s" / "overlays" / "gpu" / "gpu.yaml").read_text())
    (box,) = [c for d in gpu if d and d["kind"] == "Deployment" for c in d["spec"]["template"]["spec"]["containers"]]
    cores = int(box["resources"]["requests"]["cpu"])
    (line,) = [ln for ln in make_dry_run("gpu-repository").splitlines() if "kotox_build" in ln]
    per_pod = subprocess.run(["bash", "-c", f"echo {re.search(r'--cpu-instances (.+?) --', line).group(1)}"],
                             capture_output=True, text=True, check=True).stdout.strip()
    assert int(per_pod) == cpu_instances(cores, "bls", "gpu")


def exposed() -> set[int]:
    return {int(p.split("/")[0]) for a in args_of("EXPOSE") for p in a.split()}


def test_exposed_ports_are_the_contract_ports_the_launcher_binds():
    ports = {v for k, v in vars(contract).items() if k.startswith("DEFAULT_") and k.endswith("_PORT")}
    assert exposed() == ports
    command = TritonServer(Path("/models"), Ports(host="0.0.0.0")).command(Path("b"), Path("c"), Path("tritonserver"))
    flags = dict(arg[2:].split("=", 1) for arg in command[1:] if arg.startswith("--") and "=" in arg)
    assert {int(v) for k, v in flags.items() if k.endswith("-port")} <= exposed()
    assert flags["model-repository"] == "/models" and flags["grpc-address"] == "0.0.0.0"


def entrypoint() -> list[str]:
    (text,) = args_of("ENTRYPOINT")
    return json.loads(text)  # exec form: signals reach the launcher, which stops tritonserver cleanly


def test_entrypoint_is_the_kotox_launcher_and_it_accepts_every_option(tmp_path):
    argv = entrypoint()
    assert argv[:3] == ["python3", "-m", "kotox_server"]
    options = argv[3:]
    assert options[options.index("--repository") + 1] == SERVED_AT  # where GPU configs put TensorRT's cache
    missing = tmp_path / "models"
    options[options.index("--repository") + 1] = str(missing)
    run = subprocess.run([sys.executable, "-m", "kotox_server", *options], capture_output=True, text=True, timeout=60)
    assert run.returncode == 2 and f"no model repository at {missing}" in run.stderr  # parsed, then refused


def test_server_runs_as_a_non_root_user():
    users = args_of("USER")
    assert users and users[-1] not in ("root", "0")
    assert any(f"useradd" in a and users[-1] in a for a in args_of("RUN"))


def test_container_adds_only_pinned_packages_the_project_also_allows():
    project = {canonicalize_name(Requirement(d).name): Requirement(d) for d in
               tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]}
    pinned = pins(REQUIREMENTS)  # the image must pin exact versions
    for name, exact in pinned.items():
        assert exact in project[name].specifier, f"{name}=={exact} is outside pyproject's {project[name]}"
    assert pinned.keys() >= {"tokenizers", "numpy"}


def _guarded(tree: ast.AST) -> set[int]:
    """ids of import nodes inside `try: ... except ImportError`: optional imports with a fallback."""
    return {id(n) for t in ast.walk(tree) if isinstance(t, ast.Try)
            and any(isinstance(h.type, ast.Name) and h.type.id == "ImportError" for h in t.handlers)
            for stmt in t.body for n in ast.walk(stmt)}


def _imports(path: Path) -> set[str]:
    names = set()
    tree = ast.parse(path.read_text(encoding="utf-8"), feature_version=CONTAINER_PYTHON)
    guarded = _guarded(tree)
    for node in ast.walk(tree):
        if id(node) in guarded:
            continue
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            names.add(node.module)
    return names


def launcher_modules() -> set[Path]:
    """server/*.py files the entrypoint reaches through kotox_server imports."""
    seen, todo = set(), [ROOT / "server" / "__main__.py"]
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        todo += [ROOT / "server" / f"{m.split('.')[1]}.py" for m in _imports(path) if m.startswith("kotox_server.")]
    return seen


@pytest.mark.parametrize("files, allowed", [
    (lambda: launcher_modules() | set((ROOT / "client" / "kotox_client").glob("*.py")),
     {"kotox_server", "kotox_client", "tritonclient", "numpy", "grpc"}),
    (lambda: {ROOT / "model_repository" / n for n in ("tokenizer.py", "fusion.py", "bls_entry.py", "refusals.py")},
     {"numpy", "tokenizers", "triton_python_backend_utils", "tokenizer", "fusion", "refusals"}),  # last 3: copied beside
])
def test_what_runs_in_the_container_imports_only_what_it_installs_and_parses_as_python_3_10(files, allowed):
    stdlib = set(sys.stdlib_module_names) - {"tomllib"}  # tomllib is new in 3.11
    for path in files():
        outside = {m for m in _imports(path) if m.split(".")[0] not in stdlib | allowed}
        assert not outside, f"{path.relative_to(ROOT)} imports {outside}, which the image does not install"


def test_readme_docker_run_line_publishes_every_port_and_enough_shared_memory():
    readme = (ROOT / "server" / "README.md").read_text(encoding="utf-8")
    runs = [ln for ln in re.sub(r"\\\n\s*", " ", readme).splitlines() if ln.startswith("docker run")]
    assert runs
    for run in runs:
        assert "--gpus all" in run
        shm = re.search(r"--shm-size[= ](\d+)([gm])", run)
        assert shm and int(shm.group(1)) * (1024 if shm.group(2) == "g" else 1) >= 256, run
        published = {int(p) for a, b in re.findall(r"-p (\d+)(?:-(\d+))?:", run)
                     for p in range(int(a), int(b or a) + 1)}
        assert published >= exposed(), run
