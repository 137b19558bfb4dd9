"""Integration: the roadmap spec (phase2, phase4, the Phase 5 CNN-head member, stacked fusion) over tiny checkpoints,
served by a real tritonserver: answers equal the offline PyTorch models, whatever the batch and however short."""

import dataclasses
import json
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import torch
from google.protobuf import text_format
from transformers import AutoModelForSequenceClassification, AutoTokenizer
import tritonclient.grpc as grpcclient
from tritonclient.grpc import model_config_pb2 as mc

from conftest import free_server_ports
from kotox_build.checkpoints import checkpoint_spec
from kotox_build.data import beep
from kotox_build.export import ONNX_INPUTS, ONNX_OUTPUT
from kotox_build.pipeline import build
from kotox_build.repository import VERSION
from kotox_build.spec import DEFAULT_SPEC, FUSION_MODEL
from kotox_build.stacking import fit_combiner, fit_stacked, fusion_rows_of
from kotox_client import ToxicityClient
from kotox_server.triton import TritonServer

pytestmark = pytest.mark.integration
ROADMAP_SPEC = DEFAULT_SPEC.parent / "examples" / "seed-roadmap.toml"
TOLERANCE = 1e-4
SHORT = ["ㅋ", "안녕", "ㅋㅋ", "좋아"]


@pytest.fixture(scope="module")
def roadmap(tmp_path_factory):
    """The roadmap spec over tiny checkpoints (phase5 with the CNN head), built and served."""
    spec = checkpoint_spec("tiny", tmp_path_factory.mktemp("roadmap-checkpoints"), ROADMAP_SPEC)
    repository = build(spec, tmp_path_factory.mktemp("roadmap") / "model_repository")
    with TritonServer(repository, free_server_ports()) as server, \
            ToxicityClient(server.ports.grpc_url, spec.name, batch_size=32) as client:
        yield spec, repository, client


def parameters(repository, model: str) -> dict[str, str]:
    config = text_format.Parse((repository / model / "config.pbtxt").read_text(), mc.ModelConfig())
    return {k: v.string_value for k, v in config.parameters.items()}


def offline_log_odds(spec, texts: list[str]) -> np.ndarray:
    """PyTorch member toxic log-odds [rows, members], each comment run alone (no padding at all)."""
    odds = np.zeros((len(texts), len(spec.members)))
    for j, member in enumerate(spec.members):
        tokenizer = AutoTokenizer.from_pretrained(member.checkpoint)
        model = AutoModelForSequenceClassification.from_pretrained(member.checkpoint).eval()
        for i, text in enumerate(texts):
            with torch.no_grad():
                logits = model(**tokenizer([text], truncation=True, max_length=spec.max_tokens,
                                           return_tensors="pt")).logits.double()
            odds[i, j] = (logits[0, 1] - logits[0, 0]).item()
    return odds


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1 + np.tanh(0.5 * x))


def member_probs(spec, answers) -> np.ndarray:
    return np.array([[a.member_probs[m.name] for m in spec.members] for a in answers])


def test_phase5_is_a_cnn_head_member_and_configs_say_stacked(roadmap):
    spec, repository, _ = roadmap
    phase5 = AutoModelForSequenceClassification.from_pretrained(spec.members[2].checkpoint)
    assert type(phase5).__name__ == "KotoxCnnForSequenceClassification"
    assert parameters(repository, spec.name)["fusion"] == "stacked"
    fusion = parameters(repository, FUSION_MODEL)
    assert fusion["fusion"] == "stacked" and len(json.loads(fusion["coefficients"])) == len(spec.members)


def test_served_stacked_fusion_equals_offline_combiner(roadmap):
    spec, repository, client = roadmap
    texts = [t for t, _ in beep("dev")[:40]] + SHORT
    answers = client.classify(texts)
    odds = offline_log_odds(spec, texts)
    np.testing.assert_allclose(member_probs(spec, answers), sigmoid(odds), atol=TOLERANCE, rtol=0)
    fusion = parameters(repository, FUSION_MODEL)
    expected = sigmoid(float(fusion["intercept"]) + odds @ np.asarray(json.loads(fusion["coefficients"])))
    served = np.array([a.toxic_prob for a in answers])
    np.testing.assert_allclose(served, expected, atol=TOLERANCE, rtol=0)
    clear = np.abs(expected - spec.threshold) > TOLERANCE
    assert [a.label for a, c in zip(answers, clear) if c] == \
        [spec.labels[int(e > spec.threshold)] for e, c in zip(expected, clear) if c]


def test_own_fusion_rows_fit_the_combiner_on_those_rows(roadmap, tmp_path):
    spec, repository, _ = roadmap
    assert parameters(repository, FUSION_MODEL)["fitted_on"].endswith("(kotox_build.data.fusion_rows)")
    rows = beep("dev")[100:220]
    path = tmp_path / "held.tsv"
    path.write_text("text\tlabel\n" + "".join(f"{t}\t{spec.labels[y]}\n" for t, y in rows), encoding="utf-8")
    own = dataclasses.replace(spec, fusion_rows=path)
    fitted = fit_stacked(own, repository, AutoTokenizer.from_pretrained(spec.members[0].checkpoint), VERSION,
                         fusion_rows_of(own))
    coefficients, intercept = fit_combiner(offline_log_odds(spec, [t for t, _ in rows]), [y for _, y in rows])
    np.testing.assert_allclose(fitted["coefficients"], coefficients, atol=1e-3, rtol=0)
    assert abs(fitted["intercept"] - intercept) < 1e-3
    assert fitted["fitted_on"] == f"{len(rows)} labelled rows of held.tsv (ensemble.fusion_rows)"


def test_every_member_answers_a_comment_the_same_alone_or_in_a_ragged_batch(roadmap):
    spec, _, client = roadmap
    texts = SHORT + [t for t, _ in beep("dev")[40:70]] + ["이 댓글은 아주 깁니다 " * 40]
    batched = member_probs(spec, client.classify(texts))  # one request: every row padded to the longest
    with ThreadPoolExecutor(8) as pool:  # many requests of different widths: merged in one member execute
        concurrent = member_probs(spec, [a[0] for a in pool.map(lambda t: client.classify([t]), texts)])
    alone = member_probs(spec, [client.classify([t])[0] for t in texts])
    np.testing.assert_allclose(batched, alone, atol=TOLERANCE, rtol=0)
    np.testing.assert_allclose(concurrent, alone, atol=TOLERANCE, rtol=0)


def test_every_member_called_directly_with_token_tensors_answers_as_in_the_ensemble(roadmap):
    """As on GPU builds, a member takes the three token tensors alone (no schedule: no deadline), padded or not."""
    spec, _, client = roadmap
    texts = SHORT + [t for t, _ in beep("dev")[70:90]]
    served = member_probs(spec, client.classify(texts))
    raw = grpcclient.InferenceServerClient(client.url)
    for j, member in enumerate(spec.members):
        tokenizer = AutoTokenizer.from_pretrained(member.checkpoint)

        def direct(batch: list[str]) -> np.ndarray:
            encoded = tokenizer(batch, padding=True, truncation=True, max_length=spec.max_tokens, return_tensors="np")
            tensors = [grpcclient.InferInput(n, encoded[n].shape, "INT64") for n in ONNX_INPUTS]
            for tensor in tensors:
                tensor.set_data_from_numpy(encoded[tensor.name()].astype(np.int64))
            logits = raw.infer(member.name, tensors).as_numpy(ONNX_OUTPUT)
            return sigmoid(logits[:, 1] - logits[:, 0])

        np.testing.assert_allclose(direct(texts), served[:, j], atol=TOLERANCE, rtol=0)
        np.testing.assert_allclose([direct([t])[0] for t in texts], served[:, j], atol=TOLERANCE, rtol=0)


def test_comments_shorter_than_the_widest_kernel_get_valid_answers(roadmap):
    spec, _, client = roadmap
    answers = client.classify(SHORT)
    tokenizer = AutoTokenizer.from_pretrained(spec.members[2].checkpoint)
    assert min(len(tokenizer(t)["input_ids"]) for t in SHORT) < 4  # [CLS] ㅋ [SEP]: narrower than kernel 4
    probs = member_probs(spec, answers)
    assert np.isfinite(probs).all() and ((probs >= 0) & (probs <= 1)).all()
    assert all(a.label in spec.labels and 0 <= a.toxic_prob <= 1 for a in answers)
    np.testing.assert_allclose(probs, sigmoid(offline_log_odds(spec, SHORT)), atol=TOLERANCE, rtol=0)
