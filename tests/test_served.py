"""Integration: a real tritonserver serving the tiny deployment answers exactly what the offline models compute,
through either served entry: the Triton ensemble, and the BLS entry GPU builds serve."""

import asyncio
import json
import subprocess
import sys
import unicodedata
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import torch
import tritonclient.grpc as grpcclient
from transformers import AutoModelForSequenceClassification, AutoTokenizer

from conftest import free_server_ports
from kotox_build.data import beep
from kotox_build.pipeline import build
from kotox_build.repository import ENTRIES
from kotox_client import (AsyncToxicityClient, BadInputError, ModelNotReadyError, ServerUnreachableError,
                          ToxicityClient, contract)
from kotox_server.triton import TritonServer

pytestmark = pytest.mark.integration
TOLERANCE = 1e-4
LONG = "이 댓글은 최대 토큰 수보다 훨씬 깁니다 정말로 " * 80


@pytest.fixture(scope="module", params=ENTRIES)
def server(request, server, tiny_spec, tmp_path_factory):
    """The tiny deployment served through each entry: conftest's ensemble server, or a BLS build of the same spec."""
    if request.param == "ensemble":
        yield server
        return
    repository = build(tiny_spec, tmp_path_factory.mktemp("bls") / "repo", entry="bls")
    with TritonServer(repository, free_server_ports()) as running:
        yield running


@pytest.fixture(scope="module")
def client(server):
    with ToxicityClient(server.ports.grpc_url, batch_size=16) as c:
        yield c


@pytest.fixture(scope="module")
def comments() -> list[str]:
    """Real Korean comments (BEEP! dev), plus an empty one and one longer than max tokens."""
    return [text for text, _ in beep("dev")[:60]] + ["", LONG]


def offline(spec, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """PyTorch reference: per-member toxic probabilities [B, N] and the fused sum(w_i * p_i) [B]."""
    probs = []
    for member in spec.members:
        tokenizer = AutoTokenizer.from_pretrained(member.checkpoint)
        model = AutoModelForSequenceClassification.from_pretrained(member.checkpoint).eval()
        enc = tokenizer(texts, truncation=True, max_length=spec.max_tokens, padding=True, return_tensors="pt")
        with torch.no_grad():
            probs.append(torch.softmax(model(**enc).logits.double(), -1)[:, 1].numpy())
    member_probs = np.stack(probs, axis=1)
    return member_probs, member_probs @ np.asarray(spec.weights)


def test_served_probabilities_match_offline_pytorch(client, tiny_spec, comments):
    results = client.classify(comments)
    member_probs, fused = offline(tiny_spec, comments)
    served = np.array([r.toxic_prob for r in results])
    assert len(results) == len(comments) >= 50
    np.testing.assert_allclose(served, fused, atol=TOLERANCE, rtol=0)
    served_members = np.array([[r.member_probs[m.name] for m in tiny_spec.members] for r in results])
    np.testing.assert_allclose(served_members, member_probs, atol=TOLERANCE, rtol=0)
    clear = np.abs(fused - tiny_spec.threshold) > TOLERANCE  # labels compared where float noise cannot flip them
    expected = np.where(fused > tiny_spec.threshold, tiny_spec.labels[1], tiny_spec.labels[0])
    assert clear.sum() >= 50
    assert [r.label for r in results] == [e if c else r.label for e, c, r in zip(expected, clear, results)]
    assert len({r.label for r in results}) == 2, "tiny members should produce both labels on real comments"


def test_batched_and_single_requests_agree(client, comments):
    batched = client.classify(comments[:20])
    singles = [client.classify(text) for text in comments[:20]]
    for b, s in zip(batched, singles):
        assert b.label == s.label
        assert b.toxic_prob == pytest.approx(s.toxic_prob, abs=TOLERANCE)


def test_long_comment_is_truncated_not_rejected(client, tiny_spec):
    result = client.classify(LONG)
    _, fused = offline(tiny_spec, [LONG])
    assert result.toxic_prob == pytest.approx(fused[0], abs=TOLERANCE)
    assert client.classify(LONG + " 더 붙인 꼬리").toxic_prob == pytest.approx(result.toxic_prob, abs=TOLERANCE)


def test_empty_string_gets_a_result_and_server_keeps_serving(client, comments):
    result = client.classify("")
    assert result.label in client.deployment.labels and 0.0 <= result.toxic_prob <= 1.0
    assert client.classify(comments[0]).label in client.deployment.labels


def test_score_is_probability_of_label(client, comments):
    for r in client.classify(comments[:10]):
        toxic = r.label == client.deployment.labels[1]
        assert r.score == pytest.approx(r.toxic_prob if toxic else 1 - r.toxic_prob)
        assert r.score >= 0.5 - TOLERANCE


def test_invalid_utf8_fails_alone_and_other_requests_succeed(server, client, comments):
    raw = grpcclient.InferenceServerClient(server.ports.grpc_url)

    def send(payload: bytes):
        tensor = grpcclient.InferInput(contract.INPUT_TEXT, [1, 1], "BYTES")
        tensor.set_data_from_numpy(np.array([[payload]], dtype=np.object_))
        try:
            return raw.infer(contract.ENSEMBLE, [tensor]).as_numpy(contract.OUTPUT_TOXIC_PROB)
        except grpcclient.InferenceServerException as err:
            return err

    payloads = [b"\xff\xfe broken"] + [c.encode() for c in comments[:15]]
    with ThreadPoolExecutor(8) as pool:  # concurrent, so the bad row shares batches with good ones
        answers = list(pool.map(send, payloads))
    assert isinstance(answers[0], grpcclient.InferenceServerException)
    assert "UTF-8" in answers[0].message()
    expected = client.classify(comments[:15])
    for answer, result in zip(answers[1:], expected):
        assert not isinstance(answer, Exception)
        assert float(answer.reshape(-1)[0]) == pytest.approx(result.toxic_prob, abs=TOLERANCE)


def test_client_splits_long_lists(server, comments):
    with ToxicityClient(server.ports.grpc_url, batch_size=3) as small, ToxicityClient(server.ports.grpc_url) as big:
        a, b = small.classify(comments[:10]), big.classify(comments[:10])
    assert [x.label for x in a] == [y.label for y in b]
    np.testing.assert_allclose([x.toxic_prob for x in a], [y.toxic_prob for y in b], atol=TOLERANCE)


def test_async_client_agrees_with_sync(server, client, comments):
    async def run():
        async with AsyncToxicityClient(server.ports.grpc_url, batch_size=4) as aclient:
            assert await aclient.ready()
            return await aclient.classify(comments[:12])

    expected = client.classify(comments[:12])
    got = asyncio.run(run())
    assert [r.label for r in got] == [r.label for r in expected]
    np.testing.assert_allclose([r.toxic_prob for r in got], [r.toxic_prob for r in expected], atol=TOLERANCE)


def test_async_client_checks_every_text_before_sending_any(server, comments):
    """A bad text late in a long list fails the call before any batch is sent: a failure with batches in flight
    would leave them to be cancelled when the client closes, which can crash a Triton 2.51 server."""
    raw = grpcclient.InferenceServerClient(server.ports.grpc_url)

    def answered() -> int:
        (stats,) = raw.get_inference_statistics(contract.ENSEMBLE, as_json=True)["model_stats"]
        return int(stats["inference_stats"]["success"].get("count", 0))

    async def run(**settings):
        async with AsyncToxicityClient(server.ports.grpc_url, batch_size=4, **settings) as aclient:
            return await aclient.classify(comments * 10 + ["\ud800 lone surrogate"])

    before = answered()
    with pytest.raises(BadInputError, match=rf"texts\[{len(comments) * 10}\]"):
        asyncio.run(run())
    assert answered() == before, "no batch was sent"
    with pytest.raises(BadInputError, match="max_in_flight"):
        asyncio.run(run(max_in_flight=0))


def test_async_client_with_one_batch_in_flight_answers_in_order(server, client, comments):
    async def run():
        async with AsyncToxicityClient(server.ports.grpc_url, batch_size=3, max_in_flight=1) as aclient:
            return await aclient.classify(comments[:12])

    assert [r.label for r in asyncio.run(run())] == [r.label for r in client.classify(comments[:12])]


def test_member_probs_follow_spec_order(client, tiny_spec):
    assert list(client.classify("안녕하세요").member_probs) == [m.name for m in tiny_spec.members]


def test_typed_errors(server, client):
    with pytest.raises(BadInputError, match=r"texts\[1\]"):
        client.classify(["ok", 3])
    with pytest.raises(BadInputError, match="batch_size"):
        ToxicityClient(server.ports.grpc_url, batch_size=10_000).classify(["a"])
    with pytest.raises(ModelNotReadyError, match="no_such_model"):
        ToxicityClient(server.ports.grpc_url, model="no_such_model").classify("a")
    with pytest.raises(ServerUnreachableError, match="kotox_server"):
        ToxicityClient("127.0.0.1:9", timeout=5).classify("a")


def test_cli_prints_json_lines(server):
    cli = [sys.executable, "-m", "kotox_client.cli", "--url", server.ports.grpc_url]
    from_stdin = subprocess.run(cli, input="첫 번째 댓글\n두 번째 댓글\n", capture_output=True, text=True, timeout=60)
    from_args = subprocess.run(cli + ["첫 번째 댓글"], capture_output=True, text=True, timeout=60)
    assert from_stdin.returncode == 0 and from_args.returncode == 0, from_stdin.stderr + from_args.stderr
    rows = [json.loads(line) for line in from_stdin.stdout.splitlines()]
    assert [r["text"] for r in rows] == ["첫 번째 댓글", "두 번째 댓글"]
    assert all({"label", "score", "toxic_prob", "member_probs"} <= set(r) for r in rows)
    assert json.loads(from_args.stdout) == rows[0]


def test_nfd_hangul_reads_like_nfc(client, comments):
    hangul = [c for c in comments if any("가" <= ch <= "힣" for ch in c)][:20]
    decomposed = [unicodedata.normalize("NFD", c) for c in hangul]
    assert all(d != c for d, c in zip(decomposed, hangul))  # really sent as jamo
    np.testing.assert_allclose([r.toxic_prob for r in client.classify(decomposed)],
                               [r.toxic_prob for r in client.classify(hangul)], atol=TOLERANCE)


def member_executions(raw: grpcclient.InferenceServerClient, member: str) -> tuple[int, int]:
    """(inferences, executions) the server has counted for one member."""
    stats = raw.get_inference_statistics(member, as_json=True)["model_stats"][0]
    return int(stats.get("inference_count", 0)), int(stats.get("execution_count", 0))


def test_members_batch_requests_of_different_lengths(server, client, tiny_spec):
    texts = [" ".join(["네"] * k) for k in range(1, tiny_spec.max_tokens - 2)]  # one token per 네: all lengths differ
    raw = grpcclient.InferenceServerClient(server.ports.grpc_url)
    member = tiny_spec.members[0].name
    before = member_executions(raw, member)
    with ThreadPoolExecutor(16) as pool:
        concurrent = list(pool.map(client.classify, texts))
    inferences, executions = (a - b for a, b in zip(member_executions(raw, member), before))
    assert inferences == len(texts) and executions < inferences  # equal-shape-only batching would execute each alone
    np.testing.assert_allclose([r.toxic_prob for r in concurrent], [r.toxic_prob for r in client.classify(texts)],
                               atol=TOLERANCE)
