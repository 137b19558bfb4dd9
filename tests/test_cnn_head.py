"""The Phase 5 CNN-head classifier: a save_pretrained HF model over any ELECTRA or BERT encoder, registered with the
Auto classes, answering each comment independently of its batch-mates, however short, and exporting to ONNX."""

import numpy as np
import pytest
import torch
from transformers import AutoConfig, AutoModelForSequenceClassification, BertConfig, ElectraConfig

import kotox_build  # noqa: F401  (registers the CNN head with the Auto classes)
from kotox_build.cnn_head import KotoxCnnConfig, KotoxCnnForSequenceClassification
from kotox_build.export import ONNX_INPUTS, ONNX_OUTPUT, export_onnx

ENCODERS = {
    "electra": ElectraConfig(vocab_size=300, embedding_size=24, hidden_size=48, num_hidden_layers=2,
                             num_attention_heads=2, intermediate_size=64, pad_token_id=0),
    "bert": BertConfig(vocab_size=300, hidden_size=40, num_hidden_layers=1, num_attention_heads=2,
                       intermediate_size=64, pad_token_id=0),
}


@pytest.fixture(scope="module", params=sorted(ENCODERS))
def saved(request, tmp_path_factory):
    """A random CNN-head classifier over each encoder, saved with save_pretrained."""
    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp(request.param)
    KotoxCnnForSequenceClassification(KotoxCnnConfig(ENCODERS[request.param], num_labels=2)).save_pretrained(folder)
    return folder


def ragged(rows: list[list[int]]) -> dict[str, torch.Tensor]:
    """Right-padded input ids, attention mask and token types for token rows of different lengths."""
    width = max(len(r) for r in rows)
    ids = torch.tensor([r + [0] * (width - len(r)) for r in rows])
    return {"input_ids": ids, "attention_mask": (ids != 0).long(), "token_type_ids": torch.zeros_like(ids)}


def logits(model, rows: list[list[int]]) -> np.ndarray:
    with torch.no_grad():
        return model(**ragged(rows)).logits.numpy()


def test_checkpoint_is_a_safetensors_folder_that_auto_classes_load(saved):
    assert (saved / "model.safetensors").exists()
    config = AutoConfig.from_pretrained(saved)
    assert config.architectures == ["KotoxCnnForSequenceClassification"]
    model = AutoModelForSequenceClassification.from_pretrained(saved)
    assert isinstance(model, KotoxCnnForSequenceClassification)
    assert model.config.kernel_sizes == [2, 3, 4] and model.config.num_filters == 128
    hidden = model.config.encoder_config.hidden_size
    assert model.head[1].in_features == hidden + 3 * 128 and model.head[-1].out_features == 2


def test_answer_does_not_depend_on_batch_mates(saved):
    model = AutoModelForSequenceClassification.from_pretrained(saved).eval()
    rows = [[2, 17, 3], [2, 5, 6, 7, 8, 9, 10, 11, 12, 13, 3], [2, 3], [2, 40, 41, 42, 3]]
    together = logits(model, rows)
    alone = np.concatenate([logits(model, [row]) for row in rows])
    np.testing.assert_allclose(together, alone, atol=1e-5)
    assert np.abs(together[0] - together[1]).max() > 1e-3  # different comments, different answers


@pytest.mark.parametrize("length", [1, 2, 3])
def test_comments_shorter_than_the_widest_kernel_get_a_finite_answer(saved, length):
    model = AutoModelForSequenceClassification.from_pretrained(saved).eval()
    row = [2, 50, 60][:length]
    out = logits(model, [row])
    assert out.shape == (1, 2) and np.isfinite(out).all()
    np.testing.assert_allclose(logits(model, [row, list(range(2, 40))])[0], out[0], atol=1e-5)


def test_onnx_export_matches_pytorch_on_ragged_and_short_rows(saved, tmp_path):
    import onnxruntime as ort

    model = AutoModelForSequenceClassification.from_pretrained(saved, attn_implementation="eager").eval()
    export_onnx(model, tmp_path / "model.onnx")
    session = ort.InferenceSession(str(tmp_path / "model.onnx"), providers=["CPUExecutionProvider"])
    for rows in ([[2]], [[2, 9], [2, 9, 10, 11, 12, 13, 3]], [list(range(2, 60))]):
        feed = {n: t.numpy() for n, t in ragged(rows).items()}
        np.testing.assert_allclose(session.run([ONNX_OUTPUT], {n: feed[n] for n in ONNX_INPUTS})[0],
                                   logits(model, rows), atol=1e-4)
