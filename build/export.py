"""Export a HF sequence classifier to ONNX and prove the file computes what PyTorch computes."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer

ONNX_INPUTS = ("input_ids", "attention_mask", "token_type_ids")
ONNX_OUTPUT = "logits"
OPSET = 17
PARITY_TOLERANCE = 1e-4
PRECISIONS = ("fp32", "int8")

# Very short, typical, and longer than any max_tokens: the fixed parity probe set.
PROBES = [
    "ㅋ",
    "좋아요",
    "음식이 신선하고 직원도 친절해요",
    "이 영화 진짜 재밌었어요 배우들 연기도 최고",
    "너 같은 놈은 인터넷 하지 마라 진짜 한심하다",
    "기사 잘 읽었습니다. 앞으로도 좋은 기사 부탁드립니다!",
    "ㅡㅡ 뭐라는거야 ㅋㅋㅋㅋㅋ",
    "오늘 날씨가 맑아서 산책하기 좋네요 " * 60,
]


class ParityError(RuntimeError):
    """ONNX Runtime disagrees with PyTorch beyond tolerance."""


def load_classifier(checkpoint: Path, allow_pickle: bool = False) -> torch.nn.Module:
    """Load a 2-label `*ForSequenceClassification` checkpoint in eval mode with plain (exportable) attention;
    safetensors weights only unless `allow_pickle` (a `.bin` file is a pickle: loading it can run code)."""
    model = AutoModelForSequenceClassification.from_pretrained(
        checkpoint, attn_implementation="eager", use_safetensors=None if allow_pickle else True).eval()
    if model.config.num_labels != 2:
        raise ValueError(f"{checkpoint}: expected a 2-label classifier, config has num_labels={model.config.num_labels}")
    return model


def encode(tokenizer, texts: list[str], max_tokens: int) -> dict[str, np.ndarray]:
    """Tokenize as the served tokenizer does: truncate at `max_tokens`, pad to the longest text."""
    enc = tokenizer(texts, truncation=True, max_length=max_tokens, padding=True,
                    return_token_type_ids=True, return_tensors="np")
    return {name: enc[name].astype(np.int64) for name in ONNX_INPUTS}


def export_onnx(model: torch.nn.Module, out: Path) -> None:
    """Trace `model` to ONNX with dynamic batch and sequence axes, int64 inputs and fp32 logits."""
    dummy = tuple(torch.ones(2, 8, dtype=torch.int64) for _ in ONNX_INPUTS)
    axes = {name: {0: "batch", 1: "sequence"} for name in ONNX_INPUTS} | {ONNX_OUTPUT: {0: "batch"}}
    out.parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, dummy, str(out), input_names=list(ONNX_INPUTS), output_names=[ONNX_OUTPUT],
                          dynamic_axes=axes, opset_version=OPSET, dynamo=False)


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax in float64."""
    z = logits.astype(np.float64) - logits.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def check_parity(model: torch.nn.Module, tokenizer, onnx_path: Path, max_tokens: int) -> float:
    """Run the probe set through PyTorch and ONNX Runtime; return the max |Δ prob| or raise ParityError."""
    diff, flips = probe_drift(model, tokenizer, onnx_path, max_tokens)
    if diff > PARITY_TOLERANCE or flips:
        raise ParityError(f"{onnx_path}: ONNX Runtime vs PyTorch max |Δ prob| = {diff:.2e} "
                          f"(tolerance {PARITY_TOLERANCE:.0e}), argmax flips = {flips}")
    return diff


def probe_drift(model: torch.nn.Module, tokenizer, onnx_path: Path, max_tokens: int) -> tuple[float, int]:
    """Max |Δ prob| and argmax flips of an ONNX file against PyTorch on the probe set."""
    feeds = encode(tokenizer, PROBES, max_tokens)
    with torch.no_grad():
        torch_logits = model(**{k: torch.from_numpy(v) for k, v in feeds.items()}).logits.numpy()
    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    p_torch, p_ort = softmax(torch_logits), softmax(session.run([ONNX_OUTPUT], feeds)[0])
    return float(np.abs(p_torch - p_ort).max()), int((p_torch.argmax(-1) != p_ort.argmax(-1)).sum())


INT8_CHOICES = {"weight_type": "QInt8", "per_channel": False, "reduce_range": False}  # measured: loadtest/quantization.py


def quantize_int8(fp32: Path, out: Path, weight_type: str, per_channel: bool, reduce_range: bool) -> None:
    """Dynamic int8 quantisation of the weights; the int8 build variant uses INT8_CHOICES."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quantize_dynamic(str(fp32), str(out), weight_type=QuantType[weight_type], per_channel=per_channel,
                     reduce_range=reduce_range, extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT})


def export_member(checkpoint: Path, out: Path, max_tokens: int, precision: str = "fp32", log=print,
                  allow_pickle: bool = False) -> float:
    """Export one checkpoint to `out` (fp32, parity-checked; int8 quantised from it); returns max |Δ prob| of `out`."""
    log("loading PyTorch model")
    model = load_classifier(checkpoint, allow_pickle)
    tokenizer = AutoTokenizer.from_pretrained(checkpoint)
    log("exporting ONNX")
    fp32 = out.with_suffix(".fp32.tmp.onnx")
    int8 = out.with_suffix(".int8.tmp.onnx")
    try:
        export_onnx(model, fp32)
        log(f"parity check on {len(PROBES)} probes")
        diff = check_parity(model, tokenizer, fp32, max_tokens)
        log(f"parity ok: max |Δ prob| = {diff:.2e}")
        if precision == "int8":
            log("quantising to int8")
            quantize_int8(fp32, int8, **INT8_CHOICES)
            diff, flips = probe_drift(model, tokenizer, int8, max_tokens)
            log(f"int8 drift from PyTorch fp32: max |Δ prob| = {diff:.2e}, argmax flips = {flips}/{len(PROBES)}")
            int8.replace(out)
        else:
            fp32.replace(out)
    finally:
        fp32.unlink(missing_ok=True)
        int8.unlink(missing_ok=True)
    return diff
