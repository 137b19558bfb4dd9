"""The Phase 5 member: a multi-scale CNN head over any ELECTRA or BERT encoder, as a `save_pretrained` HF classifier."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from transformers import (AutoConfig, AutoModel, AutoModelForSequenceClassification, ElectraConfig, PretrainedConfig,
                          PreTrainedModel)
from transformers.modeling_outputs import SequenceClassifierOutput

MODEL_TYPE = "kotox-cnn"


class KotoxCnnConfig(PretrainedConfig):
    """Encoder config (`encoder_config`, any ELECTRA/BERT) plus the CNN head's kernels, filters and dropouts."""

    model_type = MODEL_TYPE
    sub_configs = {"encoder_config": AutoConfig}

    def __init__(self, encoder_config: PretrainedConfig | dict | None = None, kernel_sizes: tuple[int, ...] = (2, 3, 4),
                 num_filters: int = 128, head_size: int = 256, pooled_dropout: float = 0.3, head_dropout: float = 0.2,
                 **kwargs):
        if isinstance(encoder_config, dict):
            encoder_config = AutoConfig.for_model(**encoder_config)
        self.encoder_config = encoder_config if encoder_config is not None else ElectraConfig()
        self.kernel_sizes = list(kernel_sizes)
        self.num_filters = num_filters
        self.head_size = head_size
        self.pooled_dropout = pooled_dropout
        self.head_dropout = head_dropout
        self.initializer_range = getattr(self.encoder_config, "initializer_range", 0.02)
        kwargs.setdefault("pad_token_id", self.encoder_config.pad_token_id)
        super().__init__(**kwargs)


class KotoxCnnForSequenceClassification(PreTrainedModel):
    """Conv1d (kernels 2, 3, 4 x 128 filters) over the encoder's token states, max-pooled over real tokens only,
    concatenated with [CLS] -> Dropout 0.3 -> Linear 256 -> ReLU -> Dropout 0.2 -> Linear num_labels."""

    config_class = KotoxCnnConfig
    base_model_prefix = "encoder"
    _supports_sdpa = True
    _supports_attention_backend = True

    def __init__(self, config: KotoxCnnConfig):
        super().__init__(config)
        self.encoder = AutoModel.from_config(config.encoder_config)
        hidden = config.encoder_config.hidden_size
        self.convs = nn.ModuleList(nn.Conv1d(hidden, config.num_filters, k) for k in config.kernel_sizes)
        self.head = nn.Sequential(
            nn.Dropout(config.pooled_dropout),
            nn.Linear(hidden + config.num_filters * len(config.kernel_sizes), config.head_size), nn.ReLU(),
            nn.Dropout(config.head_dropout), nn.Linear(config.head_size, config.num_labels))
        self.post_init()

    def pooled_features(self, states: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """[CLS] state concatenated with each kernel's max over the windows that start inside the comment.

        Padded positions are zeroed and the token axis is padded by (widest kernel - 1) zeros, so a comment shorter
        than a kernel gets one window (its tokens, then zeros) and a row's answer never depends on its batch-mates."""
        mask = attention_mask.unsqueeze(-1).to(states.dtype)
        tokens = F.pad((states * mask).transpose(1, 2), (0, max(self.config.kernel_sizes) - 1))
        lengths = attention_mask.sum(dim=1, keepdim=True)
        pooled = [states[:, 0]]
        for conv, width in zip(self.convs, self.config.kernel_sizes):
            maps = torch.relu(conv(tokens))  # [batch, filters, positions]
            position = torch.cumsum(torch.ones_like(maps[:, 0], dtype=torch.long), dim=-1) - 1
            valid = position <= (lengths - width).clamp(min=0)  # windows inside the comment, or the first one
            pooled.append(maps.masked_fill(~valid.unsqueeze(1), float("-inf")).amax(dim=-1))
        return torch.cat(pooled, dim=-1)

    def forward(self, input_ids: torch.Tensor | None = None, attention_mask: torch.Tensor | None = None,
                token_type_ids: torch.Tensor | None = None, labels: torch.Tensor | None = None,
                **kwargs) -> SequenceClassifierOutput:
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        states = self.encoder(input_ids=input_ids, attention_mask=attention_mask,
                              token_type_ids=token_type_ids).last_hidden_state
        logits = self.head(self.pooled_features(states, attention_mask))
        loss = F.cross_entropy(logits, labels) if labels is not None else None
        return SequenceClassifierOutput(loss=loss, logits=logits)


def register() -> None:
    """Make `AutoConfig` / `AutoModelForSequenceClassification` load `kotox-cnn` checkpoints (idempotent)."""
    AutoConfig.register(MODEL_TYPE, KotoxCnnConfig, exist_ok=True)
    AutoModelForSequenceClassification.register(KotoxCnnConfig, KotoxCnnForSequenceClassification, exist_ok=True)
