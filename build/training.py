"""Train demo members (spec members with a `train` recipe) from the data folder; cached by a digest of every input."""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
import math
import multiprocessing
import os
import random
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import torch
import torch.nn.functional as F
import transformers
from transformers import (AutoModelForSequenceClassification, ElectraConfig, PretrainedConfig, PreTrainedModel,
                          PreTrainedTokenizerFast)

from kotox_build import cnn_head, evaluation, obfuscation, stamps, wordpiece
from kotox_build import data as data_module
from kotox_build.data import CORPORA, data_dir
from kotox_build.spec import Member, Recipe, Spec

STAMP = "kotox-train.json"
THREADS = 1  # measured: two 2-thread trainings of one member differed, 1-thread ones are bit-identical
WARM_START_ROWS = 40_000  # NSMC reviews (nsmc/train.tsv without its evaluation slice) the warm start learns, one epoch
WARM_START_SEED = 0  # draws the reviews and initialises the sentiment classifier
WARM_START_LEARNING_RATE = 5e-4
WARM_START_LABELS = ("negative", "positive")
SOUP_SEED_STEP = 1000  # a soup's k-th fine-tune trains with seed + k * SOUP_SEED_STEP
LOG_EVERY_STEPS = 100


def shared_inputs_digest(data: Path, files: tuple[str, ...]) -> str:
    """Hash of what every trained member depends on: the task's data `files`, the trainer's source, library versions."""
    digest = hashlib.sha256()
    for name in files:
        stamps.hash_file(digest, data / name)
    for module in (__file__, wordpiece.__file__, evaluation.__file__, cnn_head.__file__, data_module.__file__,
                   obfuscation.__file__):
        stamps.hash_file(digest, Path(module))
    digest.update(f"{torch.__version__}/{transformers.__version__}".encode())
    return digest.hexdigest()


def inputs_digest(recipe: Recipe, labels: tuple[str, str], shared: str) -> str:
    """Hash of everything one trained member depends on: its recipe, the labels and the shared inputs."""
    described = json.dumps([dataclasses.asdict(recipe), labels, shared], sort_keys=True)
    return hashlib.sha256(described.encode()).hexdigest()


def electra_config(recipe: Recipe, tokenizer: PreTrainedTokenizerFast, labels: tuple[str, str],
                   max_tokens: int) -> ElectraConfig:
    """An ELECTRA discriminator-classifier config of the recipe's shape."""
    return ElectraConfig(
        vocab_size=len(tokenizer), embedding_size=recipe.embedding_size, hidden_size=recipe.hidden_size,
        num_hidden_layers=recipe.layers, num_attention_heads=recipe.heads, intermediate_size=recipe.intermediate_size,
        max_position_embeddings=max(512, max_tokens), hidden_dropout_prob=recipe.dropout,
        attention_probs_dropout_prob=recipe.dropout, pad_token_id=tokenizer.pad_token_id, num_labels=2,
        id2label=dict(enumerate(labels)), label2id={label: i for i, label in enumerate(labels)})


def member_config(recipe: Recipe, tokenizer: PreTrainedTokenizerFast, labels: tuple[str, str],
                  max_tokens: int) -> PretrainedConfig:
    """The classifier config the recipe trains: ELECTRA's own head, or the CNN head over the same encoder."""
    encoder = electra_config(recipe, tokenizer, labels, max_tokens)
    if recipe.head == "linear":
        return encoder
    return cnn_head.KotoxCnnConfig(encoder, num_labels=2, id2label=encoder.id2label, label2id=encoder.label2id)


def length_batches(lengths: list[int], batch_size: int, rng: random.Random) -> list[list[int]]:
    """Shuffled batches of similar length: sort inside windows of 50 batches, then shuffle the batches."""
    order = list(range(len(lengths)))
    rng.shuffle(order)
    window = batch_size * 50
    batches = []
    for start in range(0, len(order), window):
        chunk = sorted(order[start:start + window], key=lambda i: lengths[i])
        batches += [chunk[i:i + batch_size] for i in range(0, len(chunk), batch_size)]
    rng.shuffle(batches)
    return batches


def pad(ids: list[list[int]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-pad token ids to the longest row; returns input ids and attention mask."""
    width = max(len(x) for x in ids)
    input_ids = torch.full((len(ids), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(ids), width), dtype=torch.long)
    for row, x in enumerate(ids):
        input_ids[row, :len(x)] = torch.tensor(x)
        mask[row, :len(x)] = 1
    return input_ids, mask


def progress_printer(label: str, total: int, steps_per_epoch: int) -> Callable[[int, float], None]:
    """A callback printing epoch, step, smoothed loss, elapsed and estimated time left every few steps."""
    start, smoothed = time.monotonic(), [0.0]

    def report(step: int, loss: float) -> None:
        smoothed[0] = loss if step == 1 else 0.98 * smoothed[0] + 0.02 * loss
        if step % LOG_EVERY_STEPS == 0 or step == total:
            elapsed = time.monotonic() - start
            print(f"  [{label}] epoch {math.ceil(step / steps_per_epoch)}/{math.ceil(total / steps_per_epoch)} "
                  f"step {step}/{total} loss {smoothed[0]:.4f} elapsed {elapsed:.0f}s "
                  f"left ~{elapsed / step * (total - step):.0f}s", flush=True)
    return report


def obfuscated_rows(ids: list[list[int]], texts: list[str], recipe: Recipe, tokenizer: PreTrainedTokenizerFast,
                    rng: random.Random) -> list[list[int]]:
    """One epoch's token ids: `ids`, with a `recipe.augment` share of the rows drawn and replaced by their text
    obfuscated and encoded again."""
    drawn = [i for i in range(len(texts)) if rng.random() < recipe.augment]
    encoded = tokenizer([obfuscation.obfuscate(texts[i], rng) for i in drawn], truncation=True,
                        max_length=recipe.train_max_tokens)["input_ids"]
    shown = list(ids)
    for i, row in zip(drawn, encoded):
        shown[i] = row
    return shown


def train_classifier(recipe: Recipe, tokenizer: PreTrainedTokenizerFast, texts: list[str], labels: list[int],
                     teacher: torch.Tensor | None, config: PretrainedConfig, label: str,
                     encoder: PreTrainedModel | None = None) -> PreTrainedModel:
    """Train a classifier of `config` (ELECTRA, or the CNN head over ELECTRA) in the recipe's precision: AdamW,
    linear warm-up and decay, label 1 (toxic) weighted by `toxic_weight`; from scratch, or from `encoder`'s encoder.

    Progress lines are tagged with `label`. With `recipe.distill` > 0, that share of a labelled row's loss is the
    cross-entropy against `teacher`'s toxic probability of the row. With `recipe.augment` > 0, that share of the rows
    is shown obfuscated each epoch (`obfuscation.obfuscate`, a fresh draw), with its label and teacher target."""
    torch.manual_seed(recipe.seed)
    model = AutoModelForSequenceClassification.from_config(config)
    if encoder is not None:
        model.base_model.load_state_dict(encoder.base_model.state_dict())
    ids = tokenizer(texts, truncation=True, max_length=recipe.train_max_tokens)["input_ids"]
    rng, augment_rng = random.Random(recipe.seed), random.Random(f"augment {recipe.seed}")
    per_epoch = math.ceil(len(ids) / recipe.batch_size)
    total = per_epoch * recipe.epochs
    warmup = max(1, int(recipe.warmup_fraction * total))
    no_decay = {n for n, _ in model.named_parameters() if n.endswith("bias") or "LayerNorm" in n}
    optimizer = torch.optim.AdamW([
        {"params": [p for n, p in model.named_parameters() if n not in no_decay], "weight_decay": recipe.weight_decay},
        {"params": [p for n, p in model.named_parameters() if n in no_decay], "weight_decay": 0.0},
    ], lr=recipe.learning_rate)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: min(1.0, (s + 1) / warmup) * max(0.0, (total - s) / max(1, total - warmup)))
    class_weight = torch.tensor([1.0, recipe.toxic_weight])
    report, step = progress_printer(label, total, per_epoch), 0
    model.train()
    for _ in range(recipe.epochs):
        shown = obfuscated_rows(ids, texts, recipe, tokenizer, augment_rng) if recipe.augment else ids
        for batch in length_batches([len(x) for x in shown], recipe.batch_size, rng):
            input_ids, mask = pad([shown[i] for i in batch], tokenizer.pad_token_id)
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=recipe.precision == "bf16"):
                logits = model(input_ids=input_ids, attention_mask=mask).logits.float()
            targets = torch.tensor([labels[i] for i in batch])
            loss = F.cross_entropy(logits, targets, weight=class_weight)
            if recipe.distill:
                soft, log_probs = teacher[batch], logits.log_softmax(-1)
                follow = -(soft * log_probs[:, 1] + (1 - soft) * log_probs[:, 0])
                loss = (1 - recipe.distill) * loss + recipe.distill * follow.mean()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad()
            step += 1
            report(step, loss.item())
    return model.eval()


def warm_start_recipe(recipe: Recipe) -> Recipe:
    """How the NSMC warm start of a member trained by `recipe` is trained: its encoder shape, one sentiment epoch."""
    return dataclasses.replace(recipe, seed=WARM_START_SEED, learning_rate=WARM_START_LEARNING_RATE, epochs=1,
                               toxic_weight=1.0, distill=0.0, augment=0.0, head="linear", warm_start="none", soup=1)


def warm_start_classifier(warm: Recipe, tokenizer: PreTrainedTokenizerFast, max_tokens: int,
                          data: Path) -> PreTrainedModel:
    """The NSMC warm start: an ELECTRA sentiment classifier trained by `warm` (`warm_start_recipe`) on
    `WARM_START_ROWS` labelled reviews; members fine-tune from its encoder with a fresh head."""
    texts, labels = data_module.nsmc_training_rows(data)
    rows = random.Random(WARM_START_SEED).sample(range(len(texts)), min(WARM_START_ROWS, len(texts)))
    return train_classifier(warm, tokenizer, [texts[i] for i in rows], [labels[i] for i in rows], None,
                            electra_config(warm, tokenizer, WARM_START_LABELS, max_tokens), "warm start nsmc")


def soup_recipes(recipe: Recipe) -> list[Recipe]:
    """The fine-tunes a member's soup averages: its recipe with seeds seed, seed + SOUP_SEED_STEP, ..."""
    return [dataclasses.replace(recipe, seed=recipe.seed + k * SOUP_SEED_STEP, soup=1) for k in range(recipe.soup)]


def _fine_tune(recipe: Recipe, *args) -> dict[str, torch.Tensor]:
    """One soup fine-tune in a worker process (`train_classifier`'s arguments), on `THREADS` threads: its weights."""
    torch.set_num_threads(THREADS)
    return train_classifier(recipe, *args).state_dict()


def train_soup(recipe: Recipe, tokenizer: PreTrainedTokenizerFast, texts: list[str], labels: list[int],
               teacher: torch.Tensor | None, config: PretrainedConfig, label: str,
               encoder: PreTrainedModel | None) -> PreTrainedModel:
    """`train_classifier`, or with `recipe.soup` > 1 a uniform model soup: that many fine-tunes from `encoder`
    (`soup_recipes`), trained side by side in one process per core, their weights averaged."""
    recipes = soup_recipes(recipe)
    if len(recipes) == 1:
        return train_classifier(recipe, tokenizer, texts, labels, teacher, config, label, encoder)
    tags = [f"{label} {k}/{len(recipes)}" for k in range(1, len(recipes) + 1)]
    shared = (tokenizer, texts, labels, teacher, config)
    with ProcessPoolExecutor(min(len(recipes), os.cpu_count() or 1),
                             mp_context=multiprocessing.get_context("spawn")) as pool:
        states = list(pool.map(_fine_tune, recipes, *map(itertools.repeat, shared), tags, itertools.repeat(encoder)))
    model = AutoModelForSequenceClassification.from_config(config)
    model.load_state_dict({name: sum(state[name] for state in states) / len(states) if first.is_floating_point()
                           else first for name, first in states[0].items()})
    return model.eval()


def train_members(spec: Spec, data: Path | None = None) -> list[Member]:
    """Train every spec member with a recipe whose checkpoint is missing or stale, on the spec's task
    (`ensemble.data`); returns the members trained."""
    trained = [m for m in spec.members if m.train]
    if not trained:
        return []
    data, corpus = data or data_dir(), CORPORA[spec.data]
    warm_started = any(m.train.warm_start != "none" for m in trained)
    shared = shared_inputs_digest(data, corpus.files + (data_module.NSMC_FILES[:1] if warm_started else ()))
    digests = {m.name: inputs_digest(m.train, spec.labels, shared) for m in trained}
    stale = [m for m in trained
             if not stamps.is_current(m.checkpoint / "config.json", m.checkpoint / STAMP, digests[m.name])]
    for m in trained:
        if m not in stale:
            print(f"kotox train {m.name}: up to date ({m.checkpoint})", flush=True)
    if not stale:
        return []
    texts, labels = corpus.training_rows(data)
    start = time.monotonic()
    tokenizer = wordpiece.train_wordpiece(list(corpus.unlabeled(data)) + texts, stale[0].train.vocab_size,
                                          spec.max_tokens)
    print(f"kotox train: WordPiece tokenizer, {len(tokenizer)} tokens, in {time.monotonic() - start:.0f}s; "
          f"{len(texts)} training rows from {data}", flush=True)
    teacher = None
    if any(m.train.distill for m in stale):
        start = time.monotonic()
        teacher = torch.tensor(evaluation.cross_fitted_teacher(texts, labels), dtype=torch.float32)
        print(f"kotox train: teacher = {evaluation.TEACHER}, 5-fold cross-fitted, in {time.monotonic() - start:.0f}s",
              flush=True)
    warm_starts: dict[Recipe, PreTrainedModel] = {}  # by warm_start_recipe: members of one shape share one
    for i, member in enumerate(stale, 1):
        recipe, began = member.train, time.monotonic()
        print(f"kotox train {member.name} [{i}/{len(stale)}]: {recipe}", flush=True)
        threads = torch.get_num_threads()
        torch.set_num_threads(THREADS)
        try:
            encoder = None
            if recipe.warm_start != "none":
                warm = warm_start_recipe(recipe)
                if warm not in warm_starts:
                    warm_began = time.monotonic()
                    warm_starts[warm] = warm_start_classifier(warm, tokenizer, spec.max_tokens, data)
                    print(f"kotox train: NSMC warm start ({WARM_START_ROWS} reviews) in "
                          f"{time.monotonic() - warm_began:.0f}s", flush=True)
                encoder = warm_starts[warm]
            model = train_soup(recipe, tokenizer, texts, labels, teacher,
                               member_config(recipe, tokenizer, spec.labels, spec.max_tokens), member.name, encoder)
        finally:
            torch.set_num_threads(threads)
        model.save_pretrained(member.checkpoint)
        tokenizer.save_pretrained(member.checkpoint)
        seconds = time.monotonic() - began
        weights = hashlib.sha256()
        stamps.hash_file(weights, member.checkpoint / "model.safetensors")
        stamps.write_stamp(member.checkpoint / STAMP, digests[member.name], recipe=dataclasses.asdict(recipe),
                           rows=len(texts), weights_sha256=weights.hexdigest(), threads=THREADS,
                           seconds=round(seconds, 1))
        print(f"kotox train {member.name}: saved to {member.checkpoint} ({seconds:.0f}s)", flush=True)
    return stale
