"""A sentiment deployment (examples/nsmc-sentiment.toml) over tiny checkpoints: built and served by a real
tritonserver, it answers with its own labels and output names; the toxicity contract beside it is unchanged."""

import numpy as np
import pytest
import torch
import tritonclient.grpc as grpcclient
from transformers import AutoModelForSequenceClassification, AutoTokenizer
from tritonclient.grpc import model_config_pb2 as mc

from conftest import free_server_ports
from kotox_build import repository
from kotox_build.checkpoints import checkpoint_spec
from kotox_build.pipeline import build
from kotox_build.spec import DEFAULT_SPEC, FUSION_MODEL, load_spec
from kotox_client import ToxicityClient, contract
from kotox_client.request import Deployment
from kotox_server.demo import SAMPLES
from kotox_server.triton import TritonServer

SENTIMENT_SPEC = DEFAULT_SPEC.parent / "examples" / "nsmc-sentiment.toml"
REVIEWS = SAMPLES["nsmc"]
TOLERANCE = 1e-4
OUTPUTS = ("label", "positive_prob", "member_probs")


@pytest.fixture(scope="module")
def sentiment(tmp_path_factory):
    """The sentiment spec over tiny checkpoints, built and served; its spec, server and client."""
    spec = checkpoint_spec("tiny", tmp_path_factory.mktemp("sentiment-checkpoints"), SENTIMENT_SPEC)
    repo = build(spec, tmp_path_factory.mktemp("sentiment") / "model_repository")
    with TritonServer(repo, free_server_ports()) as server, ToxicityClient(server.ports.grpc_url, spec.name) as client:
        yield spec, server, client


def offline_positive_probs(spec, texts: list[str]) -> np.ndarray:
    """PyTorch reference: the one member's probability of label 1 per text."""
    (member,) = spec.members
    tokenizer = AutoTokenizer.from_pretrained(member.checkpoint)
    model = AutoModelForSequenceClassification.from_pretrained(member.checkpoint).eval()
    with torch.no_grad():
        logits = model(**tokenizer(texts, truncation=True, max_length=spec.max_tokens, padding=True,
                                   return_tensors="pt")).logits.double()
    return torch.softmax(logits, -1)[:, 1].numpy()


def test_spec_names_a_sentiment_deployment_of_koelectra_small_shape():
    spec = load_spec(SENTIMENT_SPEC)
    (member,) = spec.members
    assert (spec.name, spec.labels, spec.data, spec.outputs) == ("sentiment", ("negative", "positive"), "nsmc", OUTPUTS)
    shape = (member.train.embedding_size, member.train.hidden_size, member.train.heads, member.train.intermediate_size)
    assert shape == (128, 256, 4, 1024) and member.weight == 1.0


def test_configs_render_outputs_named_after_the_positive_label():
    spec = load_spec(SENTIMENT_SPEC)
    ensemble = repository.ensemble_config(spec, "python")
    fusion = repository.fusion_config(spec)
    assert tuple(o.name for o in ensemble.output) == tuple(o.name for o in fusion.output) == OUTPUTS
    fusion_step = next(s for s in ensemble.ensemble_scheduling.step if s.model_name == FUSION_MODEL)
    assert set(fusion_step.output_map) == set(OUTPUTS)


def test_client_reads_labels_and_outputs_from_the_config_else_the_contract():
    params = {"members": {"string_value": '["m"]'}}
    old = Deployment.from_config({"max_batch_size": 8, "parameters": params})
    assert (old.labels, old.outputs) == (contract.LABELS, contract.OUTPUTS)
    params["labels"] = {"string_value": '["negative", "positive"]'}
    assert Deployment.from_config({"max_batch_size": 8, "parameters": params}).outputs == OUTPUTS
    served = [{"name": name} for name in ("label", "good_prob", "member_probs")]
    declared = Deployment.from_config({"max_batch_size": 8, "parameters": params, "output": served})
    assert declared.outputs[1] == "good_prob"


@pytest.mark.integration
def test_served_config_declares_its_labels_and_outputs(sentiment):
    spec, server, client = sentiment
    assert client.deployment.labels == ("negative", "positive") and client.deployment.outputs == OUTPUTS
    config = grpcclient.InferenceServerClient(server.ports.grpc_url).get_model_config(spec.name).config
    assert [(o.name, o.data_type) for o in config.output] == [
        ("label", mc.TYPE_STRING), ("positive_prob", mc.TYPE_FP32), ("member_probs", mc.TYPE_FP32)]


@pytest.mark.integration
def test_reviews_get_pipeline_like_results_with_its_own_names(sentiment):
    spec, _, client = sentiment
    results = client.classify(REVIEWS)
    expected = offline_positive_probs(spec, REVIEWS)
    np.testing.assert_allclose([r.positive_prob for r in results], expected, atol=TOLERANCE, rtol=0)
    for r, p in zip(results, expected):
        assert r.label in spec.labels and r.prob_name == "positive_prob" and r.prob == r.positive_prob
        assert r.score == pytest.approx(r.prob if r.label == "positive" else 1 - r.prob)
        if abs(p - spec.threshold) > TOLERANCE:
            assert r.label == spec.labels[int(p > spec.threshold)]
        assert list(r.to_dict()) == ["label", "score", "positive_prob", "member_probs"]
    with pytest.raises(AttributeError, match="positive_prob"):
        results[0].toxic_prob


@pytest.mark.integration
def test_raw_grpc_reads_positive_prob_and_has_no_toxic_prob(sentiment):
    spec, server, client = sentiment
    raw = grpcclient.InferenceServerClient(server.ports.grpc_url)
    tensor = grpcclient.InferInput(contract.INPUT_TEXT, [1, 1], "BYTES")
    tensor.set_data_from_numpy(np.array([[REVIEWS[0].encode()]], dtype=np.object_))
    answer = raw.infer(spec.name, [tensor], outputs=[grpcclient.InferRequestedOutput("positive_prob")])
    assert float(answer.as_numpy("positive_prob")[0, 0]) == pytest.approx(client.classify(REVIEWS[0]).prob, abs=1e-6)
    with pytest.raises(grpcclient.InferenceServerException):
        raw.infer(spec.name, [tensor], outputs=[grpcclient.InferRequestedOutput(contract.OUTPUT_TOXIC_PROB)])


@pytest.mark.integration
def test_toxicity_contract_is_unchanged(server):
    raw = grpcclient.InferenceServerClient(server.ports.grpc_url)
    config = raw.get_model_config(contract.ENSEMBLE).config
    assert config.name == "toxicity" and [(i.name, i.data_type) for i in config.input] == [("TEXT", mc.TYPE_STRING)]
    assert [(o.name, o.data_type, list(o.dims)) for o in config.output] == [
        ("label", mc.TYPE_STRING, [1]), ("toxic_prob", mc.TYPE_FP32, [1]), ("member_probs", mc.TYPE_FP32, [2])]
    assert config.parameters["labels"].string_value == '["clean", "toxic"]'
    with ToxicityClient(server.ports.grpc_url) as client:
        result = client.classify("음식이 신선하고 직원도 친절해요")
    assert list(result.to_dict()) == ["label", "score", "toxic_prob", "member_probs"]
    assert result.toxic_prob == result.prob and result.label in ("clean", "toxic")
