"""Peer benchmark: edgebert's bundles against Optimum's and optimum-executorch's artifacts for the same teacher.

Every artifact is loaded once in this process and timed interleaved (R rounds, each running every
artifact on the same batch-1, seq-64 inputs in rotating order, one fixed thread count), so machine
noise hits all rows alike. Size, max |logit diff| against the PyTorch teacher and test accuracy
come from the same inputs.

Why "library equivalents": optimum-onnx and optimum-executorch pin other transformers versions, so
they go in their own virtualenvs under --work. Where pip cannot install them (no index holds them,
as on an offline machine) the row says so with pip's reason, and an equivalent row calls the same
library functions the peer calls (torch.onnx.export, onnxruntime's BERT optimizer and
quantize_dynamic, torch.export + torchao + XnnpackPartitioner) on a transformers model holding the
teacher's weights. Those rows are labelled "equivalent": they are not Optimum itself.

    .venv/bin/python benchmarks/peers/run.py [--model DIR] [--limit 500] [--rounds 10]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

HERE = Path(__file__).resolve().parent
DEFAULT_MODEL = Path("~/.cache/edgebert/teachers/minilm-l6-rotten-tomatoes-71062508106f").expanduser()
SEQ = 64
EDGEBERT = [("onnx", "none", "fp32"), ("onnx", "int8-dynamic", "int8"), ("executorch", "none", "fp32"),
            ("executorch", "int8", "int8")]
REAL = {"optimum-onnx", "optimum-executorch"}  # peers this script can drive from their own virtualenv
PEERS = {"optimum-onnx": ["optimum-onnx[onnxruntime]"], "optimum-executorch": ["optimum-executorch"]}
# (name, peer, target, precision, what the peer calls)
ROUTES = [("onnx-plain", "optimum-onnx", "onnx", "fp32", "optimum-cli export onnx"),
          ("onnx-O2", "optimum-onnx", "onnx", "fp32", "ORTOptimizer AutoOptimizationConfig.O2"),
          ("onnx-dyn-int8", "optimum-onnx", "onnx", "int8", "ORTQuantizer dynamic int8 per-channel"),
          ("et-fp32", "optimum-executorch", "executorch", "fp32", "--recipe xnnpack"),
          ("et-8da8w", "optimum-executorch", "executorch", "int8", "--recipe xnnpack --qlinear 8da8w --qembedding 8w")]


class MeanPoolClassifier(torch.nn.Module):
    """The teacher as a transformers encoder plus its head: transformers has no mean-pooling
    *ForSequenceClassification, so this is what a user of the peer tools would export."""

    def __init__(self, encoder, head: torch.nn.Module, mean: bool):
        super().__init__()
        self.encoder, self.head, self.mean = encoder, head, mean

    def forward(self, input_ids, attention_mask, token_type_ids=None):
        kw = {"token_type_ids": token_type_ids} if "token_type_ids" in self.encoder.forward.__code__.co_varnames else {}
        out = self.encoder(input_ids=input_ids, attention_mask=attention_mask, **kw)
        if not self.mean:
            return self.head(out.pooler_output)
        w = attention_mask.unsqueeze(-1).to(out.last_hidden_state.dtype)
        return self.head((out.last_hidden_state * w).sum(1) / w.sum(1).clamp(min=1e-9))


def hf_teacher(model_dir: Path) -> torch.nn.Module:
    """A transformers model with the checkpoint's weights (eager attention, as Optimum exports).
    Runs in the peers' virtualenvs too, so it needs only transformers and safetensors."""
    if (model_dir / "config.json").exists():
        from transformers import AutoModelForSequenceClassification

        hf = AutoModelForSequenceClassification.from_pretrained(str(model_dir), attn_implementation="eager").eval()
        return type("Logits", (torch.nn.Module,), {"forward": lambda s, i, m, t: hf(input_ids=i, attention_mask=m,
                                                     token_type_ids=t).logits, "hf": hf})()
    import re

    import transformers
    from safetensors.torch import load_file

    cfg, state = json.loads((model_dir / "edgebert.json").read_text()), load_file(model_dir / "model.safetensors")
    family, layers = cfg.get("family", "bert"), cfg["layers"]
    if family not in ("bert", "mpnet") or len({(x["num_heads"], x["intermediate_size"]) for x in layers}) != 1:
        from edgebert.errors import EdgebertError

        raise EdgebertError(f"{model_dir} is a {family} checkpoint with per-layer shapes the peer tools cannot load",
                            "pass an unpruned BERT or MPNet teacher (edgebert teacher --out DIR)")
    common = dict(vocab_size=cfg["vocab_size"], hidden_size=cfg["hidden_size"], num_hidden_layers=len(layers),
                  num_attention_heads=layers[0]["num_heads"], intermediate_size=layers[0]["intermediate_size"],
                  max_position_embeddings=cfg["max_position_embeddings"], layer_norm_eps=cfg["layer_norm_eps"],
                  hidden_act=cfg["hidden_act"], pad_token_id=cfg["pad_token_id"])
    head = {k: v for k, v in state.items() if k.startswith(("classifier.", "pre_classifier."))}
    body = {k: v for k, v in state.items() if k not in head}
    if family == "bert":
        hf_cfg, cls = transformers.BertConfig(type_vocab_size=cfg["type_vocab_size"], **common), transformers.BertModel
    else:
        hf_cfg, cls = transformers.MPNetConfig(**common), transformers.MPNetModel
        for new, old in (("q", "self.query"), ("k", "self.key"), ("v", "self.value"), ("o", "output.dense")):
            body = {re.sub(rf"attention\.{old}\.", f"attention.attn.{new}.", k): v for k, v in body.items()}
        body = {k.replace("attention.output.LayerNorm.", "attention.LayerNorm."): v for k, v in body.items()}
    hf_cfg._attn_implementation = "eager"
    encoder = cls(hf_cfg, add_pooling_layer="pooler.dense.weight" in body).eval()
    missing, unexpected = encoder.load_state_dict(body, strict=False)
    if unexpected or [k for k in missing if "position_ids" not in k]:
        raise ValueError(f"weights do not fit {cls.__name__}: {(unexpected or missing)[:3]}", "use a bert/mpnet teacher")
    mods = []
    if "pre_classifier.weight" in head:
        mods += [torch.nn.Linear(*head["pre_classifier.weight"].shape[::-1]), torch.nn.Tanh()]
    mods.append(torch.nn.Linear(*head["classifier.weight"].shape[::-1]))
    seq = torch.nn.Sequential(*mods)
    seq.load_state_dict({k.replace("pre_classifier.", "0.").replace("classifier.", f"{len(mods) - 1}."): v
                         for k, v in head.items()})
    return MeanPoolClassifier(encoder, seq, cfg.get("pooling") == "mean").eval()


def try_install(peer: str, work: Path) -> str:
    """Install the peer in its own virtualenv; the one-line reason when pip cannot."""
    venv = work / "venvs" / peer
    if not (venv / "bin" / "python").exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, capture_output=True)
    p = subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "-q", *PEERS[peer]],
                       capture_output=True, text=True, timeout=1800)
    if p.returncode == 0:
        return "installed"
    lines = [x.strip() for x in p.stderr.splitlines() if x.strip().startswith("ERROR")] or p.stderr.splitlines()[-1:]
    return "not installable here: " + (lines[0] if lines else f"pip exit {p.returncode}")


def build_route(name: str, model: torch.nn.Module, out: Path, heads: int, hidden: int) -> Path:
    """One peer route through the library calls the peer makes; returns the artifact path."""
    ex = (torch.full((1, SEQ), 1000), torch.ones(1, SEQ, dtype=torch.long), torch.zeros(1, SEQ, dtype=torch.long))
    plain = out / "onnx-plain.onnx"
    if name.startswith("onnx") and not plain.exists():
        axes = {n: {0: "batch", 1: "seq"} for n in ("input_ids", "attention_mask", "token_type_ids")}
        torch.onnx.export(model, ex, str(plain), input_names=list(axes), output_names=["logits"],
                          dynamic_axes={**axes, "logits": {0: "batch"}}, opset_version=17, dynamo=False)
    if name == "onnx-plain":
        return plain
    if name == "onnx-O2":
        from onnxruntime.transformers.fusion_options import FusionOptions
        from onnxruntime.transformers.optimizer import optimize_model

        opt = optimize_model(str(plain), model_type="bert", num_heads=heads, hidden_size=hidden, opt_level=2,
                             optimization_options=FusionOptions("bert"), use_gpu=False)
        opt.save_model_to_file(str(out / "onnx-O2.onnx"))
        return out / "onnx-O2.onnx"
    if name == "onnx-dyn-int8":
        from onnxruntime.quantization import QuantType, quantize_dynamic

        quantize_dynamic(str(plain), str(out / "onnx-dyn-int8.onnx"), per_channel=True, weight_type=QuantType.QInt8)
        return out / "onnx-dyn-int8.onnx"
    from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner
    from executorch.exir import to_edge_transform_and_lower

    if name == "et-8da8w":  # optimum-executorch's quantize_model_: embeddings 8w per row, linears 8da8w per channel
        from torchao.quantization import Int8DynamicActivationIntxWeightConfig, IntxWeightOnlyConfig, quantize_
        from torchao.quantization.granularity import PerAxis
        from torchao.utils import unwrap_tensor_subclass

        quantize_(model, IntxWeightOnlyConfig(weight_dtype=torch.int8, granularity=PerAxis(0)),
                  lambda m, fqn: isinstance(m, torch.nn.Embedding))
        quantize_(model, Int8DynamicActivationIntxWeightConfig(weight_dtype=torch.int8, weight_granularity=PerAxis(0)),
                  lambda m, fqn: isinstance(m, torch.nn.Linear))
        unwrap_tensor_subclass(model)
        import executorch.kernels.quantized  # noqa: F401  (out variant of the 8-bit embedding's dequantize)
    from executorch.exir import EdgeCompileConfig, ExecutorchBackendConfig

    with torch.no_grad():
        ep = torch.export.export(model, ex)
    prog = to_edge_transform_and_lower(ep, partitioner=[XnnpackPartitioner()], compile_config=EdgeCompileConfig(
        _check_ir_validity=False, _skip_dim_order=True)).to_executorch(ExecutorchBackendConfig(
            extract_delegate_segments=True, do_quant_fusion_and_const_prop=True))
    (out / f"{name}.pte").write_bytes(prog.buffer)
    return out / f"{name}.pte"


def peer_build(name: str, model_dir: Path, out: Path) -> Path:
    """Inside the peer's own virtualenv. The peers' CLIs need a *ForSequenceClassification (Optimum)
    or fill-mask (optimum-executorch) checkpoint, which a mean-pooled teacher is not, so this calls
    the functions the CLIs call: Optimum's exporter with its own OnnxConfig, ORTOptimizer (O2) and
    ORTQuantizer (dynamic, per-channel); optimum-executorch's quantize_model_ and XNNPACK recipe."""
    if name.startswith("et-"):  # optimum-executorch: its quantize_model_ and its XNNPACK recipe
        from optimum.exporters.executorch.quantization import quantize_model_
        from optimum.exporters.executorch.recipes.xnnpack import export_to_executorch_with_xnnpack

        model = hf_teacher(model_dir)
        if name == "et-8da8w":
            quantize_model_(model, qlinear_config="8da8w", qembedding_config="8w")
        ex = (torch.full((1, SEQ), 1000), torch.ones(1, SEQ, dtype=torch.long), torch.zeros(1, SEQ, dtype=torch.long))
        job = type("Exportable", (), {"config": model.encoder.config, "metadata": None,
                                      "export": lambda self: {"model": torch.export.export(model, ex)}})()
        (out / f"{name}.pte").parent.mkdir(parents=True, exist_ok=True)
        (out / f"{name}.pte").write_bytes(export_to_executorch_with_xnnpack(job)["model"].buffer)
        return out / f"{name}.pte"
    from optimum.exporters.onnx import export
    from optimum.exporters.tasks import TasksManager
    from optimum.onnxruntime import AutoOptimizationConfig, AutoQuantizationConfig, ORTOptimizer, ORTQuantizer

    plain = out / "optimum-onnx" / "model.onnx"
    if not plain.exists():
        model = hf_teacher(model_dir)
        model.config = getattr(model, "encoder", getattr(model, "hf", None)).config
        ctor = TasksManager.get_exporter_config_constructor("onnx", model_type=model.config.model_type,
                                                            task="text-classification", library_name="transformers")
        plain.parent.mkdir(parents=True, exist_ok=True)
        export(model, ctor(model.config), plain, opset=17)
        model.config.save_pretrained(plain.parent)
    if name == "onnx-O2":
        ORTOptimizer.from_pretrained(plain.parent, file_names=["model.onnx"]).optimize(
            AutoOptimizationConfig.O2(), out / "optimum-onnx-O2")
        return out / "optimum-onnx-O2" / "model_optimized.onnx"
    if name == "onnx-dyn-int8":
        ORTQuantizer.from_pretrained(plain.parent, file_name="model.onnx").quantize(
            AutoQuantizationConfig.avx512_vnni(is_static=False, per_channel=True), out / "optimum-onnx-int8")
        return out / "optimum-onnx-int8" / "model_quantized.onnx"
    return plain


def export_edgebert(model_dir: Path, target: str, q: str, work: Path, limit: int) -> tuple[Path, float]:
    """`edgebert export` through its CLI (a subprocess), timed; reused when the bundle is there."""
    from edgebert.exporters.bundle import bundle_artifact, read_bundle

    out = work / "edgebert" / f"{target}-{q}"
    stamp = out / "export_seconds.json"
    if not stamp.exists():
        t0 = time.time()
        p = subprocess.run([sys.executable, "-m", "edgebert", "export", str(model_dir), "-t", target, "-q", q, "--out",
                            str(out), "--seq-len", str(SEQ), "--eval-limit", str(limit)], capture_output=True, text=True)
        if p.returncode != 0:
            raise RuntimeError((p.stderr.strip().splitlines() or [f"exit {p.returncode}"])[-1])
        stamp.write_text(json.dumps(round(time.time() - t0, 1)))
    (bundle,) = [d for d in out.iterdir() if (d / "metadata.json").exists()]
    return bundle_artifact(bundle, read_bundle(bundle)).path, json.loads(stamp.read_text())


def load_runner(path: Path, threads: int):
    """One loaded artifact -> f(ids, mask, types) -> logits, in the runtime a user would ship."""
    if path.suffix == ".onnx":
        import onnxruntime as ort

        so = ort.SessionOptions()
        so.intra_op_num_threads, so.inter_op_num_threads, so.log_severity_level = threads, 1, 3
        sess = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
        names = [i.name for i in sess.get_inputs()]
        return lambda *a: sess.run(None, {n: v for n, v in zip(("input_ids", "attention_mask", "token_type_ids"), a)
                                          if n in names})[0]
    import executorch.kernels.quantized  # noqa: F401  (8-bit embedding kernels for the 8da8w .pte)
    from executorch.runtime import Runtime

    method = Runtime.get().load_program(str(path)).load_method("forward")
    return lambda *a: method.execute([torch.from_numpy(x) for x in a])[0].numpy()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", type=Path, default=DEFAULT_MODEL)
    ap.add_argument("--work", type=Path, default=Path("runs/bench-peers"))
    ap.add_argument("--limit", type=int, default=500, help="test examples for accuracy (0: all)")
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--inputs", type=int, default=20, help="inputs per round")
    ap.add_argument("--threads", type=int, default=min(4, os.cpu_count() or 1))
    ap.add_argument("--out", type=Path, default=HERE, help="where results.json/.md go")
    ap.add_argument("--peer-route", help=argparse.SUPPRESS)  # run.py re-run inside a peer's virtualenv
    args = ap.parse_args()
    if args.peer_route:
        print(peer_build(args.peer_route, args.model, args.work.resolve() / "peers"))
        return
    if not (args.model / "model.safetensors").exists():
        print(f"error: no teacher checkpoint in {args.model}; build it with `edgebert teacher --out {args.model}` "
              f"or pass --model DIR", file=sys.stderr)
        sys.exit(2)
    from edgebert.quiet import quiet_libraries

    quiet_libraries()
    import executorch
    import onnxruntime

    from edgebert.data.default import load_rotten_tomatoes
    from edgebert.data.encoding import encode, load_tokenizer
    from edgebert.data.splits import split
    from edgebert.errors import EdgebertError
    from edgebert.model import load_model

    from executorch.extension.pybindings.portable_lib import _unsafe_reset_threadpool

    torch.set_num_threads(args.threads)
    _unsafe_reset_threadpool(args.threads)
    work = args.work.resolve()
    ref = load_model(args.model).eval()
    test = split(load_rotten_tomatoes(), seed=0).get("test")
    test = test[: args.limit] if args.limit else test
    enc = encode(load_tokenizer(args.model), test, SEQ, label_names=ref.config.label_names)
    ids, mask, types = (t.numpy().astype(np.int64) for t in (enc.input_ids, enc.attention_mask, enc.token_type_ids))
    labels = enc.labels.numpy()
    with torch.no_grad():
        ref_logits = ref(enc.input_ids, enc.attention_mask, enc.token_type_ids).numpy()
    result = {"model": str(args.model), "test_examples": len(test), "seq_len": SEQ, "threads": args.threads,
              "rounds": args.rounds, "inputs_per_round": args.inputs,
              "host": f"{platform.system()} {platform.machine()}, {os.cpu_count()} CPUs",
              "versions": {"torch": torch.__version__, "onnxruntime": onnxruntime.__version__,
                           "executorch": getattr(executorch, "__version__", None) or _dist("executorch")},
              "loadavg_before": os.getloadavg(), "pytorch_accuracy": float((ref_logits.argmax(1) == labels).mean()),
              "rows": [], "peers": {}}
    rows = []
    for target, q, prec in EDGEBERT:
        row = {"name": f"edgebert {target} {q}", "tool": "edgebert", "target": target, "precision": prec}
        try:
            row["path"], row["export_s"] = export_edgebert(args.model, target, q, work, len(test))
        except (RuntimeError, EdgebertError, ValueError) as exc:
            row["error"] = str(exc).splitlines()[0]
        rows.append(row)
    for peer in PEERS:
        result["peers"][peer] = try_install(peer, work)
    for name, peer, target, prec, calls in ROUTES:
        real = result["peers"][peer] == "installed" and peer in REAL
        label = peer if real else f"{peer} equivalent"
        row = {"name": f"{label}: {name}", "tool": label, "target": target, "precision": prec, "peer_calls": calls}
        stamp = work / ("peers" if real else "equivalents") / f"{name}.json"
        try:
            if not stamp.exists():
                stamp.parent.mkdir(parents=True, exist_ok=True)
                t0 = time.time()
                if real:
                    p = subprocess.run([str(work / "venvs" / peer / "bin" / "python"), __file__, "--peer-route", name,
                                        "--model", str(args.model), "--work", str(work)], capture_output=True, text=True)
                    if p.returncode:
                        raise RuntimeError((p.stderr.strip().splitlines() or [f"exit {p.returncode}"])[-1])
                    path = p.stdout.strip().splitlines()[-1]
                else:  # fresh model each route: quantize_ rewrites it in place
                    path = build_route(name, hf_teacher(args.model), stamp.parent, ref.config.layers[0].num_heads,
                                       ref.config.hidden_size)
                stamp.write_text(json.dumps({"path": str(path), "export_s": round(time.time() - t0, 1)}))
            row.update(json.loads(stamp.read_text()))
        except Exception as exc:  # a failed route is a result, not a crash
            row["error"] = f"{type(exc).__name__}: {(str(exc).strip().splitlines() or [''])[0]}"[:300]
        rows.append(row)
    live = []
    for row in rows:
        if "path" not in row:
            continue
        try:
            run = load_runner(Path(row["path"]), args.threads)
            logits = np.concatenate([run(ids[i:i + 1], mask[i:i + 1], types[i:i + 1]) for i in range(len(ids))])
        except Exception as exc:
            row["error"] = f"load/run: {type(exc).__name__}: {str(exc).strip().splitlines()[0]}"[:300]
            continue
        row.update(bytes=Path(row["path"]).stat().st_size, accuracy=float((logits.argmax(1) == labels).mean()),
                   max_logit_diff=float(np.abs(logits - ref_logits).max()), times=[])
        live.append((row, run))
    n = min(args.inputs, len(ids))
    for r in range(args.rounds + 1):  # round 0 is the warmup
        for row, run in live[r % len(live):] + live[: r % len(live)]:
            for i in range(n):
                t = time.perf_counter()
                run(ids[i:i + 1], mask[i:i + 1], types[i:i + 1])
                if r:
                    row["times"].append((time.perf_counter() - t) * 1000)
    for row, _ in live:
        row["p50_ms"] = statistics.median(row.pop("times"))
    for row in rows:
        row["path"] = str(row.get("path", ""))
        base = next((b for b in rows if b["tool"] == "edgebert" and b["target"] == row["target"]
                     and b["precision"] == row["precision"] and "p50_ms" in b), None)
        row["p50_ratio_vs_edgebert"] = row["p50_ms"] / base["p50_ms"] if base and "p50_ms" in row else None
    result.update(rows=rows, loadavg_after=os.getloadavg(), measured_at=time.strftime("%Y-%m-%d %H:%M"))
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.json").write_text(json.dumps(result, indent=2) + "\n")
    (args.out / "results.md").write_text(render(result))
    print(render(result))


def _dist(name: str) -> str:
    import importlib.metadata

    return importlib.metadata.version(name)


ACCURACY_SLACK = 0.005  # a peer within half a point of edgebert's accuracy counts as "equal"


def verdicts(rows: list) -> list[str]:
    """Per target+precision: edgebert at least as fast and as small as every peer row whose
    accuracy is equal or better (within ACCURACY_SLACK); less accurate peers are listed, not compared."""
    out = []
    for target in sorted({r["target"] for r in rows}):
        for prec in ("fp32", "int8"):
            eb = next((r for r in rows if r["tool"] == "edgebert" and (r["target"], r["precision"]) == (target, prec)), None)
            peers = [r for r in rows if r["tool"] != "edgebert" and (r["target"], r["precision"]) == (target, prec)
                     and "p50_ms" in r]
            if not eb or "p50_ms" not in eb or not peers:
                out.append(f"- {target} {prec}: not decidable (edgebert or every peer row failed)")
                continue
            rivals = [p for p in peers if p["accuracy"] >= eb["accuracy"] - ACCURACY_SLACK]
            worse = [f"{p['name']} ({p['accuracy']:.4f})" for p in peers if p not in rivals]
            lost = []
            for p in rivals:
                why = [w for w, bad in (("faster", p["p50_ms"] < eb["p50_ms"]), ("smaller", p["bytes"] < eb["bytes"]))
                       if bad]
                if why:
                    lost.append(f"{p['name']} is {', '.join(why)} ({p['p50_ms'] / eb['p50_ms']:.2f}x the p50, "
                                f"{p['bytes'] / eb['bytes']:.3f}x the size; accuracy {p['accuracy']:.4f} vs "
                                f"{eb['accuracy']:.4f})")
            verdict = ("**holds**" if not lost else "**does not hold**: " + "; ".join(lost)) if rivals else \
                "**holds** (no peer row reaches edgebert's accuracy)"
            out.append(f"- {target} {prec}: {verdict}" + (f"; less accurate, not compared: {', '.join(worse)}"
                                                          if worse else ""))
    return out


def render(res: dict) -> str:
    lines = ["# edgebert vs peer tools, same teacher", "",
             f"Teacher `{res['model']}`; {res['test_examples']} Rotten Tomatoes test examples, batch 1, seq "
             f"{res['seq_len']} (padded), {res['threads']} threads; {res['rounds']} interleaved rounds x "
             f"{res['inputs_per_round']} inputs after one warmup round. Host: {res['host']}; {res['versions']}. "
             f"Load average {res['loadavg_before'][0]:.2f} before, {res['loadavg_after'][0]:.2f} after "
             f"({res['measured_at']}). PyTorch teacher accuracy {res['pytorch_accuracy']:.4f}.", "",
             "Peers: " + "; ".join(f"{k}: {v}" for k, v in res["peers"].items()) + ". Rows marked *equivalent* "
             "call the library functions the peer calls (see run.py's docstring); they are not the peer itself.", "",
             "| artifact | target | precision | export s | size MB | max abs logit diff | accuracy | p50 ms | p50 / edgebert |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in res["rows"]:
        if "p50_ms" not in r:
            lines.append(f"| {r['name']} | {r['target']} | {r['precision']} | {r.get('export_s', '–')} | failed: "
                         f"{r.get('error', '?').replace('|', '/')} | | | | |")
            continue
        ratio = r["p50_ratio_vs_edgebert"]
        lines.append(f"| {r['name']} | {r['target']} | {r['precision']} | {r['export_s']} | {r['bytes'] / 1e6:.1f} | "
                     f"{r['max_logit_diff']:.2g} | {r['accuracy']:.4f} | {r['p50_ms']:.2f} | "
                     f"{'–' if ratio is None else f'{ratio:.2f}'} |")
    return "\n".join(lines + ["", "Goal: on every row, edgebert's artifact is at least as fast and as small as the "
                              "best peer artifact at equal or better accuracy. Computed from the table:", ""]
                     + verdicts(res["rows"]) + [""]) + "\n"


if __name__ == "__main__":
    main()
