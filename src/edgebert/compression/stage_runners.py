"""The runners that execute stage configs (:mod:`stage_configs`), one per recipe ``type``.

A runner takes the current student and returns the next one plus a dict for the report.
Anything a stage trains goes through :func:`trainer.train`, so every stage checkpoints and
resumes the same way.
"""

from __future__ import annotations

import json
import random
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch

from ..data import Columns, load_labelled
from ..data.examples import Example
from ..errors import DataError, EdgebertError
from ..fsutil import atomic_write_json
from ..inference import run_batches
from ..model import EdgeBertForSequenceClassification, load_checkpoint, save_checkpoint
from . import augment as aug
from .context import Context, TrainSet
from .distill import DistillWrapper, LossWeights, Objective
from .ffn_pruning import choose_neurons, ffn_importance, prune_ffn
from .head_pruning import choose_heads, head_importance, heads_to_prune, prune_heads
from .layer_selection import every_other, greedy_selection, select_layers
from .layerdrop import layer_keep_mask
from .losses import hard_cross_entropy, resolve_layer_map, soft_cross_entropy
from .stage_configs import (AugmentStage, DistillStage, FinetuneStage, GeneralDistillStage, LayerDropStage,
                            PruneFfnStage, PruneHeadsStage, PruneStage, SelectLayersStage, TrainingFields,
                            TrimVocabStage)
from .teacher_model import Teacher, load_teacher, same_tokenizer
from .trainer import (TrainSpec, batch_indices, is_main_process, make_accelerator, mix_seed, total_steps, train,
                      wait_for_everyone)


@dataclass
class StageRun:
    """What a runner needs besides the config and the student."""

    ctx: Context
    work: Path
    seed: int
    label: str  # e.g. "stage 2/4 distill"
    extra: dict = field(default_factory=dict)


def _from_teacher(student: EdgeBertForSequenceClassification, teacher: Teacher) -> bool:
    init = student.config.provenance.get("student_init", {})
    return init.get("method") in ("teacher", "teacher_layers") and init.get("teacher") == str(teacher.path)


def _provenance_layers(student, teacher: Teacher) -> list[int] | None:
    """The teacher layers the student's layers were copied from, in the teacher's numbering."""
    if not _from_teacher(student, teacher):
        return None
    s = student.config.provenance.get("kept_layers")
    t = getattr(teacher.model.config, "provenance", {}).get("kept_layers") or list(range(teacher.num_layers))
    if not s or any(l not in t for l in s):
        return None
    return [t.index(l) for l in s]


def _head_maps(student, teacher: Teacher, pairs, mode: str) -> dict[int, list[int] | None]:
    maps: dict[int, list[int] | None] = {}
    kept = student.config.provenance.get("kept_heads") or []
    t_heads = teacher.heads
    for i, j in pairs:
        hs = student.config.layers[i].num_heads
        if hs == t_heads[j]:
            maps[i] = None
        elif mode != "average" and _from_teacher(student, teacher) and i < len(kept) and len(kept[i]) == hs \
                and max(kept[i]) < t_heads[j]:
            maps[i] = list(kept[i])
        elif mode == "provenance":
            raise EdgebertError(f"head_map 'provenance': student layer {i} has no teacher head ids",
                                "use head_map: average")
        else:
            maps[i] = None
    return maps


def fit(student, run: StageRun, cfg: TrainingFields, *, weights: LossWeights, temperature: float = 1.0,
        layer_map: str | list[int] = "auto", head_map: str = "auto", data: TrainSet, teacher: Teacher | None = None,
        layerdrop: float = 0.0, description: str = ""):
    """Train ``student`` on ``data`` against ``teacher`` with ``weights``; returns (student, report info)."""
    ctx = run.ctx
    teacher = teacher or ctx.teacher
    if weights.attention and not teacher.has_scores:
        weights.attention = 0.0
        ctx.note(f"attention loss disabled: teacher {teacher.path.name} is a transformers model whose attentions "
                 "are post-softmax; TinyBERT's loss needs pre-softmax scores (edgebert/BERT teachers have them)")
        if not any(asdict(weights).values()):
            raise EdgebertError(f"{run.label}: only the attention loss was enabled and it is unavailable",
                                "add hidden or logits weights")
    if weights.needs_features and not data.aligned:
        ctx.note(f"{run.label}: the teacher's and student's tokenizers do not split the training text "
                 "identically, so intermediate (hidden/attention) losses cannot compare positions; "
                 "this stage distils the teacher's predictions only")
        weights = LossWeights(logits=1.0, hard=weights.hard)
    pairs = resolve_layer_map(layer_map, student.num_layers, teacher.num_layers, _provenance_layers(student, teacher))
    objective = Objective(weights, temperature, pairs, _head_maps(student, teacher, pairs, head_map)
                          if weights.attention else None)
    torch.manual_seed(mix_seed(run.seed, 99))  # the projection's initial weights
    wrapper = DistillWrapper(student, teacher.hidden_size if weights.needs_hidden else None)
    acc = make_accelerator()
    teacher.model.to(acc.device)
    soft = ctx.teacher_logits(data) if weights.logits and not weights.needs_features else None
    bs = cfg.batch_size or ctx.batch_size
    steps = total_steps(len(data), bs, cfg.epochs, _min(cfg.max_steps, ctx.max_steps))
    rank, world = acc.process_index, acc.num_processes
    need_scores = bool(weights.attention)
    lengths = data.lengths

    def step_fn(module, step: int):
        idx = batch_indices(len(data), bs, run.seed, step, rank=rank, world=world, lengths=lengths)
        b = data.batch(idx, acc.device)
        keep = layer_keep_mask(student.num_layers, layerdrop, run.seed, step) if layerdrop else None
        logits, hidden, scores = module(**b, hidden=weights.needs_hidden, scores=need_scores, layer_keep=keep)
        t_out, t_logits = None, None
        if weights.needs_features:
            with torch.no_grad():
                t_out = teacher.model.forward_features(**data.batch(idx, acc.device, "teacher"),
                                                       output_hidden_states=weights.needs_hidden,
                                                       output_attention_scores=need_scores)
            t_logits = t_out.logits
        elif soft is not None:
            t_logits = soft[idx].to(acc.device)
        return objective(logits, hidden, scores, t_out, t_logits, b["attention_mask"], data.labels[idx].to(acc.device))

    spec = TrainSpec(description or run.label, steps, cfg.lr, run.work, seed=run.seed, weight_decay=cfg.weight_decay,
                     warmup=cfg.warmup, checkpoint_every=ctx.checkpoint_every)
    module, result = train(wrapper, step_fn, spec, acc)
    info = {"steps": result.steps, "train_examples": len(data), "batch_size": bs, "layer_map": [list(p) for p in pairs],
            "weights": asdict(weights), "losses": result.summary(), "train_seconds": result.seconds}
    if result.resumed_from is not None:
        info["resumed_from_step"] = result.resumed_from
    return module.student, info


def _min(a: int | None, b: int | None) -> int | None:
    vals = [v for v in (a, b) if v]
    return min(vals) if vals else None


def run_distill(cfg: DistillStage, student, run: StageRun):
    data = run.ctx.train_set(cfg.use_augmented)
    return fit(student, run, cfg, weights=cfg.weights(), temperature=cfg.temperature, layer_map=cfg.layer_map,
               head_map=cfg.head_map, data=data)


def run_finetune(cfg: FinetuneStage, student, run: StageRun):
    return run_distill(cfg.as_distill(), student, run)


def _read_texts(cfg: GeneralDistillStage) -> list[Example]:
    path = Path(cfg.text).expanduser()
    if path.suffix.lower() == ".txt":
        if not path.exists():
            raise DataError(f"general_distill text file {path} does not exist", "give a .txt file, one text per line")
        return [Example(line.strip()) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    data = load_labelled(path, Columns(text=cfg.text_column), require_labels=False)
    return [Example(e.text, None, e.text_pair) for e in data.examples]


def run_general_distill(cfg: GeneralDistillStage, student, run: StageRun):
    ctx = run.ctx
    if cfg.text:
        texts = _read_texts(cfg)
    else:
        texts = [Example(e.text, None, e.text_pair) for e in ctx.train + ctx.augmented]
    if cfg.max_examples and len(texts) > cfg.max_examples:
        texts = random.Random(run.seed).sample(texts, cfg.max_examples)
    if not texts:
        raise DataError("general_distill has no text to learn from", "check the 'text' file")
    teacher = ctx.teacher
    if cfg.teacher:
        teacher = load_teacher(cfg.teacher, require_head=False)
        from ..data import load_tokenizer

        if not same_tokenizer(load_tokenizer(teacher.path), ctx.tokenizer):
            raise EdgebertError(f"general_distill teacher {cfg.teacher} uses a different tokenizer than the student",
                                "use a teacher with the same vocabulary")
    data = ctx.train_set(examples=texts)
    weights = LossWeights(embedding=cfg.embedding, hidden=cfg.hidden, attention=cfg.attention)
    student, info = fit(student, run, cfg, weights=weights, layer_map=cfg.layer_map, head_map=cfg.head_map,
                        data=data, teacher=teacher)
    info["teacher"] = str(teacher.path)
    return student, info


def run_augment(cfg: AugmentStage, student, run: StageRun):
    ctx = run.ctx
    source = ctx.train
    if cfg.max_examples and len(source) > cfg.max_examples:
        source = random.Random(run.seed).sample(source, cfg.max_examples)
    mlm_dir = Path(cfg.mlm_model).expanduser() if cfg.mlm_model else ctx.teacher.path
    method, note = aug.resolve_method(cfg.method, mlm_dir)
    if note:
        ctx.note(note)
    key = aug.cache_key(source, run.seed, cfg.n, cfg.p, cfg.top_k, method,
                        f"{cfg.vocab_limit}:{mlm_dir if 'mlm' in method else ''}")
    examples = aug.load_cached(key)
    cached = examples is not None
    if examples is None:
        mlm = aug.MaskedLM(mlm_dir, ctx.tokenizer) if "mlm" in method else None
        augmenter = aug.Augmenter(aug.GloveNeighbours.packaged(cfg.vocab_limit), mlm, cfg.n, cfg.p, cfg.top_k)
        examples = augmenter.augment(source, run.seed)
        if is_main_process():
            aug.store_cached(key, examples)
    if is_main_process():
        aug.write_examples(run.work / "augmented.jsonl", examples)
    wait_for_everyone()
    ctx.augmented = examples
    return student, {"method": method, "source_examples": len(source), "augmented_examples": len(examples),
                     "cached": cached, "cache_key": key, "mlm_available": "mlm" in method}


def run_trim_vocab(cfg: TrimVocabStage, student, run: StageRun):
    """Trim the student's vocabulary; writes the new tokenizer to ``work/tokenizer`` for compress()."""
    from ..model.checkpoint import tensor_bytes
    from .vocab_trim import fully_seen, trim, unseen_rate

    ctx = run.ctx
    base = run.extra.get("train_all") if cfg.full_train_split and run.extra.get("train_all") else ctx.train
    examples = base + (ctx.augmented if cfg.use_augmented else [])
    before = {"vocab": student.config.vocab_size, "parameters": student.num_parameters(),
              "bytes": tensor_bytes(student)}
    dev_enc = ctx.dev_encoded()
    logits_before = run_batches(student, dev_enc, batch_size=ctx.eval_batch_size, show_progress=False)
    old_tok = ctx.tokenizer
    if cfg.keep_untrimmed and is_main_process():
        out = ctx.work.parent
        save_checkpoint(student, out.parent / f"{out.name}-untrimmed", tokenizer_from=ctx.tokenizer_dir)
    result = trim(student, old_tok, ctx.tokenizer_dir, examples, run.work / "tokenizer", cfg.min_frequency,
                  cfg.keep_single_chars)
    kept = set(result.old_ids)
    ctx.switch_tokenizer(result.tokenizer, run.work / "tokenizer")
    logits_after = run_batches(student, ctx.dev_encoded(), batch_size=ctx.eval_batch_size, show_progress=False)
    right_before = logits_before.argmax(1) == dev_enc.labels
    right_after = logits_after.argmax(1) == dev_enc.labels
    seen = torch.tensor(fully_seen(old_tok, ctx.dev, kept), dtype=torch.bool)
    dev_seen = {"examples": int(seen.sum()),  # text made of kept tokens: identical ids, so identical scores
                "accuracy_before": round(float(right_before[seen].float().mean()), 4) if seen.any() else None,
                "accuracy_after": round(float(right_after[seen].float().mean()), 4) if seen.any() else None,
                "max_logit_diff": float((logits_after[seen] - logits_before[seen]).abs().max()) if seen.any() else 0.0}
    info = {"vocab_before": before["vocab"], "vocab_after": len(result.tokens),
            "parameters_before": before["parameters"], "parameters_after": student.num_parameters(),
            "weight_bytes_before": before["bytes"], "weight_bytes_after": tensor_bytes(student),
            "counted_examples": len(examples), "min_frequency": cfg.min_frequency,
            "dev_accuracy_before": round(float(right_before.float().mean()), 4),
            "dev_accuracy_after": round(float(right_after.float().mean()), 4), "dev_seen_only": dev_seen,
            "unseen_dev": unseen_rate(old_tok, ctx.dev, kept),
            "unseen_test": unseen_rate(old_tok, run.extra.get("test") or [], kept)}  # measured, never used to decide
    student.config.provenance["vocab_trim"] = {k: v for k, v in info.items() if not isinstance(v, dict)} | {
        "unseen_test_token_rate": info["unseen_test"]["unseen_token_rate"]}
    return student, info


def run_layerdrop(cfg: LayerDropStage, student, run: StageRun):
    data = run.ctx.train_set(cfg.use_augmented)
    weights = LossWeights(logits=cfg.logits, hard=cfg.hard)
    student, info = fit(student, run, cfg, weights=weights, temperature=cfg.temperature, data=data, layerdrop=cfg.p)
    info["p"] = cfg.p
    method = "keep" if cfg.keep is not None else cfg.select
    if method:
        sel = SelectLayersStage(method=method, keep=cfg.keep, target_layers=cfg.target_layers,
                                greedy_examples=cfg.greedy_examples)
        student, info["selection"] = run_select_layers(sel, student, run)
    return student, info


def run_select_layers(cfg: SelectLayersStage, student, run: StageRun):
    n = student.num_layers
    trace: list[dict] = []
    if cfg.method == "keep":
        keep = list(cfg.keep or [])
        if max(keep) >= n:
            raise EdgebertError(f"{run.label}: keep {keep} names layer {max(keep)} but the model has {n} layers",
                                f"use 0-based layers 0..{n - 1}")
    elif cfg.method == "every_other":
        keep = every_other(n)
    else:
        dev = run.ctx.dev_encoded()
        if cfg.greedy_examples and cfg.greedy_examples < len(dev):
            idx = torch.randperm(len(dev), generator=torch.Generator().manual_seed(run.seed))[:cfg.greedy_examples]
            from ..data import Encoded

            dev = Encoded(dev.input_ids[idx], dev.attention_mask[idx], dev.token_type_ids[idx], dev.labels[idx], 0)
        keep, trace = greedy_selection(student, dev, int(cfg.target_layers or n), run.ctx.eval_batch_size)
    student = select_layers(student, keep).train()
    return student, {"method": cfg.method, "kept": keep,
                     "kept_original_layers": student.config.provenance.get("kept_layers"), "trace": trace}


def _importance_loss(cfg: PruneStage, run: StageRun, data: TrainSet):
    if cfg.importance_loss == "hard":
        return lambda logits, idx: hard_cross_entropy(logits, data.labels[idx].to(logits.device))
    soft = run.ctx.teacher_logits(data)
    return lambda logits, idx: soft_cross_entropy(logits, soft[idx].to(logits.device))


def _split(n: int, parts: int) -> list[int]:
    return [n // parts + (1 if i < n % parts else 0) for i in range(parts)]


def _iterative_prune(cfg: PruneStage, student, run: StageRun, *, units: str, count: int, score, choose, prune, describe):
    """Score, prune ``count`` units over ``cfg.iterations`` rounds, recovering after each when asked."""
    ctx = run.ctx
    sample = ctx.train
    if len(sample) > cfg.importance_examples:
        sample = random.Random(run.seed).sample(sample, cfg.importance_examples)
    data = ctx.train_set(examples=sample)
    loss_fn = _importance_loss(cfg, run, data)
    bs = cfg.batch_size or ctx.batch_size
    rounds = []
    for it, k in enumerate(_split(count, cfg.iterations)):
        it_dir = run.work / f"iter-{it + 1}"
        done = it_dir / "done.json"
        if done.exists():
            student = load_checkpoint(it_dir / "result").train()
            rounds.append(json.loads(done.read_text()))
            continue
        importance = score(student, data.student, loss_fn, bs, cfg.normalize)
        chosen = choose(importance, k)
        record = {"round": it + 1, units: describe(student, chosen),
                  "importance": [[round(float(x), 5) for x in s] for s in importance] if units == "heads" else None}
        prune(student, chosen)
        student.train()
        if cfg.recover is not None:
            sub = StageRun(ctx, it_dir, mix_seed(run.seed, it + 1), f"{run.label} recover {it + 1}/{cfg.iterations}")
            student, record["recover"] = run_distill(cfg.recover, student, sub)
        if is_main_process():
            save_checkpoint(student, it_dir / "result")
            atomic_write_json(done, record)
        wait_for_everyone()
        rounds.append(record)
    return student, rounds


def run_prune_heads(cfg: PruneHeadsStage, student, run: StageRun):
    total = sum(l.num_heads for l in student.config.layers)
    n = heads_to_prune(total, cfg.fraction, cfg.target_heads, student.num_layers * cfg.min_heads_per_layer)

    def describe(model, chosen):
        kept = model.config.provenance.get("kept_heads")
        return {str(layer): [kept[layer][h] for h in hs] for layer, hs in chosen.items()}

    student, rounds = _iterative_prune(
        cfg, student, run, units="heads", count=n, score=head_importance,
        choose=lambda imp, k: choose_heads(imp, k, cfg.min_heads_per_layer), prune=prune_heads, describe=describe)
    after = sum(l.num_heads for l in student.config.layers)
    return student, {"heads_before": total, "heads_after": after, "rounds": rounds,
                     "heads_per_layer": [l.num_heads for l in student.config.layers],
                     "kept_heads": student.config.provenance.get("kept_heads")}


def run_prune_ffn(cfg: PruneFfnStage, student, run: StageRun):
    total = sum(l.intermediate_size for l in student.config.layers)
    n = max(0, min(round(total * (cfg.fraction or 0)), total - student.num_layers))

    def describe(_model, chosen):
        return {str(layer): len(ns) for layer, ns in chosen.items()}

    student, rounds = _iterative_prune(
        cfg, student, run, units="neurons", count=n, score=ffn_importance,
        choose=lambda imp, k: choose_neurons(imp, k), prune=prune_ffn, describe=describe)
    return student, {"ffn_before": total, "ffn_after": sum(l.intermediate_size for l in student.config.layers),
                     "rounds": rounds}


RUNNERS = {"distill": run_distill, "finetune": run_finetune, "general_distill": run_general_distill,
           "augment": run_augment, "layerdrop": run_layerdrop, "select_layers": run_select_layers,
           "prune_heads": run_prune_heads, "prune_ffn": run_prune_ffn, "trim_vocab": run_trim_vocab}
