"""The default spec's demo members, trained from the data folder and served, beat the TF-IDF baseline on BEEP! dev."""

import json

import pytest

from conftest import free_server_ports
from kotox_build.pipeline import build
from kotox_build.spec import load_spec
from kotox_client import ToxicityClient
from kotox_server.demo import SAMPLES
from kotox_server.report import evaluate, write_report
from kotox_server.triton import TritonServer

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """The demo spec trained (cached in its checkpoint folders), built, served; BEEP! dev report and sample answers."""
    spec = load_spec()
    repository = build(spec, tmp_path_factory.mktemp("demo") / "model_repository")
    with TritonServer(repository, free_server_ports()) as server, \
            ToxicityClient(server.ports.grpc_url, spec.name) as client:
        return spec, evaluate(client, spec), client.classify(SAMPLES)


def test_fused_ensemble_beats_the_baseline_on_f1_and_accuracy(served):
    _, report, _ = served
    fused, baseline = report["results"]["fused"], report["results"]["baseline"]
    assert report["rows"] == 471
    assert fused["f1"] > baseline["f1"] and fused["accuracy"] > baseline["accuracy"], report["results"]


def test_every_member_is_a_real_classifier(served):
    spec, report, _ = served
    baseline = report["results"]["baseline"]
    for member in spec.members:
        assert report["results"][member.name]["f1"] > baseline["f1"], member.name
        assert report["members"][member.name]["recipe"]["seed"] == member.train.seed


def test_sample_comments_get_sensible_labels(served):
    spec, _, answers = served
    toxic = [a.label == spec.labels[1] for a in answers]
    assert toxic[:3] == [False] * 3 and sum(toxic[3:]) >= len(SAMPLES) - 4  # 3 clean, then toxic ones


def test_report_is_written_as_markdown_and_json(served, tmp_path):
    spec, report, _ = served
    markdown = write_report(report, tmp_path).read_text(encoding="utf-8")
    for name in [m.name for m in spec.members] + ["**fused**", "baseline"]:
        assert f"| {name} |" in markdown
    assert json.loads((tmp_path / "beep-dev-report.json").read_text(encoding="utf-8"))["results"] == report["results"]
