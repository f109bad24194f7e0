"""`export_model`: model folder + labelled data -> one gated bundle per target.

For each target: export, run the artifact in its own runtime on held-out examples (parity
against the edgebert PyTorch model) and on the eval split (task accuracy), and, when int8
costs more than the accuracy budget, retry with the most int8-sensitive layers kept in
float. Bundles that fail their gates are written as ``NAME.rejected`` with the reasons.
Where the target's runtime cannot run here (CoreML off macOS) the bundle's status is
``unverified``: its structure is checked, its numerics are not.
"""

from __future__ import annotations

import dataclasses
import importlib
import platform
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from edgebert.data import LabelledData, encode, load_tokenizer, sample_calibration, split
from edgebert.data.encoding import Encoded
from edgebert.data.examples import examples_hash
from edgebert.sources import remember
from edgebert.errors import DependencyError, EdgebertError
from edgebert.fsutil import output_dir, scratch_dir
from edgebert.inference import run_batches
from edgebert.model import load_model, weights_sha256
from edgebert.progress import console

from . import get_exporter, target_names
from .base import FLOAT, INPUT_NAMES, Artifact, Exporter, ExportRequest, Precision
from .bundle import read_bundle, reference_doc, write_bundle
from .gates import accuracy_gate, fed_lengths, parity, run_examples
from .sequence import SeqKind, SequenceShape
from .size_accounting import size_accounting


@dataclass
class ExportOptions:
    targets: list[str]
    quantize: str = FLOAT  # "none" (the target's float precision) or a Precision value it supports
    seq_len: int | None = None  # default: the length the model was trained at, else 128
    calib_size: int = 128
    calib_seed: int = 0
    split_seed: int = 0
    sensitivity_examples: int = 64  # dev examples scoring each layer's int8 sensitivity
    eval_split: str = "test"
    eval_limit: int | None = None
    accuracy_budget: float = 1.0  # points of accuracy int8 may lose before the fallback
    fallback: bool = True
    max_fallback_steps: int = 3
    float_modules: list[str] = field(default_factory=list)
    embedding_bits: int = 8  # int8 word tables: 8 (per row) or 4 (per group, ExecuTorch only)

    def validate(self) -> "ExportOptions":
        """Every option checked before any model loads (targets and modules are checked by export_model)."""
        for name, value in (("--calib-size", self.calib_size), ("--eval-limit", self.eval_limit),
                            ("--seq-len", self.seq_len), ("sensitivity_examples", self.sensitivity_examples)):
            if value is not None and value < 1:
                raise EdgebertError(f"{name} must be positive, got {value}", f"omit {name} or pass N > 0")
        if self.seq_len is not None and self.seq_len < 8:
            raise EdgebertError(f"--seq-len {self.seq_len} is too short", "use at least 8 tokens")
        if not 0 <= self.accuracy_budget <= 100:
            raise EdgebertError(f"--accuracy-budget {self.accuracy_budget} is not a number of accuracy points "
                                "between 0 and 100", "e.g. --accuracy-budget 1.0 (int8 may lose one point)")
        if self.max_fallback_steps < 0:
            raise EdgebertError("max_fallback_steps must be 0 or more", "use 0 to disable the fallback")
        if self.embedding_bits not in (8, 4):
            raise EdgebertError(f"--embedding-bits {self.embedding_bits} is not supported",
                                "use 8 (int8 per row) or 4 (4-bit per group, ExecuTorch only)")
        if not self.targets:
            raise EdgebertError("no export target given", f"pass --target with one or more of {', '.join(target_names())}")
        return self


def check_float_modules(model: torch.nn.Module, names: list[str]) -> None:
    """A --keep-float name must be a module of this model, or the metadata would record a fiction."""
    known = dict(model.named_modules())
    for name in names:
        if name not in known:
            import difflib

            close = difflib.get_close_matches(name, [n for n in known if n], n=1)
            hint = f"did you mean {close[0]}?" if close else "use a module name such as encoder.layer.0"
            raise EdgebertError(f"--keep-float {name}: the model has no such module", hint)


@dataclass
class BundleResult:
    target: str
    precision: str
    path: Path
    status: str  # passed | rejected | unverified (its runtime cannot run here: numerics not checked)
    metadata: dict[str, Any]

    @property
    def passed(self) -> bool:
        return self.status == "passed"


def require_target(exporter: Exporter) -> None:
    for mod in exporter.export_modules:
        try:
            importlib.import_module(mod)
        except Exception as exc:
            raise DependencyError(f"cannot export {exporter.target}: {mod} does not import ({str(exc).splitlines()[0][:120]})",
                                  exporter.install_hint) from None


def _padded(enc: Encoded) -> dict[str, torch.Tensor]:
    return {n: getattr(enc, n) for n in INPUT_NAMES}


class ExportContext:
    """Everything shared by the exports of one model on one data set: the loaded model, the
    calibration batches, the encoded eval split and its PyTorch reference logits, and the int8
    sensitivity ranking (computed on first use). A caller exporting the same model to several
    targets in separate calls (``edgebert run``) passes it back to :func:`export_model`."""

    def __init__(self, model_dir: Path, data: LabelledData, opts: ExportOptions):
        self.key = context_key(model_dir, data, opts)
        self.model_dir = model_dir
        self.model = load_model(model_dir, require_head=True)
        check_float_modules(self.model, opts.float_modules)
        self.labels = self.model.config.label_names
        recorded = self.model.config.provenance.get("head_training", {}).get("max_seq_len")
        positions = self.model.config.max_seq_len
        self.seq_len = opts.seq_len or int(recorded or min(128, positions))
        if self.seq_len > positions:
            raise EdgebertError(f"--seq-len {self.seq_len} exceeds the model's {positions} positions",
                                "use a shorter --seq-len")
        tok = load_tokenizer(model_dir)
        parts = split(data, seed=opts.split_seed)
        self.calib = sample_calibration(parts.get("train"), opts.calib_size, opts.calib_seed)
        calib_enc = encode(tok, self.calib.examples, self.seq_len, self.labels)
        self.calibration = [{n: getattr(calib_enc, n)[i:i + 1] for n in INPUT_NAMES} for i in range(len(calib_enc))]
        self.sensitivity_enc = encode(tok, parts.get("dev")[:opts.sensitivity_examples], self.seq_len, self.labels)
        eval_examples = parts.get(opts.eval_split)[:opts.eval_limit]
        self.eval_enc = encode(tok, eval_examples, self.seq_len, self.labels)
        self.eval_ref = run_batches(self.model, self.eval_enc, show_progress=False).numpy()
        self.reference = reference_doc(self.eval_enc, self.eval_ref, eval_examples, self.labels, opts.eval_split)
        self.eval_split = opts.eval_split
        # names and content hashes only: a bundle carries no path of the machine that made it
        # (edgebert.sources keeps the hash -> path map locally, so `bench` can find the teacher)
        sha = weights_sha256(model_dir)
        remember("checkpoint", sha, model_dir)
        data_sha = examples_hash(data.examples)
        remember("data", data_sha, data.source)
        self.source = {"name": model_dir.resolve().name, "sha256": sha, "parameters": self.model.num_parameters()}
        self.calibration_meta = {"source": Path(data.source).name if Path(data.source).exists() else data.source,
                                 "data_sha256": data_sha, "split": "train", "size": len(self.calib),
                                 "seed": self.calib.seed, "sha256": self.calib.sha256,
                                 "truncated": calib_enc.truncated}
        self._sensitivity = None

    def sensitivity(self):
        if self._sensitivity is None:
            from .sensitivity import measure

            console.print("measuring per-layer int8 sensitivity (Q-BERT style) ...")
            held = _padded(self.sensitivity_enc)
            self._sensitivity = measure(self.model, self.calibration, held, tuple(v[:1] for v in held.values()))
        return self._sensitivity


def _gate(exporter: Exporter, art: Artifact, ctx: ExportContext, opts: ExportOptions) -> dict[str, Any]:
    """Parity + accuracy in the artifact's own runtime: status ``passed`` or ``failed``.

    Where that runtime cannot run, the numerics are ``unverified``: only the saved artifact's
    structure is checked, and a torch graph with its quantization may reject it but never pass it."""
    if not exporter.can_run_here():
        return _unverified_gate(exporter, art, ctx, opts)
    t0 = time.time()
    run = exporter.runner(art)
    par, acc = _numerics(run, exporter, art, ctx, opts, "gates")
    padded = _padded_parity(run, exporter, art, ctx)
    ok = par.passed and acc.passed and (padded is None or padded.passed)
    return {"status": "passed" if ok else "failed", "passed": ok, "runtime_checked": True,
            "verified_in": f"{exporter.target} runtime on {platform.system()} {platform.machine()}",
            "parity": par.to_dict(), "accuracy": acc.to_dict(), "lengths": fed_lengths(ctx.eval_enc, art.sequence),
            **({"parity_at_max_length": padded.to_dict()} if padded is not None else {}),
            "seconds": round(time.time() - t0, 1)}


PADDED_EXAMPLES = 64


def _padded_parity(run, exporter: Exporter, art: Artifact, ctx: ExportContext):
    """A length-flexible artifact fed unpadded sentences never sees a [PAD]: one that ignored the
    mask would pass. The app may pad (to the maximum, or to an enumerated length), so the
    first examples are also run padded to the maximum, against the same thresholds."""
    if art.sequence is None or art.sequence.kind is SeqKind.STATIC:
        return None
    k = min(PADDED_EXAMPLES, len(ctx.eval_enc))
    head = dataclasses.replace(ctx.eval_enc, input_ids=ctx.eval_enc.input_ids[:k],
                               attention_mask=ctx.eval_enc.attention_mask[:k],
                               token_type_ids=ctx.eval_enc.token_type_ids[:k],
                               labels=None if ctx.eval_enc.labels is None else ctx.eval_enc.labels[:k])
    logits = run_examples(run, head, f"{exporter.target}-{art.precision}: padded to {ctx.seq_len}")
    return parity(logits, ctx.eval_ref[:k], exporter.thresholds(art.precision))


def _numerics(run, exporter: Exporter, art: Artifact, ctx: ExportContext, opts: ExportOptions, what: str):
    # one pass over the held-out eval split gives both gates (a few dozen examples are too
    # few to estimate argmax agreement of an int8 model near the decision boundary)
    logits = run_examples(run, ctx.eval_enc, f"{exporter.target}-{art.precision}: {what}", art.sequence)
    par = parity(logits, ctx.eval_ref, exporter.thresholds(art.precision))
    budget = opts.accuracy_budget if not Precision(art.precision).is_float else 0.5
    return par, accuracy_gate(ctx.eval_split, logits, ctx.eval_ref, ctx.eval_enc.labels.numpy(), budget)


_OS_NAMES = {"Darwin": "macOS"}


def _unverified_gate(exporter: Exporter, art: Artifact, ctx: ExportContext, opts: ExportOptions) -> dict[str, Any]:
    t0 = time.time()
    needs = " or ".join(_OS_NAMES.get(s, s) for s in exporter.runs_on)
    check = getattr(exporter, "check_structure", None)  # what a target can verify without its runtime
    structure = check(art) if check else None
    reference = None
    if art.reference is not None and art.reference is not ctx.model:
        ref = art.reference

        def run(ids, mask, types):
            with torch.no_grad():
                return ref(*(torch.from_numpy(np.asarray(a, dtype=np.int64)) for a in (ids, mask, types))).float().numpy()

        par, acc = _numerics(run, exporter, art, ctx, opts, "torch reference graph")
        reference = {"what": "torch reference graph with the artifact's quantization, not the artifact",
                     "parity": par.to_dict(), "accuracy": acc.to_dict(), "passed": par.passed and acc.passed}
    failed = (structure is not None and not structure["passed"]) or (reference is not None and not reference["passed"])
    return {"status": "failed" if failed else "unverified", "passed": False, "runtime_checked": False,
            "verified_in": f"not run: {exporter.target} runs only on {needs}",
            "unverified_because": f"numerics not verified on this machine ({platform.system()}): {exporter.target} "
                                  f"artifacts run only on {needs}; export on {needs} to verify them",
            "parity": None, "accuracy": None, "structure": structure, "torch_reference": reference,
            "seconds": round(time.time() - t0, 1)}


def _export_once(exporter: Exporter, ctx: ExportContext, quantize: str, float_modules: list[str], work: Path,
                 options: dict[str, Any]):
    sub = Path(tempfile.mkdtemp(dir=work))
    req = ExportRequest(ctx.model, ctx.seq_len, quantize, ctx.calibration, sub, float_modules=float_modules,
                        options=dict(options))
    t0 = time.time()
    art = exporter.export(req)
    return art, round(time.time() - t0, 1)


def export_target(target: str, ctx: ExportContext, out_dir: Path, opts: ExportOptions) -> BundleResult:
    exporter = get_exporter(target)
    require_target(exporter)
    quantize = opts.quantize
    float_modules = (list(dict.fromkeys([*exporter.default_float_modules, *opts.float_modules]))
                     if quantize != FLOAT else [])
    options = {"embedding_bits": opts.embedding_bits}
    output_dir(out_dir)
    with scratch_dir(out_dir, f".{target}-work-") as work:
        console.print(f"[bold]{target}[/]: exporting ({quantize}) at seq len {ctx.seq_len} ...")
        art, secs = _export_once(exporter, ctx, quantize, float_modules, Path(work), options)
        gates = _gate(exporter, art, ctx, opts)
        attempts = [{"float_modules": float_modules, "export_seconds": secs, "gates": gates}]
        # a quantized artifact that misses either gate gets the sensitivity fallback
        needs_fallback = (not Precision(art.precision).is_float and gates["status"] == "failed"
                          and not (gates.get("structure") or {}).get("problems"))
        if needs_fallback and opts.fallback:
            ranking = [s.module for s in ctx.sensitivity() if s.module not in float_modules]
            for module in ranking[:opts.max_fallback_steps]:
                float_modules = float_modules + [module]
                console.print(f"{target}: {art.precision} failed its gates ({'; '.join(_reasons(gates))}); "
                              f"retrying with {module} in float")
                art, secs = _export_once(exporter, ctx, quantize, float_modules, Path(work), options)
                gates = _gate(exporter, art, ctx, opts)
                attempts.append({"float_modules": float_modules, "export_seconds": secs, "gates": gates})
                if gates["status"] != "failed":
                    break
        report = exporter.inspect(art)
        report["size"] = size_accounting(art.path, report)
        status = {"passed": "passed", "failed": "rejected", "unverified": "unverified"}[gates["status"]]
        reasons = _reasons(gates)
        name = f"{target}-{art.precision}"
        meta = {
            "status": status, "rejected_because": reasons,
            "seq_len": ctx.seq_len, "sequence": (art.sequence or SequenceShape.static(ctx.seq_len)).to_dict(),
            "source_checkpoint": ctx.source, "calibration": ctx.calibration_meta,
            "float_modules": float_modules, "gates": gates, "fallback_attempts": attempts[1:],
            "sensitivity": [asdict(s) for s in ctx._sensitivity] if ctx._sensitivity else None,
            "precision_report": report,
        }
        dest = out_dir / (f"{name}.rejected" if status == "rejected" else name)
        write_bundle(dest, art, ctx.model_dir, ctx.labels, meta, finalize=exporter.finalize_bundle,
                     reference=ctx.reference)
        meta["artifact_bytes"] = read_bundle(dest).artifact.bytes
    return BundleResult(target, art.precision, dest, status, meta)


def _reasons(gates: dict) -> list[str]:
    out = [f"structure: {p}" for p in (gates.get("structure") or {}).get("problems", [])]
    out += _numeric_reasons(gates.get("parity"), gates.get("accuracy"))
    out += [f"padded to the maximum length, {r}" for r in _numeric_reasons(gates.get("parity_at_max_length"), None)]
    ref = gates.get("torch_reference") or {}
    out += [f"torch reference graph (not the artifact): {r}" for r in _numeric_reasons(ref.get("parity"), ref.get("accuracy"))]
    return out


def _numeric_reasons(par: dict | None, acc: dict | None) -> list[str]:
    out = []
    if par and not par["passed"]:
        out.append(f"parity: max diff {par['max_abs_diff']:.3g}, argmax agreement {par['argmax_agreement']:.3f}, "
                   f"mean probability change {par['mean_prob_diff']:.4f}, "
                   f"mean cosine {par['mean_cosine']:.4f}{'' if par['cosine_gated'] else ' (not gated)'} "
                   f"vs thresholds {par['thresholds']}")
    if acc and not acc["passed"]:
        out.append(f"accuracy dropped {acc['drop_points']:.2f} points (budget {acc['budget_points']})")
    return out


def context_key(model_dir: Path, data: LabelledData, opts: ExportOptions) -> tuple:
    """What an export context depends on (the gate settings, not the target or precision)."""
    return (str(Path(model_dir).resolve()), weights_sha256(model_dir), examples_hash(data.examples),
            tuple(data.label_names), opts.seq_len, opts.calib_size, opts.calib_seed, opts.split_seed,
            opts.sensitivity_examples, opts.eval_split, opts.eval_limit)


def export_model(model_dir: str | Path, data: LabelledData, out_dir: str | Path, opts: ExportOptions, *,
                 context: ExportContext | None = None) -> list[BundleResult]:
    """One gated bundle per target. ``context``: one from an earlier call on the same model,
    data and gate settings, reused (it is rebuilt when any of them differ)."""
    opts.validate()
    everything = opts.targets == ["all"]
    targets = []
    for t in target_names() if everything else opts.targets:  # validate before any slow work
        exporter = get_exporter(t)
        if opts.quantize not in exporter.quantize_modes:
            if not everything:
                raise EdgebertError(f"target {t} does not support --quantize {opts.quantize}",
                                    f"use one of {', '.join(exporter.quantize_modes)}")
            console.print(f"[yellow]{t}: skipped, no --quantize {opts.quantize} mode[/]")
            continue
        targets.append(t)
    if not targets:
        raise EdgebertError(f"no target supports --quantize {opts.quantize}", "use --quantize none or int8")
    output_dir(out_dir)
    if context is not None and context.key == context_key(Path(model_dir), data, opts):
        check_float_modules(context.model, opts.float_modules)
        ctx = context
    else:
        ctx = ExportContext(Path(model_dir), data, opts)  # checks the float modules before the slow part
    return [export_target(t, ctx, Path(out_dir), opts) for t in targets]
