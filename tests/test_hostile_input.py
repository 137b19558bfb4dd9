"""Integration: the bad-input table through a real server, raw gRPC and the client; nothing breaks the server."""

import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import tritonclient.grpc as grpcclient

from kotox_build.repository import SCHEDULE
from kotox_client import BadInputError, ModelNotReadyError, ToxicityClient, contract

pytestmark = pytest.mark.integration
ORDINARY = "오늘 경기 정말 재밌었어요"
ANSWERED = {  # every one gets a label and a probability
    "empty": "",
    "whitespace only": " \t\n ",
    "NUL and control characters": "욕\x00설\x07 \x1b[31m빨강\x7f",
    "emoji": "😀🤬👍🏽 ㅋㅋ",
    "jamo only": "ㅅㅂ",
    "right-to-left": "مرحبا بالعالم",
    "bidi override": "\u202e요설 뒤집기\u202c",
    "one megabyte": "길고 긴 댓글 " * (1_000_000 // len("길고 긴 댓글 ".encode())),  # 17 bytes a repeat
}


@pytest.fixture(scope="module")
def client(server):
    with ToxicityClient(server.ports.grpc_url, timeout=60) as c:
        yield c


@pytest.fixture(scope="module")
def raw(server):
    return grpcclient.InferenceServerClient(server.ports.grpc_url)


def text_tensor(rows: list[bytes], name: str = contract.INPUT_TEXT) -> grpcclient.InferInput:
    tensor = grpcclient.InferInput(name, [len(rows), 1], "BYTES")
    tensor.set_data_from_numpy(np.array([[r] for r in rows], dtype=np.object_))
    return tensor


def refused(raw, inputs, model: str = contract.ENSEMBLE) -> grpcclient.InferenceServerException:
    with pytest.raises(grpcclient.InferenceServerException) as err:
        raw.infer(model, inputs, client_timeout=60)
    return err.value


@pytest.mark.parametrize("case", ANSWERED)
def test_hostile_text_gets_an_answer(client, case):
    result = client.classify(ANSWERED[case])
    assert result.label in client.deployment.labels and 0.0 <= result.toxic_prob <= 1.0


def test_megabyte_comment_answers_as_its_first_tokens(client):
    big = ANSWERED["one megabyte"]
    assert client.classify(big).toxic_prob == pytest.approx(client.classify(big[:5_000]).toxic_prob, abs=1e-6)


def test_invalid_utf8_is_invalid_argument(raw):
    err = refused(raw, [text_tensor([b"ok", b"\xff\xfe broken"])])
    assert "INVALID_ARGUMENT" in str(err.status()) and "row 1" in err.message() and "UTF-8" in err.message()


def test_comment_over_the_byte_limit_is_refused_by_server_and_client(raw, client, tiny_spec):
    limit = tiny_spec.max_comment_bytes
    err = refused(raw, [text_tensor([b"a" * (limit + 1)])])
    assert "INVALID_ARGUMENT" in str(err.status()) and "max_comment_bytes" in err.message()
    with pytest.raises(BadInputError, match="max_comment_bytes"):
        client.classify(["fine", "가" * (limit // 3 + 1)])
    with pytest.raises(BadInputError, match="UTF-8"):
        client.classify("\ud800 lone surrogate")


def test_oversize_batch_is_invalid_argument(raw, tiny_spec):
    err = refused(raw, [text_tensor([b"a"] * (tiny_spec.max_batch_size + 1))])
    assert "INVALID_ARGUMENT" in str(err.status()) and "batch" in err.message().lower()


def wrong_dtype():
    tensor = grpcclient.InferInput(contract.INPUT_TEXT, [1, 1], "INT64")
    tensor.set_data_from_numpy(np.array([[1]], dtype=np.int64))
    return [tensor]


def wrong_shape():
    tensor = grpcclient.InferInput(contract.INPUT_TEXT, [1, 2], "BYTES")
    tensor.set_data_from_numpy(np.array([[b"a", b"b"]], dtype=np.object_))
    return [tensor]


@pytest.mark.parametrize("inputs, words", [
    (wrong_dtype, "data-type"),
    (wrong_shape, "shape"),
    (lambda: [text_tensor([b"a"], name="COMMENT")], "COMMENT"),
    (lambda: [], "expected 1 inputs but got 0"),
], ids=["wrong dtype", "wrong shape", "wrong name", "missing input"])
def test_malformed_request_is_invalid_argument(raw, inputs, words):
    err = refused(raw, inputs())
    assert "INVALID_ARGUMENT" in str(err.status()) and words in err.message()


def test_unknown_model(raw, server):
    err = refused(raw, [text_tensor([b"a"])], model="no_such_model")
    assert "NOT_FOUND" in str(err.status()) or "unknown model" in err.message()
    with pytest.raises(ModelNotReadyError, match="no_such_model"):
        ToxicityClient(server.ports.grpc_url, model="no_such_model").classify("a")


def test_model_control_needs_the_admin_key(raw, server):
    with pytest.raises(grpcclient.InferenceServerException, match="restricted"):
        raw.unload_model(contract.ENSEMBLE)
    assert raw.is_model_ready(contract.ENSEMBLE)


def test_serves_loopback_only_by_default(server):
    cmd = " ".join(server.command(*[server.repository] * 3))
    assert server.ports.host == "127.0.0.1"
    assert all(f"--{api}-address=127.0.0.1" in cmd for api in ("http", "grpc", "metrics"))


def test_giant_comments_neither_stall_others_nor_linger(raw, client):
    """Two 30 MB comments in flight: each ends with a clear error fast, ordinary comments keep answering."""
    giant = text_tensor([("욕" * 10_000_000).encode()])  # 30 MB of UTF-8
    expected = client.classify(ORDINARY).toxic_prob

    def send_giant() -> tuple[float, grpcclient.InferenceServerException | None]:
        start = time.monotonic()
        try:
            raw.infer(contract.ENSEMBLE, [giant], client_timeout=60)
            return time.monotonic() - start, None
        except grpcclient.InferenceServerException as err:
            return time.monotonic() - start, err

    def ordinary() -> float:
        start = time.monotonic()
        assert client.classify(ORDINARY).toxic_prob == pytest.approx(expected, abs=1e-6)
        return time.monotonic() - start

    with ThreadPoolExecutor(4) as pool:
        giants = [pool.submit(send_giant) for _ in range(2)]
        latencies = [ordinary() for _ in range(20)]
        ends = [g.result() for g in giants]
    for seconds, err in ends:  # refused for its size, or, on a busy machine, as overload before it was read
        assert err is not None and seconds < 30
        assert ("INVALID_ARGUMENT" in str(err.status()) and "max_comment_bytes" in err.message()) or \
            "UNAVAILABLE" in str(err.status()), err.message()
    assert max(latencies) < 5.0  # a bound, not a benchmark: `loadtest/faults.py giant` measures the 500 ms target


def token_tensors(ids: np.ndarray, mask: np.ndarray | None = None, types: np.ndarray | None = None,
                  deadline_s: float = 60) -> list[grpcclient.InferInput]:
    """A direct member request with a schedule, as the tokenizer sends one: Triton batches it with ensemble traffic."""
    now = time.monotonic_ns()
    arrays = {"input_ids": ids, "attention_mask": np.ones_like(ids) if mask is None else mask,
              "token_type_ids": np.zeros_like(ids) if types is None else types,
              SCHEDULE: np.array([[now, now + int(deadline_s * 1e9)]], np.int64).repeat(len(ids), axis=0)}
    tensors = []
    for name, array in arrays.items():
        tensor = grpcclient.InferInput(name, list(array.shape), "INT64")
        tensor.set_data_from_numpy(array.astype(np.int64))
        tensors.append(tensor)
    return tensors


ROW = np.array([[2, 500, 600, 3]])
BAD_TOKENS = {  # what a direct caller may send a member, and the words of its refusal
    "id past the vocabulary": (lambda: token_tensors(np.array([[2, 10_000_000, 3]])), "cannot run these tokens"),
    "negative id": (lambda: token_tensors(-ROW), "must not be negative"),
    "negative token type": (lambda: token_tensors(ROW, types=-np.ones_like(ROW)), "must not be negative"),
    "row past the positions": (lambda: token_tensors(np.full((1, 10_000), 500)), "cannot run these tokens"),
    "tensors of two shapes": (lambda: token_tensors(ROW, mask=np.ones((1, 7), np.int64)), "one shape"),
    "gap in the mask": (lambda: token_tensors(ROW, mask=np.array([[1, 0, 1, 1]])), "attention_mask"),
    "no token": (lambda: token_tensors(ROW, mask=np.zeros_like(ROW)), "attention_mask"),
    "mask of 2s": (lambda: token_tensors(ROW, mask=2 * np.ones_like(ROW)), "attention_mask"),
}


@pytest.mark.parametrize("case", BAD_TOKENS)
def test_bad_tokens_sent_to_a_member_are_refused_naming_the_problem(raw, tiny_spec, case):
    inputs, words = BAD_TOKENS[case]
    err = refused(raw, inputs(), model=tiny_spec.members[0].name)
    assert "INVALID_ARGUMENT" in str(err.status()) and words in err.message(), err.message()


def test_bad_member_calls_fail_no_other_request(raw, client, server, tiny_spec):
    """Batched with the ensemble's own member requests, each bad call is refused alone: before, an exception out of
    the member failed every request of its batch and could crash Triton 2.51 (SIGSEGV)."""
    expected = client.classify(ORDINARY).toxic_prob
    member, end = tiny_spec.members[0].name, time.monotonic() + 6

    def ordinary() -> int:
        answered = 0
        while time.monotonic() < end:
            assert client.classify(ORDINARY).toxic_prob == pytest.approx(expected, abs=1e-6)
            answered += 1
        return answered

    def bad() -> int:
        refusals = 0
        while time.monotonic() < end:
            for inputs, _ in BAD_TOKENS.values():
                refused(raw, inputs(), model=member)
                refusals += 1
        return refusals

    with ThreadPoolExecutor(4) as pool:
        answered = [pool.submit(ordinary) for _ in range(3)]
        refusals = pool.submit(bad)
        assert sum(a.result() for a in answered) > 0 and refusals.result() > 0
    assert server.pid is not None and client.classify(ORDINARY).toxic_prob == pytest.approx(expected, abs=1e-6)
