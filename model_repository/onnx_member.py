"""Triton Python model: one ensemble member run by ONNX Runtime, for servers without the ONNX Runtime backend."""

import contextlib
import json
import os
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort
import triton_python_backend_utils as pb_utils

from refusals import Refusals

INPUTS = ("input_ids", "attention_mask", "token_type_ids")
NO_DEADLINE = np.iinfo(np.int64).max


def length_groups(lengths: np.ndarray, run_cost_tokens: float) -> list[np.ndarray]:
    """Row indices grouped by length; a group grows while its padding costs less than one more run would."""
    order = np.argsort(lengths, kind="stable")
    groups, start, total = [], 0, 0
    for end, row in enumerate(order):
        total += lengths[row]
        if (end - start + 1) * lengths[row] - total > run_cost_tokens:  # sorted, so this row is the longest
            groups.append(order[start:end])
            start, total = end, lengths[row]
    groups.append(order[start:])
    return groups


def merge(feeds: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """The requests' [rows, tokens] inputs stacked into one batch, zero-padded on the right (np.pad is slow)."""
    if len(feeds) == 1:
        return feeds[0]
    width = max(f["input_ids"].shape[1] for f in feeds)
    batch = {n: np.zeros((sum(f["input_ids"].shape[0] for f in feeds), width), np.int64) for n in INPUTS}
    row = 0
    for f in feeds:
        rows, cols = f["input_ids"].shape
        for n in INPUTS:
            batch[n][row:row + rows, :cols] = f[n]
        row += rows
    return batch


def unrunnable(feed: dict[str, np.ndarray]) -> str | None:
    """What makes a request's token tensors wrong before ONNX Runtime sees them (it would read negative ids from the
    end of a table, and a gap in the mask would drop tokens), or None."""
    shapes = {n: feed[n].shape for n in INPUTS}
    if len(set(shapes.values())) > 1:
        return f"input_ids, attention_mask and token_type_ids must have one shape, got {shapes}"
    mask = feed["attention_mask"]
    if not np.isin(mask, (0, 1)).all() or (mask[:, 1:] > mask[:, :-1]).any() or not mask[:, :1].all():
        return "attention_mask must be 1 for each row's tokens and 0 for the padding after them, at least one token"
    if (feed["input_ids"] < 0).any() or (feed["token_type_ids"] < 0).any():
        return "input_ids and token_type_ids must not be negative"
    return None


def run_cost_tokens(session: ort.InferenceSession, rows: int = 8, cols: int = 32, repeats: int = 5) -> float:
    """A run's fixed cost in tokens of compute, timed at load: fastest [1, 1] run over the per-token cost."""
    def fastest(shape: tuple[int, int]) -> float:
        feed = {n: np.full(shape, int(n != "token_type_ids"), np.int64) for n in INPUTS}
        return min(_timed(session, feed) for _ in range(repeats))

    single, full = fastest((1, 1)), fastest((rows, cols))
    return single * (rows * cols - 1) / max(full - single, 1e-9)


def _timed(session: ort.InferenceSession, feed: dict[str, np.ndarray]) -> float:
    start = time.perf_counter()
    session.run(["logits"], feed)
    return time.perf_counter() - start


class TritonPythonModel:
    def initialize(self, args):
        params = {k: v["string_value"] for k, v in json.loads(args["model_config"])["parameters"].items()}
        self.name = args["model_name"]
        self.refused = Refusals(params["refusals_metric"], self.name)
        options = ort.SessionOptions()
        options.intra_op_num_threads = int(params["intra_op_thread_count"])
        options.inter_op_num_threads = 1
        model = Path(args["model_repository"]) / args["model_version"] / "model.onnx"
        self.session = ort.InferenceSession(str(model), options, providers=["CPUExecutionProvider"])
        self.run_cost = run_cost_tokens(self.session)
        self.overloaded = (f"{self.name} is overloaded: the request waited past its queue budget "
                           "(queue_timeout_ms); retry later")
        self.schedule = params["schedule_tensor"]  # the tokenizer's [tokenized at, deadline]: past it, refused unrun
        self.delay_file = params["delay_files"].format(server=os.getppid()) + args["model_instance_name"]
        with contextlib.suppress(FileNotFoundError):  # a reloaded instance's predecessor may still map it
            os.remove(self.delay_file)
        self.delay = np.memmap(self.delay_file, np.int64, "w+", shape=(1,))
        self.inode = os.stat(self.delay_file).st_ino
        pb_utils.Logger.log_info(f"{self.name}: one ONNX Runtime run costs as much as "
                                 f"{self.run_cost:.0f} tokens; rows are grouped by length accordingly")

    def execute(self, requests):
        now = time.monotonic_ns()
        schedules = np.concatenate([self.schedule_of(r, now) for r in requests])
        late = schedules[:, 1] < now
        self.delay[0] = 0 if late.all() else now - schedules[~late, 0].min()  # the oldest request it will run waited
        fresh = [r for r, stale in zip(requests, late) if not stale]
        self.refused.count("overload", int(late.sum()))
        answers = iter(self.run(fresh) if fresh else [])
        responses = [pb_utils.InferenceResponse(error=pb_utils.TritonError(self.overloaded,
                                                                           pb_utils.TritonError.UNAVAILABLE))
                     if stale else next(answers) for stale in late]
        self.delay[0] = 0  # a waiting request calls again at once and says how long it waited
        return responses

    def schedule_of(self, request, now: int) -> np.ndarray:
        """[[tokenized at, deadline]] of a request; one sent straight to the member (no schedule) waits for nothing."""
        schedule = pb_utils.get_input_tensor_by_name(request, self.schedule)
        return np.array([[now, NO_DEADLINE]]) if schedule is None else schedule.as_numpy()[:1]

    def run(self, requests) -> list:
        """A response per request: its logits, computed with the others as one ragged batch, or an error naming what
        its tokens got wrong. Nothing raises: an exception out of execute fails or crashes the requests batched with
        it (Triton 2.51), ensemble traffic included."""
        feeds = [{n: pb_utils.get_input_tensor_by_name(r, n).as_numpy() for n in INPUTS} for r in requests]
        answers = [unrunnable(f) for f in feeds]
        good = [i for i, problem in enumerate(answers) if problem is None]
        try:
            for i, logits in zip(good, self.logits([feeds[i] for i in good])):
                answers[i] = logits
        except Exception:  # ONNX Runtime refused a request (an id past the vocabulary or a row past the positions)
            for i in good:
                answers[i] = self.alone(feeds[i])
        self.refused.count("bad_input", sum(isinstance(a, str) for a in answers))
        return [pb_utils.InferenceResponse([pb_utils.Tensor("logits", a)]) if isinstance(a, np.ndarray)
                else pb_utils.InferenceResponse(error=pb_utils.TritonError(a, pb_utils.TritonError.INVALID_ARG))
                for a in answers]

    def logits(self, feeds: list[dict[str, np.ndarray]]) -> list[np.ndarray]:
        """Each request's [rows, 2] logits, its rows grouped with the others' by length."""
        if not feeds:
            return []
        batch = merge(feeds)
        lengths = batch["attention_mask"].sum(axis=1)
        logits = np.empty((len(lengths), 2), np.float32)
        for rows in length_groups(lengths, self.run_cost):
            cols = int(lengths[rows].max())
            logits[rows] = self.session.run(["logits"], {n: batch[n][rows, :cols] for n in INPUTS})[0]
        return np.split(logits, np.cumsum([f["input_ids"].shape[0] for f in feeds])[:-1])

    def alone(self, feed: dict[str, np.ndarray]) -> np.ndarray | str:
        """One request's logits, run by itself, or what ONNX Runtime said of its tokens."""
        try:
            return self.logits([feed])[0]
        except Exception as err:
            return f"{self.name} cannot run these tokens: {err}"

    def finalize(self):
        with contextlib.suppress(FileNotFoundError):
            if os.stat(self.delay_file).st_ino == self.inode:  # not the file of the instance that replaced this one
                os.remove(self.delay_file)
