"""constraints.txt, the versions that decide what the build writes: installed as pinned, and agreeing with the
container's pins, so the tokenizer.json written here is read by the same tokenizers version there."""

from importlib.metadata import version

from deployment_files import ROOT, pins


def test_the_environment_has_the_pinned_versions():
    constrained = pins(ROOT / "constraints.txt")
    assert {"transformers", "tokenizers", "scikit-learn", "onnxruntime"} <= constrained.keys()
    assert {name: version(name) for name in constrained} == constrained, "run `make setup`"


def test_the_container_pins_the_same_versions_as_the_build():
    constrained, container = pins(ROOT / "constraints.txt"), pins(ROOT / "server" / "container-requirements.txt")
    shared = constrained.keys() & container.keys()
    assert {"tokenizers", "numpy"} <= shared
    assert {name: container[name] for name in shared} == {name: constrained[name] for name in shared}
