"""``compress()``: run a recipe from teacher to a saved, evaluated student.

Four steps, each a function: :func:`prepare` (every check and the data split, before any
training), :func:`run_stages`, :func:`evaluate` (teacher and student on dev and test) and
:func:`publish` (the checkpoint and ``compress_report.json``, written atomically).

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
from ..evaluation import cpu_latency, score, score_logits
from ..fsutil import atomic_write_json, check_output_dir, output_dir, sha256_text
from ..model import load_checkpoint, model_size_bytes, save_checkpoint
from ..progress import console
from .augment import read_examples
from ..teacher_outputs import model_stamp
from .context import Context, accuracy
from .recipe import DEFAULT_FRACTION, Recipe, load_recipe
from .stage_configs import StudentFacts, preflight
from .stage_runners import RUNNERS, StageRun
from .student import init_student, student_depth
from .teacher_model import Teacher, load_teacher, same_tokenizer
from .trainer import is_main_process, mix_seed, wait_for_everyone

REPORT_NAME = "compress_report.json"
WORK_NAME = ".work"


def _check_out(out: Path, teacher: Path) -> None:
    o, t = out.resolve(), teacher.resolve()
    if o == t or t in o.parents:
        raise EdgebertError(f"--out {out} is the teacher's folder or inside it", "write the student to a new folder")
    check_output_dir(out, "--out")


def check_recipe(recipe: Recipe, teacher_layers: int, teacher_native: bool = True,
                 teacher_facts: StudentFacts | None = None) -> None:
    """Does ``recipe`` apply to this teacher (its depth, and its architecture when the student is
    copied from it)? Checked before any training (and by `edgebert run` before any step), so a
    recipe made for another depth or family fails in seconds."""
    depth = student_depth(recipe.student, teacher_layers, teacher_native)
    copied = recipe.student.init in ("teacher", "teacher_layers")
    preflight(recipe.stages, depth, teacher_layers, teacher_facts if copied else None)


def _stash_path(out: Path) -> Path:
    return out.parent / f".{out.name}.work-stash"


def _recover_stash(out: Path) -> None:
    """A run killed while saving leaves .work beside OUT; put it back so the work is not lost."""
    stash = _stash_path(out)
    if stash.is_dir() and not (out / WORK_NAME).exists():
        output_dir(out)
        os.replace(stash, out / WORK_NAME)


def _fingerprint(recipe: Recipe, teacher: Teacher, data: LabelledData, max_steps: int | None) -> str:
    return sha256_text(json.dumps(recipe.to_dict(), sort_keys=True, default=str), model_stamp(teacher.path),
                       examples_hash(data.examples), ",".join(data.label_names), str(max_steps), __version__)


def _eval(model, tok, examples: list[Example], label_names: list[str], max_seq_len: int, bs: int) -> dict[str, Any]:
    s = score(model, tok, examples, label_names, "", max_seq_len=max_seq_len, batch_size=bs)
    return {"examples": s.examples, "accuracy": round(s.accuracy, 4), "macro_f1": round(s.macro_f1, 4),
            "truncated": s.truncated}


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


@dataclasses.dataclass
class Plan:
    """Everything :func:`prepare` checked and decided, before any training."""

    recipe: Recipe
    teacher: Teacher
    data: LabelledData
    parts: Splits
    train: list[Example]
    split: dict[str, Any]
    max_seq_len: int
    student: torch.nn.Module
    tok_dir: Path
    tokenizer: Any
    teacher_tokenizer: Any
    shared_tokens: bool
    out: Path
    max_steps: int | None

    @property
    def work(self) -> Path:
        return self.out / WORK_NAME


@dataclasses.dataclass
class Stages:
    """What :func:`run_stages` produced."""

    student: torch.nn.Module
    reports: list[dict]
    ctx: Context
    tok_dir: Path
    tokenizer: Any
    resumed: bool


def prepare(teacher_dir: str | Path, data: LabelledData, recipe: Recipe | str | Path, out: str | Path, *,
            max_steps: int | None = None, max_train_examples: int | None = None, seed: int | None = None,
            checkpoint_every: int | None = None) -> Plan:
    """Load, check and split: every mistake in the inputs fails here, in seconds."""
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
    train = parts.get("train")
    parts.get("dev"), parts.get("test")  # both must be non-empty
    if recipe.max_train_examples and len(train) > recipe.max_train_examples:
        train = random.Random(recipe.seed).sample(train, recipe.max_train_examples)
    max_seq_len = recipe.max_seq_len or teacher.recorded_max_seq_len() or 128
    student, tok_dir = init_student(recipe.student, teacher, recipe.seed)
    tok = load_tokenizer(tok_dir)
    preflight(recipe.stages, student.num_layers, teacher.num_layers,
              StudentFacts.of(student, type(tok.backend_tokenizer.model).__name__))
    limit = min(student.config.max_seq_len, teacher.max_positions)
    if max_seq_len > limit:
        raise EdgebertError(f"max_seq_len {max_seq_len} exceeds the model's {limit} positions",
                            f"set max_seq_len <= {limit} in the recipe")
    t_tok = tok if Path(tok_dir) == teacher.path else load_tokenizer(teacher.path)
    shared = same_tokenizer(tok, t_tok)
    return Plan(recipe, teacher, data, parts, train, split_cfg, max_seq_len, student, Path(tok_dir), tok,
                tok if shared else t_tok, shared, out, max_steps)


def _open_work(plan: Plan, fresh: bool) -> bool:
    """Resume the unfinished run in OUT/.work if its settings match; True when resuming."""
    work = plan.work
    fp = _fingerprint(plan.recipe, plan.teacher, plan.data, plan.max_steps)
    fp_file = work / "fingerprint.json"
    _recover_stash(plan.out)
    if work.exists() and (fresh or not fp_file.exists() or json.loads(fp_file.read_text()).get("fingerprint") != fp):
        if not fresh:
            console.print(f"[yellow]settings changed since the unfinished run in {work}: starting over[/]")
        shutil.rmtree(work)
    resumed = work.exists()
    if resumed:
        console.print(f"resuming the unfinished run in {work}")
    atomic_write_json(fp_file, {"fingerprint": fp, "recipe": plan.recipe.source})
    return resumed


def run_stages(plan: Plan, *, fresh: bool = False) -> Stages:
    """Each stage in order; finished stages are read back, the running one resumes from its checkpoint."""
    main = is_main_process()
    resumed = _open_work(plan, fresh) if main else False
    wait_for_everyone()
    r, work = plan.recipe, plan.work
    student, tok_dir, tok = plan.student, plan.tok_dir, plan.tokenizer
    ctx = Context(teacher=plan.teacher, tokenizer=tok, teacher_tokenizer=plan.teacher_tokenizer,
                  shared_tokens=plan.shared_tokens, label_names=list(plan.teacher.label_names), train=plan.train,
                  dev=plan.parts.dev, max_seq_len=plan.max_seq_len, seed=r.seed, batch_size=r.batch_size,
                  eval_batch_size=r.eval_batch_size, checkpoint_every=r.checkpoint_every, work=work,
                  max_steps=plan.max_steps, tokenizer_dir=tok_dir)
    if not plan.shared_tokens:
        ctx.note("the student's tokenizer differs from the teacher's: each side encodes the text itself "
                 "(intermediate losses only where the two split the training text identically)")
    reports = []
    n = len(r.stages)
    for k, stage in enumerate(r.stages, 1):
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
        run = StageRun(ctx, sdir, mix_seed(r.seed, k), label,
                       extra={"test": plan.parts.test, "train_all": plan.parts.train})
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
    return Stages(student, reports, ctx, Path(tok_dir), tok, resumed)


def evaluate(plan: Plan, stages: Stages, latency_runs: int = 20) -> dict[str, Any]:
    """Teacher and student on dev and test (the teacher's scores are cached on disk), and CPU latency."""
    console.print("evaluating teacher and student")
    student = stages.student.cpu().eval()
    teacher = plan.teacher
    teacher.model.cpu()
    bs, labels, length = plan.recipe.eval_batch_size, stages.ctx.label_names, plan.max_seq_len
    splits = (("dev", plan.parts.dev), ("test", plan.parts.test))

    def teacher_eval(examples: list[Example]) -> dict[str, Any]:  # from the stored per-example logits
        enc = encode(plan.teacher_tokenizer, examples, length, labels)
        s = score_logits(stages.ctx.teacher_logits_for(examples), enc.labels, len(labels), "", enc.truncated)
        return {"examples": s.examples, "accuracy": round(s.accuracy, 4), "macro_f1": round(s.macro_f1, 4),
                "truncated": s.truncated}

    t_eval = {name: teacher_eval(ex) for name, ex in splits}
    s_eval = {name: _eval(student, stages.tokenizer, ex, labels, length, bs) for name, ex in splits}
    return {"teacher": t_eval, "student": s_eval, "teacher_latency": _latency(teacher.model, length, latency_runs),
            "student_latency": _latency(student, length, latency_runs)}


def publish(plan: Plan, stages: Stages, scores: dict[str, Any], *, keep_work: bool = False,
            seconds: float = 0.0) -> dict[str, Any]:
    """Write the student checkpoint and compress_report.json to OUT (process 0 only)."""
    recipe, teacher, data, out, work = plan.recipe, plan.teacher, plan.data, plan.out, plan.work
    student, split_cfg = stages.student, plan.split
    prov = student.config.provenance
    prov["trained_head"] = True
    prov["head_training"] = {"method": f"edgebert compress (recipe {recipe.name})", "max_seq_len": plan.max_seq_len,
                             "data": data.source, "data_sha256": examples_hash(data.examples), "seed": split_cfg["seed"],
                             "dev_fraction": split_cfg["dev_fraction"], "test_fraction": split_cfg["test_fraction"],
                             "training_seed": recipe.seed}
    prov["compression"] = {"recipe": recipe.name, "recipe_source": recipe.source, "teacher": str(teacher.path),
                           "stages": [s.type for s in recipe.stages]}
    if not is_main_process():  # process 0 writes the result; the others are done
        wait_for_everyone()
        return {}
    stash = _stash_path(out)
    if stash.exists():
        shutil.rmtree(stash)
    tok_from = stages.tok_dir.resolve()
    if work.resolve() in tok_from.parents:  # a trimmed tokenizer lives in the work folder, about to be stashed
        tok_from = stash / tok_from.relative_to(work.resolve())
    os.replace(work, stash)  # save_checkpoint replaces OUT atomically; keep the work beside it meanwhile
    save_checkpoint(student, out, tokenizer_from=tok_from)
    t_eval, s_eval = scores["teacher"], scores["student"]
    report = {
        "edgebert_version": __version__,
        "recipe": {"name": recipe.name, "source": recipe.source, **recipe.to_dict()},
        "teacher": {"path": str(teacher.path), "kind": teacher.kind, "layers": teacher.num_layers,
                    "heads": teacher.heads, "parameters": teacher.num_parameters(),
                    "size_bytes": teacher.size_bytes(), **t_eval, "latency": scores["teacher_latency"]},
        "student": {"path": str(out), **_shape(student), "size_bytes": model_size_bytes(out), **s_eval,
                    "latency": scores["student_latency"], "kept_layers": prov.get("kept_layers"),
                    "kept_heads": prov.get("kept_heads")},
        "data": {"source": data.source, "sha256": examples_hash(data.examples), "train_used": len(plan.train),
                 "train_available": len(plan.parts.train), "dev": len(plan.parts.dev), "test": len(plan.parts.test),
                 "augmented": len(stages.ctx.augmented), "max_seq_len": plan.max_seq_len, "split": split_cfg},
        "max_steps_per_stage": plan.max_steps,
        "stages": stages.reports,
        "notes": stages.ctx.notes,
        "resumed": stages.resumed,
        "seconds": round(seconds, 2),
        "where": "host CPU (PyTorch eager)" if not torch.cuda.is_available() else "PyTorch eager",
    }
    report["student"]["accuracy_vs_teacher_test"] = round(
        s_eval["test"]["accuracy"] / max(t_eval["test"]["accuracy"], 1e-9), 4)
    atomic_write_json(out / REPORT_NAME, report)
    if keep_work:
        os.replace(stash, out / WORK_NAME)
    else:
        shutil.rmtree(stash, ignore_errors=True)
    wait_for_everyone()
    console.print(f"[green]student written to {out}[/]: test accuracy {s_eval['test']['accuracy']:.4f} "
                  f"(teacher {t_eval['test']['accuracy']:.4f}), {report['student']['parameters']:,} parameters")
    return report


def compress(teacher_dir: str | Path, data: LabelledData, recipe: Recipe | str | Path, out: str | Path, *,
             max_steps: int | None = None, max_train_examples: int | None = None, seed: int | None = None,
             checkpoint_every: int | None = None, latency_runs: int = 20, keep_work: bool = False,
             fresh: bool = False) -> dict[str, Any]:
    """Run ``recipe`` and write the student + ``compress_report.json`` to ``out``; returns the report."""
    t_start = time.time()
    plan = prepare(teacher_dir, data, recipe, out, max_steps=max_steps, max_train_examples=max_train_examples,
                   seed=seed, checkpoint_every=checkpoint_every)
    stages = run_stages(plan, fresh=fresh)
    scores = evaluate(plan, stages, latency_runs)
    return publish(plan, stages, scores, keep_work=keep_work, seconds=time.time() - t_start)
