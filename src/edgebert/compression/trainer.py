"""The one training loop every stage uses: Accelerate, seeded, checkpointed, resumable.

Determinism is by construction, not by replaying history: the batch of step s is a pure
function of (seed, s) and the torch RNG (CPU and every GPU) is re-seeded from (seed, s)
before every step, so a run resumed from ``checkpoint-S`` continues exactly as the
uninterrupted run would have. That re-seeding is also why no RNG state is stored.

A checkpoint is never unpickled, so it holds no pickles: weights and optimizer moments in
safetensors, the optimizer's scalars and param groups, the LR schedule and the loss history
in JSON (Accelerate's ``save_state`` would write ``optimizer.bin`` and ``*.pkl``). It is
written by the main process to a temporary folder and renamed, so a ``kill -9`` mid-write
leaves the previous one intact.

``accelerate launch`` works unchanged: each process takes its slice of the global batch
(``split_batches``), and gradients are averaged by the prepared (DDP) module.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import torch
from torch import nn

from ..errors import CheckpointError
from ..progress import progress

STATE_FILE = "trainer_state.json"
MODEL_FILE = "model.safetensors"
OPTIM_TENSORS = "optimizer.safetensors"
OPTIM_FILE = "optimizer.json"
SCHED_FILE = "scheduler.json"
SCALER_FILE = "scaler.json"  # only under fp16 mixed precision
RESUME_FILES = (MODEL_FILE, OPTIM_TENSORS, OPTIM_FILE, SCHED_FILE)
StepFn = Callable[[nn.Module, int], tuple[torch.Tensor, dict[str, float]]]


@dataclass
class TrainSpec:
    description: str
    total_steps: int
    lr: float
    work_dir: Path
    seed: int = 0
    weight_decay: float = 0.01
    warmup: float = 0.1  # fraction of steps with a linear warm-up
    checkpoint_every: int = 200
    keep_checkpoints: int = 1
    max_grad_norm: float = 1.0


@dataclass
class TrainResult:
    steps: int
    seconds: float
    history: list[dict[str, float]] = field(default_factory=list)
    resumed_from: int | None = None

    def summary(self) -> dict[str, dict[str, float]]:
        """Per loss term: mean over the first and last 10% of steps and over the whole stage."""
        terms = sorted({k for h in self.history for k in h})
        out = {}
        win = max(1, len(self.history) // 10)
        for k in terms:
            vals = [h[k] for h in self.history if k in h]
            if vals:
                out[k] = {"first": _r(sum(vals[:win]) / len(vals[:win])), "last": _r(sum(vals[-win:]) / len(vals[-win:])),
                          "mean": _r(sum(vals) / len(vals))}
        return out


def _r(x: float) -> float:
    return float(f"{x:.6g}")


def mix_seed(*parts: int) -> int:
    h = 1469598103934665603
    for p in parts:
        h = ((h ^ (int(p) & 0xFFFFFFFFFFFF)) * 1099511628211) % (2**61 - 1)
    return h


def steps_per_epoch(n: int, batch_size: int) -> int:
    return max(1, math.ceil(n / batch_size))


def total_steps(n: int, batch_size: int, epochs: float, max_steps: int | None = None) -> int:
    steps = max(1, math.ceil(steps_per_epoch(n, batch_size) * epochs))
    return min(steps, max_steps) if max_steps else steps


def batch_indices(n: int, batch_size: int, seed: int, step: int, *, rank: int = 0, world: int = 1,
                  lengths: torch.Tensor | None = None, bucket: int = 50) -> torch.Tensor:
    """Indices of step ``step``'s batch: a fresh seeded permutation every epoch; this process's slice.

    With ``lengths``, each run of ``bucket`` batches of the permutation is sorted by length
    before being cut into batches (whose order is then shuffled), so a batch trimmed to its
    longest row carries little padding: ~1.5x faster steps on CPU, still random per epoch.
    """
    spe = steps_per_epoch(n, batch_size)
    epoch, pos = divmod(step, spe)
    gen = torch.Generator().manual_seed(mix_seed(seed, epoch, 17))
    perm = torch.randperm(n, generator=gen)
    if lengths is not None:
        chunk = batch_size * bucket
        parts = []
        for start in range(0, n, chunk):
            block = perm[start:start + chunk]
            parts.append(block[torch.argsort(lengths[block], descending=True, stable=True)])
        perm = torch.cat(parts)
        order = torch.randperm(spe, generator=gen)
        b = int(order[pos])
        idx = perm[b * batch_size:(b + 1) * batch_size]
    else:
        idx = perm[pos * batch_size:(pos + 1) * batch_size]
    return idx[rank::world]


def latest_checkpoint(work_dir: Path) -> Path | None:
    best = None
    for d in work_dir.glob("checkpoint-*"):
        if (d / STATE_FILE).exists() and d.name.split("-")[-1].isdigit():
            if best is None or int(d.name.split("-")[-1]) > int(best.name.split("-")[-1]):
                best = d
    return best


def _param_groups(module: nn.Module, weight_decay: float) -> list[dict]:
    decay, no_decay = [], []
    for name, p in module.named_parameters():
        if not p.requires_grad:
            continue
        (no_decay if name.endswith("bias") or "LayerNorm" in name else decay).append(p)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def make_accelerator():
    from accelerate import Accelerator
    from accelerate.utils import DataLoaderConfiguration, DistributedDataParallelKwargs

    # split_batches: the global batch is split across processes, so one step is one
    # scheduler step whatever the number of processes. LayerDrop leaves layers unused in
    # some steps, which DDP only tolerates with find_unused_parameters.
    return Accelerator(dataloader_config=DataLoaderConfiguration(split_batches=True),
                       kwargs_handlers=[DistributedDataParallelKwargs(find_unused_parameters=True)])


def is_main_process() -> bool:
    """Under ``accelerate launch`` only process 0 writes files; alone, this is always True."""
    from accelerate import PartialState

    return PartialState().is_main_process


def wait_for_everyone() -> None:
    from accelerate import PartialState

    PartialState().wait_for_everyone()


def train(module: nn.Module, step_fn: StepFn, spec: TrainSpec, accelerator=None) -> tuple[nn.Module, TrainResult]:
    """Run ``spec.total_steps`` optimisation steps of ``step_fn``; resumes from the latest checkpoint."""
    acc = accelerator or make_accelerator()
    total = spec.total_steps
    opt = torch.optim.AdamW(_param_groups(module, spec.weight_decay), lr=spec.lr)
    warm = max(1, int(total * spec.warmup)) if spec.warmup > 0 else 0

    def schedule(s: int) -> float:
        if s < warm:
            return (s + 1) / warm
        return max(0.0, (total - s) / max(1, total - warm))

    sched = torch.optim.lr_scheduler.LambdaLR(opt, schedule)
    module, opt, sched = acc.prepare(module, opt, sched)
    work = Path(spec.work_dir)
    work.mkdir(parents=True, exist_ok=True)
    start, history, prior_seconds, resumed = 0, [], 0.0, None
    latest = latest_checkpoint(work)
    if latest is not None:
        load_resume_state(latest, acc.unwrap_model(module), opt, sched, acc.scaler)
        state = json.loads((latest / STATE_FILE).read_text())
        start, history, prior_seconds = int(state["step"]), list(state["history"]), float(state["seconds"])
        resumed = start
    t0 = time.perf_counter()
    with progress() as bar:
        task = bar.add_task(spec.description, total=total, completed=start)
        for step in range(start, total):
            torch.manual_seed(mix_seed(spec.seed, step, 1))
            module.train()
            loss, terms = step_fn(module, step)
            acc.backward(loss)
            if spec.max_grad_norm:
                acc.clip_grad_norm_(module.parameters(), spec.max_grad_norm)
            opt.step()
            sched.step()
            opt.zero_grad(set_to_none=True)
            history.append({k: float(v) for k, v in terms.items()})
            shown = " ".join(f"{k} {v:.3f}" for k, v in terms.items())
            bar.update(task, advance=1, description=f"{spec.description} | {shown}")
            done = step + 1
            if spec.checkpoint_every and done % spec.checkpoint_every == 0 and done < total:
                _save(acc, (module, opt, sched), work, done, history, prior_seconds + time.perf_counter() - t0,
                      spec)
    model = acc.unwrap_model(module)
    seconds = prior_seconds + time.perf_counter() - t0
    acc.free_memory()
    return model, TrainResult(total, round(seconds, 2), history, resumed)


def _save(acc, parts, work: Path, step: int, history: list[dict], seconds: float, spec: TrainSpec) -> None:
    if acc.is_main_process:  # DDP keeps every process's weights and optimizer identical
        module, opt, sched = parts
        tmp = work / f".checkpoint-{step}.tmp"
        if tmp.exists():
            shutil.rmtree(tmp)
        tmp.mkdir()
        save_resume_state(tmp, acc.unwrap_model(module), opt, sched, acc.scaler)
        state = {"step": step, "seconds": seconds, "seed": spec.seed, "total_steps": spec.total_steps,
                 "data_position": "batch of step s = seeded permutation of epoch; see trainer.batch_indices",
                 "history": history}
        (tmp / STATE_FILE).write_text(json.dumps(state))
        final = work / f"checkpoint-{step}"
        if final.exists():
            shutil.rmtree(final)
        os.replace(tmp, final)
        old = sorted((d for d in work.glob("checkpoint-*") if d.name.split("-")[-1].isdigit()),
                     key=lambda d: int(d.name.split("-")[-1]))
        for d in old[:-spec.keep_checkpoints]:
            shutil.rmtree(d, ignore_errors=True)
    acc.wait_for_everyone()


def save_resume_state(folder: Path, model: nn.Module, opt, sched, scaler=None) -> None:
    """Weights and optimizer tensors to safetensors, everything else to JSON: loading needs no pickle."""
    from safetensors.torch import save_file, save_model

    save_model(model, str(folder / MODEL_FILE))  # drops tied duplicates, which save_file refuses
    optim = opt.state_dict()
    tensors, scalars = {}, {}
    for idx, entry in optim["state"].items():
        for key, value in entry.items():
            if torch.is_tensor(value):
                tensors[f"{idx}.{key}"] = value.detach().cpu().contiguous()
            else:
                scalars.setdefault(str(idx), {})[key] = value
    save_file(tensors, str(folder / OPTIM_TENSORS))
    (folder / OPTIM_FILE).write_text(json.dumps({"state": scalars, "param_groups": optim["param_groups"]}))
    (folder / SCHED_FILE).write_text(json.dumps(sched.state_dict()))
    if scaler is not None:
        (folder / SCALER_FILE).write_text(json.dumps(scaler.state_dict()))


def load_resume_state(folder: Path, model: nn.Module, opt, sched, scaler=None) -> None:
    """Restore what :func:`save_resume_state` wrote; a foreign, old or damaged checkpoint is one line."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file, load_model

    restart = f"delete the checkpoint-* folders in {folder.parent} to restart this stage"
    missing = [f for f in RESUME_FILES if not (folder / f).exists()]
    if missing:
        pickles = sorted(f.name for f in folder.iterdir() if f.suffix in (".bin", ".pkl", ".pt"))
        if pickles:
            raise CheckpointError(f"{folder} holds pickled training state ({', '.join(pickles)}) from an older "
                                  "edgebert; edgebert never unpickles", restart)
        raise CheckpointError(f"{folder} is incomplete (no {missing[0]})", restart)
    try:
        load_model(model, str(folder / MODEL_FILE), strict=True)
        tensors = load_file(str(folder / OPTIM_TENSORS))
        meta = json.loads((folder / OPTIM_FILE).read_text())
        state: dict[int, dict] = {int(i): dict(entry) for i, entry in meta["state"].items()}
        for name, value in tensors.items():
            idx, key = name.split(".", 1)
            state.setdefault(int(idx), {})[key] = value
        # JSON turns tuples (AdamW's betas) into lists; give each value the type the optimizer uses
        current = opt.state_dict()["param_groups"]
        groups = [{k: tuple(v) if isinstance(now.get(k), tuple) else v for k, v in saved.items()}
                  for saved, now in zip(meta["param_groups"], current)]
        opt.load_state_dict({"state": state, "param_groups": groups})
        sched.load_state_dict(json.loads((folder / SCHED_FILE).read_text()))
        if scaler is not None and (folder / SCALER_FILE).exists():
            scaler.load_state_dict(json.loads((folder / SCALER_FILE).read_text()))
    except (SafetensorError, OSError, RuntimeError, ValueError, KeyError) as exc:  # e.g. another model's state
        lines = [line.strip() for line in str(exc).splitlines() if line.strip()] or [type(exc).__name__]
        reason = lines[1] if len(lines) > 1 and lines[0].endswith(":") else lines[0]  # torch's detail is line 2
        raise CheckpointError(f"cannot resume from {folder}: {reason[:200]}", restart) from None
