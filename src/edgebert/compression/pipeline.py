"""``compress()``: run a recipe from teacher to a saved, evaluated student.

Work in progress lives in ``OUT/.work``: one folder per stage with its training
checkpoints, and, once the stage is done, its resulting model and report. Re-running the
same command skips finished stages and resumes the running one from its last checkpoint;
changing the recipe, data, teacher or step limits starts over (the settings are
fingerprinted). On success OUT holds an edgebert checkpoint (tokenizer included) and
``compress_report.json``; ``.work`` is removed unless ``keep_work`` is set.
"""

from __future__ import annotations

import dataclasses
import json
import os
import random
import shutil
import time
from pathlib import Path
from typing import Any

import torch

from .. import __version__
from ..data import Splits, encode, load_tokenizer, split
from ..data.examples import Example, LabelledData, examples_hash
from ..errors import DataError, EdgebertError
from ..evaluation import cpu_latency, macro_f1
from ..fsutil import atomic_write_json, check_output_dir, output_dir, sha256_text
from ..model import load_checkpoint, model_size_bytes, save_checkpoint
from ..progress import console
from .augment import read_examples
from .context import Context, accuracy, logits_of, teacher_stamp
from .recipe import DEFAULT_FRACTION, Recipe, load_recipe
from .stages import RUNNERS, StageRun, preflight
from .student import init_student, student_depth
from .teachers import Teacher, load_teacher, same_tokenizer
from .trainer import is_main_process, mix_seed, wait_for_everyone

REPORT_NAME = "compress_report.json"
_TEACHER_EVAL: dict[tuple, dict] = {}
WORK_NAME = ".work"


def _check_out(out: Path, teacher: Path) -> None:
    o, t = out.resolve(), teacher.resolve()
    if o == t or t in o.parents:
        raise EdgebertError(f"--out {out} is the teacher's folder or inside it", "write the student to a new folder")
    check_output_dir(out, "--out")


def check_recipe(recipe: Recipe, teacher_layers: int, teacher_native: bool = True) -> None:
    """Does ``recipe`` apply to a teacher this deep? Checked before any training (and by
    `edgebert run` before any step), so a recipe made for another depth fails in seconds."""
    depth = student_depth(recipe.student, teacher_layers, teacher_native)
    preflight(recipe.stages, depth, teacher_layers)


def _stash_path(out: Path) -> Path:
    return out.parent / f".{out.name}.work-stash"


def _recover_stash(out: Path) -> None:
    """A run killed while saving leaves .work beside OUT; put it back so the work is not lost."""
    stash = _stash_path(out)
    if stash.is_dir() and not (out / WORK_NAME).exists():
        output_dir(out)
        os.replace(stash, out / WORK_NAME)


def _fingerprint(recipe: Recipe, teacher: Teacher, data: LabelledData, max_steps: int | None) -> str:
    return sha256_text(json.dumps(recipe.to_dict(), sort_keys=True, default=str), teacher_stamp(teacher.path),
                       examples_hash(data.examples), ",".join(data.label_names), str(max_steps), __version__)


def _eval(model, tok, examples: list[Example], label_names: list[str], max_seq_len: int, bs: int) -> dict[str, Any]:
    enc = encode(tok, examples, max_seq_len, label_names)
    pred = logits_of(model, enc, bs).argmax(1)
    return {"examples": len(examples), "accuracy": round(float((pred == enc.labels).float().mean()), 4),
            "macro_f1": round(macro_f1(pred, enc.labels, len(label_names)), 4), "truncated": enc.truncated}


def _latency(model, seq_len: int, runs: int) -> dict | None:
    if runs <= 0:
        return None
    model = model.cpu().eval()
    return dataclasses.asdict(cpu_latency(model, seq_len, runs=runs))


def _labels(data: LabelledData, teacher: Teacher) -> LabelledData:
    if list(data.label_names) == teacher.label_names:
        return data
    unknown = sorted(set(e.label for e in data.examples) - set(teacher.label_names))
    if unknown:
        raise DataError(f"data has label(s) {', '.join(map(repr, unknown[:5]))} that the teacher does not know "
                        f"({', '.join(teacher.label_names)})", "use data labelled with the teacher's label names")
    return dataclasses.replace(data, label_names=list(teacher.label_names))


def _split_settings(teacher: Teacher, recipe: Recipe) -> dict[str, Any]:
    """Split as the teacher's head was trained when it says how, so its dev/test stay unseen by both."""
    rec = getattr(teacher.model.config, "provenance", {}).get("head_training", {}) \
        if hasattr(teacher.model.config, "provenance") else {}
    if all(k in rec for k in ("seed", "dev_fraction", "test_fraction")):
        recorded = {"dev_fraction": float(rec["dev_fraction"]), "test_fraction": float(rec["test_fraction"])}
        clash = {k: v for k, v in (("dev_fraction", recipe.dev_fraction), ("test_fraction", recipe.test_fraction))
                 if v is not None and v != recorded[k]}
        if clash:
            raise EdgebertError(f"the recipe sets {', '.join(f'{k} {v}' for k, v in clash.items())}, but the "
                                f"teacher's head was trained on a split with {', '.join(f'{k} {v}' for k, v in recorded.items())}:"
                                " the teacher's dev/test examples would leak into the student's training",
                                "remove dev_fraction/test_fraction from the recipe")
        return {"seed": int(rec["seed"]), **recorded, "from": "teacher's recorded split"}
    return {"seed": recipe.seed, "dev_fraction": recipe.dev_fraction or DEFAULT_FRACTION,
            "test_fraction": recipe.test_fraction or DEFAULT_FRACTION, "from": "recipe"}


def _shape(model) -> dict[str, Any]:
    return {"layers": model.num_layers, "heads": [l.num_heads for l in model.config.layers],
            "ffn": [l.intermediate_size for l in model.config.layers], "hidden_size": model.config.hidden_size,
            "parameters": model.num_parameters()}


def compress(teacher_dir: str | Path, data: LabelledData, recipe: Recipe | str | Path, out: str | Path, *,
             max_steps: int | None = None, max_train_examples: int | None = None, seed: int | None = None,
             checkpoint_every: int | None = None, latency_runs: int = 20, keep_work: bool = False,
             fresh: bool = False) -> dict[str, Any]:
    """Run ``recipe`` and write the student + ``compress_report.json`` to ``out``; returns the report."""
    t_start = time.time()
    recipe = recipe if isinstance(recipe, Recipe) else load_recipe(recipe)
    recipe = dataclasses.replace(recipe, stages=list(recipe.stages))
    if seed is not None:
        recipe.seed = seed
    if max_train_examples is not None:
        recipe.max_train_examples = max_train_examples
    if checkpoint_every is not None:
        recipe.checkpoint_every = checkpoint_every
    if max_steps is not None and max_steps <= 0:
        raise EdgebertError(f"--max-steps must be positive, got {max_steps}", "omit it to train full epochs")
    out = Path(out).expanduser()
    teacher = load_teacher(teacher_dir)
    _check_out(out, teacher.path)
    check_recipe(recipe, teacher.num_layers, teacher.kind == "edgebert")
    data = _labels(data, teacher)
    split_cfg = _split_settings(teacher, recipe)
    parts: Splits = split(data, split_cfg["dev_fraction"], split_cfg["test_fraction"], split_cfg["seed"])
    train, dev, test = parts.get("train"), parts.get("dev"), parts.get("test")
    if recipe.max_train_examples and len(train) > recipe.max_train_examples:
        train = random.Random(recipe.seed).sample(train, recipe.max_train_examples)
    max_seq_len = recipe.max_seq_len or teacher.recorded_max_seq_len() or 128

    student, tok_dir = init_student(recipe.student, teacher, recipe.seed)
    preflight(recipe.stages, student.num_layers, teacher.num_layers)
    limit = min(student.config.max_position_embeddings, teacher.max_positions)
    if max_seq_len > limit:
        raise EdgebertError(f"max_seq_len {max_seq_len} exceeds the model's {limit} positions",
                            f"set max_seq_len <= {limit} in the recipe")
    tok = load_tokenizer(tok_dir)
    t_tok = tok if Path(tok_dir) == teacher.path else load_tokenizer(teacher.path)
    shared = same_tokenizer(tok, t_tok)
    t_tok = tok if shared else t_tok

    main = is_main_process()
    work = out / WORK_NAME
    fp = _fingerprint(recipe, teacher, data, max_steps)
    fp_file = work / "fingerprint.json"
    resumed = False
    if main:
        _recover_stash(out)
        if work.exists() and (fresh or not fp_file.exists()
                              or json.loads(fp_file.read_text()).get("fingerprint") != fp):
            if not fresh:
                console.print(f"[yellow]settings changed since the unfinished run in {work}: starting over[/]")
            shutil.rmtree(work)
        resumed = work.exists()
        if resumed:
            console.print(f"resuming the unfinished run in {work}")
        atomic_write_json(fp_file, {"fingerprint": fp, "recipe": recipe.source})
    wait_for_everyone()

    ctx = Context(teacher=teacher, tokenizer=tok, teacher_tokenizer=t_tok, shared_tokens=shared,
                  label_names=list(teacher.label_names), train=train, dev=dev, max_seq_len=max_seq_len,
                  seed=recipe.seed, batch_size=recipe.batch_size, eval_batch_size=recipe.eval_batch_size,
                  checkpoint_every=recipe.checkpoint_every, work=work, max_steps=max_steps,
                  tokenizer_dir=Path(tok_dir))
    if not shared:
        ctx.note("the student's tokenizer differs from the teacher's: each side encodes the text itself; "
                 "only logit losses are possible")
    reports = []
    n = len(recipe.stages)
    for k, stage in enumerate(recipe.stages, 1):
        sdir = work / f"stage-{k}"
        done = sdir / "done.json"
        if done.exists():
            rep = json.loads(done.read_text())
            student = load_checkpoint(sdir / "result").train()
            if stage.type == "augment":
                ctx.augmented = read_examples(sdir / "augmented.jsonl")
            if stage.type == "trim_vocab":  # the student reads the trimmed vocabulary from here on
                tok_dir = sdir / "result"
                tok = load_tokenizer(tok_dir)
                ctx.switch_tokenizer(tok, tok_dir)
            reports.append(rep)
            console.print(f"stage {k}/{n} {stage.type}: already done")
            continue
        label = f"stage {k}/{n} {stage.type}"
        console.print(f"[bold]{label}[/]")
        t0 = time.time()
        run = StageRun(ctx, sdir, mix_seed(recipe.seed, k), label, extra={"test": test, "train_all": parts.train})
        student, info = RUNNERS[stage.type](stage, student, run)
        rep = {"stage": k, "type": stage.type, "config": dataclasses.asdict(stage), **info,
               "seconds": round(time.time() - t0, 2),
               "dev_accuracy": round(accuracy(student, ctx.dev_encoded(), ctx.eval_batch_size), 4),
               "shape": _shape(student)}
        console.print(f"{label}: dev accuracy {rep['dev_accuracy']:.4f}, {rep['shape']['parameters']:,} parameters, "
                      f"{rep['seconds']:.0f} s")
        if main:
            trimmed = stage.type == "trim_vocab"
            save_checkpoint(student, sdir / "result", tokenizer_from=sdir / "tokenizer" if trimmed else None)
            if trimmed:
                tok_dir, tok = sdir / "result", ctx.tokenizer
            atomic_write_json(done, rep)
            for ckpt in [*sdir.rglob("checkpoint-*"), *sdir.rglob(".checkpoint-*.tmp")]:
                shutil.rmtree(ckpt, ignore_errors=True)  # the stage is done: its training state is not needed
        wait_for_everyone()
        reports.append(rep)

    console.print("evaluating teacher and student")
    student = student.cpu().eval()
    teacher.model.cpu()
    bs = recipe.eval_batch_size
    t_key = (teacher_stamp(teacher.path), examples_hash(dev), examples_hash(test), max_seq_len)
    if t_key not in _TEACHER_EVAL:  # the teacher's scores do not change between runs on the same data
        _TEACHER_EVAL[t_key] = {name: _eval(teacher.model, t_tok, ex, ctx.label_names, max_seq_len, bs)
                                for name, ex in (("dev", dev), ("test", test))}
    t_eval = _TEACHER_EVAL[t_key]
    s_eval = {name: _eval(student, tok, ex, ctx.label_names, max_seq_len, bs) for name, ex in (("dev", dev), ("test", test))}
    t_lat, s_lat = _latency(teacher.model, max_seq_len, latency_runs), _latency(student, max_seq_len, latency_runs)

    prov = student.config.provenance
    prov["trained_head"] = True
    prov["head_training"] = {"method": f"edgebert compress (recipe {recipe.name})", "max_seq_len": max_seq_len,
                             "data": data.source, "data_sha256": examples_hash(data.examples), "seed": split_cfg["seed"],
                             "dev_fraction": split_cfg["dev_fraction"], "test_fraction": split_cfg["test_fraction"],
                             "training_seed": recipe.seed}
    prov["compression"] = {"recipe": recipe.name, "recipe_source": recipe.source, "teacher": str(teacher.path),
                           "stages": [s.type for s in recipe.stages]}
    if not main:  # process 0 writes the result; the others are done
        wait_for_everyone()
        return {}
    stash = _stash_path(out)
    if stash.exists():
        shutil.rmtree(stash)
    tok_from = Path(tok_dir).resolve()
    if work.resolve() in tok_from.parents:  # a trimmed tokenizer lives in the work folder, about to be stashed
        tok_from = stash / tok_from.relative_to(work.resolve())
    os.replace(work, stash)  # save_checkpoint replaces OUT atomically; keep the work beside it meanwhile
    save_checkpoint(student, out, tokenizer_from=tok_from)
    report = {
        "edgebert_version": __version__,
        "recipe": {"name": recipe.name, "source": recipe.source, **recipe.to_dict()},
        "teacher": {"path": str(teacher.path), "kind": teacher.kind, "layers": teacher.num_layers,
                    "heads": teacher.heads, "parameters": teacher.num_parameters(),
                    "size_bytes": teacher.size_bytes(), **t_eval, "latency": t_lat},
        "student": {"path": str(out), **_shape(student), "size_bytes": model_size_bytes(out), **s_eval,
                    "latency": s_lat, "kept_layers": prov.get("kept_layers"), "kept_heads": prov.get("kept_heads")},
        "data": {"source": data.source, "sha256": examples_hash(data.examples), "train_used": len(train),
                 "train_available": len(parts.train), "dev": len(dev), "test": len(test),
                 "augmented": len(ctx.augmented), "max_seq_len": max_seq_len, "split": split_cfg},
        "max_steps_per_stage": max_steps,
        "stages": reports,
        "notes": ctx.notes,
        "resumed": resumed,
        "seconds": round(time.time() - t_start, 2),
        "where": "host CPU (PyTorch eager)" if not torch.cuda.is_available() else "PyTorch eager",
    }
    report["student"]["accuracy_vs_teacher_test"] = round(s_eval["test"]["accuracy"] / max(t_eval["test"]["accuracy"], 1e-9), 4)
    atomic_write_json(out / REPORT_NAME, report)
    if keep_work:
        os.replace(stash, out / WORK_NAME)
    else:
        shutil.rmtree(stash, ignore_errors=True)
    wait_for_everyone()
    console.print(f"[green]student written to {out}[/]: test accuracy {s_eval['test']['accuracy']:.4f} "
                  f"(teacher {t_eval['test']['accuracy']:.4f}), {report['student']['parameters']:,} parameters")
    return report
