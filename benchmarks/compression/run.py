"""Compression ablation on the real default teacher and data, in the style of the triple-compressed seed.

Rows are cumulative: teacher; 4-layer student with hard labels only; + logit KD;
+ TinyBERT intermediate losses; + GloVe augmentation; + LayerDrop and greedy layer
selection (instead of a fixed layer choice); + 50% head pruning with recovery. Every row is
one ``edgebert.compression.run_recipe`` run (resumable: re-running skips finished rows), so
the numbers come from the same code users run.

Teacher: ``edgebert.teacher_head.default_teacher()`` (all-MiniLM-L6-v2, mean pooling, head on
Rotten Tomatoes). Data: the packaged Rotten Tomatoes snippets, the same seeded split as
the teacher (dev and test are full, 1,275 each); training is subsampled (``--train-examples``)
to fit about two hours on 2 CPU cores.

    nice -n 10 python benchmarks/compression/run.py            # full run, writes results.md/json
    python benchmarks/compression/run.py --quick --work /tmp/b # smoke test of the script (minutes)
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]


def rows(a) -> list[dict]:
    """Each row: key, label, recipe (dict), and optionally the row whose output is the student."""
    common = {"seed": 0, "batch_size": 32, "max_seq_len": 64, "checkpoint_every": 50}
    four = {"init": "teacher_layers", "layers": [0, 2, 3, 5]}
    lr = a.lr
    aug = {"type": "augment", "n": a.aug_n, "p": 0.4, "top_k": 15}
    inter = {"type": "distill", "phase": "intermediate", "lr": a.inter_lr}
    pred = {"type": "distill", "phase": "prediction", "lr": lr, "temperature": 1.0}
    return [
        {"key": "hard", "label": "4L student, hard labels only",
         "recipe": {**common, "student": four, "stages": [{"type": "finetune", "epochs": a.epochs, "lr": lr}]}},
        {"key": "kd", "label": "+ logit KD (soft CE, T=1)",
         "recipe": {**common, "student": four, "stages": [{**pred, "epochs": a.epochs}]}},
        {"key": "tinybert", "label": "+ TinyBERT intermediate losses (emb, hidden, attention)",
         "recipe": {**common, "student": four,
                    "stages": [{**inter, "epochs": a.inter_epochs}, {**pred, "epochs": a.epochs}]}},
        {"key": "aug", "label": f"+ GloVe augmentation (x{a.aug_n}, teacher labels)",
         "recipe": {**common, "student": four,
                    "stages": [aug, {**inter, "epochs": a.aug_epochs}, {**pred, "epochs": a.aug_epochs}]}},
        {"key": "layerdrop", "label": "+ LayerDrop p=0.2 on 6L, greedy selection to 4L",
         "recipe": {**common, "student": {"init": "teacher"},
                    "stages": [{"type": "layerdrop", "p": 0.2, "epochs": a.layerdrop_epochs, "lr": lr,
                                "use_augmented": False, "select": "greedy", "target_layers": 4,
                                "greedy_examples": a.greedy_examples},
                               aug, {**inter, "epochs": a.aug_epochs}, {**pred, "epochs": a.aug_epochs}]}},
        {"key": "heads", "label": "+ prune 50% of heads (2 rounds, KD recovery)", "from": "layerdrop",
         "recipe": {**common, "stages": [aug, {"type": "prune_heads", "fraction": 0.5, "iterations": 2,
                                               "importance_examples": 512,
                                               "recover": {"phase": "prediction", "epochs": a.recover_epochs,
                                                           "lr": lr}}]}},
    ]


def summarise(key: str, label: str, rep: dict, side: str = "student", timed: dict | None = None) -> dict:
    s = rep[side]
    lat = (timed or {}).get(key) or s.get("latency") or {}
    heads = s.get("heads")
    return {"key": key, "label": label, "layers": s.get("layers"), "heads": sum(heads) if heads else None,
            "parameters": s["parameters"], "size_mb": round(s["size_bytes"] / 1e6, 1),
            "dev_accuracy": s["dev"]["accuracy"], "test_accuracy": s["test"]["accuracy"],
            "test_macro_f1": s["test"]["macro_f1"], "latency_p50_ms": round(lat["p50_ms"], 1) if lat else None,
            "latency_p90_ms": round(lat["p90_ms"], 1) if lat else None,
            "train_minutes": _stage_minutes(rep) if side == "student" else None}


def _stage_minutes(rep: dict) -> float:
    """Time in the recipe's stages; a stage resumed after a kill counts its training before the kill too."""
    return round(sum(max(s.get("seconds", 0), s.get("train_seconds", 0)) for s in rep["stages"]) / 60, 1)


def collect(a, reports: dict[str, dict], timed: dict | None = None) -> tuple[list[dict], list[str]]:
    """Table rows (teacher first) and notes from the per-row compress reports."""
    labels = {r["key"]: r["label"] for r in rows(a)}
    table, notes = [], []
    for key, rep in reports.items():
        if not table:
            table.append(summarise("teacher", "teacher (all-MiniLM-L6-v2 + head)", rep, "teacher", timed))
        table.append(summarise(key, labels.get(key, key), rep, timed=timed))
        for n in rep.get("notes", []):
            if n not in notes:
                notes.append(n)
        if rep.get("resumed"):
            notes.append(f"row '{key}' was interrupted and finished by re-running the same command (resume)")
        for st in rep["stages"]:
            sel = st.get("selection")
            if sel and sel.get("method") == "greedy":
                notes.append(f"greedy layer selection kept teacher layers {sel['kept_original_layers']} "
                             f"(the seed kept [0, 1, 2, 4]); dev accuracy after each drop, on {a.greedy_examples} dev "
                             f"examples: {sel['trace']}")
            if st["type"] == "prune_heads":
                notes.append(f"head pruning: {st['heads_before']} -> {st['heads_after']} heads, per layer "
                             f"{st['heads_per_layer']}")
    return table, notes


def _portable(value, roots: list[tuple[str, str]]):
    """Every string with this machine's cache or repo folder written as $EDGEBERT_CACHE or ."""
    if isinstance(value, dict):
        return {k: _portable(v, roots) for k, v in value.items()}
    if isinstance(value, list):
        return [_portable(v, roots) for v in value]
    if isinstance(value, str):
        for real, name in roots:
            value = value.replace(real, name)
    return value


def write_results(out: Path, results: dict, suffix: str = "") -> None:
    """results.json and .md with no path of the machine that made them (a reader elsewhere has other ones)."""
    from edgebert.fsutil import cache_dir

    roots = [(str(cache_dir().resolve()), "$EDGEBERT_CACHE"), (str(ROOT), ".")]
    results = _portable(json.loads(json.dumps(results, default=str)), roots)
    out.mkdir(parents=True, exist_ok=True)
    (out / f"results{suffix}.json").write_text(json.dumps(results, indent=2) + "\n")
    (out / f"results{suffix}.md").write_text(markdown(results))
    print(markdown(results))


def local_path(portable: str) -> Path:
    """A path as written by write_results, on this machine."""
    from edgebert.fsutil import cache_dir

    return ROOT / portable.replace("$EDGEBERT_CACHE", str(cache_dir().resolve()))


def latency_pass(a, results: dict) -> dict:
    """Time the teacher and every row's student back to back, so all rows see the same machine.

    Each compress() run timed its own student at the end of training, whenever that was; on a
    shared machine those numbers are not comparable across rows.
    """
    import torch

    from edgebert.evaluation import cpu_latency
    from edgebert.model import load_model

    torch.manual_seed(0)
    load_before = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    paths = {"teacher": local_path(results["teacher_path"])} | {k: a.work / k for k in results["reports"]}
    timed = {}
    for key, path in paths.items():
        model = load_model(path).eval()
        with torch.no_grad():
            timed[key] = vars(cpu_latency(model, 64, runs=a.latency_runs, warmup=10))
        print(key, f"p50 {timed[key]['p50_ms']:.2f} ms", flush=True)
    return {"when": time.strftime("%Y-%m-%d %H:%M"), "load_before": load_before,
            "load_after": ", ".join(f"{x:.1f}" for x in os.getloadavg()), "runs": a.latency_runs,
            "threads": torch.get_num_threads(), "results": timed}


def markdown(results: dict) -> str:
    s = results["settings"]
    lines = [
        "# Compression ablation (measured)",
        "",
        f"Generated by `benchmarks/compression/run.py` on {results['machine']['when']} "
        f"({results['machine']['cpus']} CPU cores, torch {results['machine']['torch']}, "
        f"{results['machine']['threads']} threads; load average at start {results['machine']['load_start']}, "
        f"at end {results['machine']['load_end']}). Wall time of the last invocation {results['total_minutes']} min (rows already finished are reused, so the row times below are what each took).",
        "",
        f"Teacher: default teacher (all-MiniLM-L6-v2 + Rotten Tomatoes head), `{results['teacher_path']}`. "
        f"Data: packaged Rotten Tomatoes, seed-0 split; **training subsampled to {s['train_examples']} of "
        f"{results['train_available']} examples**; dev {results['dev']} / test {results['test']} (full). "
        f"max_seq_len 64, batch 32, lr {s['lr']} (intermediate phase {s['inter_lr']}); epochs: hard/KD "
        f"{s['epochs']}, intermediate {s['inter_epochs']}, with augmentation {s['aug_epochs']} per phase over gold + "
        f"augmented, LayerDrop {s['layerdrop_epochs']}, recovery {s['recover_epochs']} per pruning round. "
        "Rows are cumulative and each is one `compress()` run; 'stage min' is the wall time of its stages "
        "(training, teacher soft labels, per-stage dev check), without the final evaluation.",
        "",
        "| row | method | layers | heads | params | size MB | dev acc | test acc | test macro-F1 | p50 ms | p90 ms | stage min |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for i, r in enumerate(results["rows"]):
        lines.append(f"| {i} | {r['label']} | {r['layers']} | {r['heads']} | {r['parameters'] / 1e6:.2f}M | "
                     f"{r['size_mb']} | {r['dev_accuracy']:.4f} | {r['test_accuracy']:.4f} | "
                     f"{r['test_macro_f1']:.4f} | {r['latency_p50_ms']} | {r['latency_p90_ms']} | "
                     f"{r['train_minutes'] if r['train_minutes'] is not None else '-'} |")
    lp = results.get("latency_pass")
    timing = (f"all rows timed back to back in one pass at {lp['when']} ({lp['runs']} runs after 10 warm-ups, "
              f"{lp['threads']} threads; load average {lp['load_before']} before, {lp['load_after']} after)"
              if lp else f"each row timed at the end of its own run ({s['latency_runs']} runs after 5 warm-ups) on a "
              "machine shared with other jobs: compare rows with care")
    lines += ["", "Latency: batch 1, 64 tokens, PyTorch eager fp32 on the host CPU (`edgebert.evaluation.cpu_latency`), "
              f"{timing}. Host x86 numbers, not phone numbers.",
              "Size: `model.safetensors` bytes (fp32). The 30522x384 word-embedding table is 11.7M parameters "
              "(46.9 MB) of every student, so depth and head cuts shrink size far less than they cut compute.",
              "", "## What each step did (test accuracy vs the previous row)", ""]
    prev = None
    for r in results["rows"][1:]:  # each row against the one before it
        if prev is not None:
            delta = (r["test_accuracy"] - prev["test_accuracy"]) * 100
            verdict = "helped" if delta > 1.2 else ("hurt" if delta < -1.2 else "within noise")
            lines.append(f"- {r['label']}: {delta:+.1f} points ({verdict}).")
        prev = r
    for key, rep in results.get("reports", {}).items():
        first = rep["stages"][0] if rep.get("stages") else None
        if first and first["type"] == "augment" and rep["recipe"]["student"]["init"] == "teacher_layers":
            lines.append(f"- For reference, the untrained 4-layer copy (teacher layers "
                         f"{rep['recipe']['student']['layers']}) scores dev {first['dev_accuracy']:.4f} before any "
                         "training (measured after the augment stage, which does not train).")
            break
    lines += ["", "One standard error of a test accuracy near 0.78 on 1,275 examples is about 1.2 points; single seed. "
              "Differences below ~2 points are not evidence either way.", ""]
    lines += [f"- {n}" for n in results["notes"]]
    return "\n".join(lines) + "\n"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--work", type=Path, default=Path("runs/bench-compression"), help="where students are written")
    p.add_argument("--out", type=Path, default=HERE, help="where results.md / results.json go")
    p.add_argument("--train-examples", type=int, default=2000)
    p.add_argument("--epochs", type=float, default=2.0, help="prediction / hard-label epochs on gold data")
    p.add_argument("--inter-epochs", type=float, default=1.0, help="intermediate-phase epochs on gold data")
    p.add_argument("--aug-n", type=int, default=2, help="augmented copies per training example")
    p.add_argument("--aug-epochs", type=float, default=1.0, help="epochs over gold + augmented data, per phase")
    p.add_argument("--layerdrop-epochs", type=float, default=1.0)
    p.add_argument("--recover-epochs", type=float, default=0.5, help="per pruning round, over gold + augmented")
    p.add_argument("--greedy-examples", type=int, default=600, help="dev examples scored by greedy selection")
    p.add_argument("--lr", type=float, default=5e-5, help="hard-label, KD, LayerDrop and recovery learning rate")
    p.add_argument("--inter-lr", type=float, default=1e-4, help="intermediate-phase (MSE losses) learning rate")
    p.add_argument("--latency-runs", type=int, default=30)
    p.add_argument("--only", default="", help="comma-separated row keys to run (default: all)")
    p.add_argument("--quick", action="store_true", help="2 steps per stage, 200 examples: checks the script only")
    p.add_argument("--render", action="store_true", help="only rewrite results.md from an existing results.json")
    p.add_argument("--time", action="store_true",
                   help="re-time teacher and all finished rows back to back (run on an idle machine), then render")
    a = p.parse_args()
    if a.render or a.time:
        results = json.loads((a.out / "results.json").read_text())
        used = argparse.Namespace(**{**vars(a), **results["settings"]})  # labels as run, not as typed now
        if a.time:
            used.work, used.latency_runs = a.work, a.latency_runs
            results["latency_pass"] = latency_pass(used, results)
        timed = (results.get("latency_pass") or {}).get("results")
        results["rows"], notes = collect(used, results["reports"], timed)
        results["notes"] = notes + [n for n in results.get("extra_notes", []) if n not in notes]
        write_results(a.out, results)
        return
    max_steps = None
    if a.quick:
        a.train_examples, a.latency_runs, a.greedy_examples, max_steps = 200, 3, 100, 2
        a.out = a.work  # smoke-test numbers never land next to the committed results

    import torch

    from edgebert.compression.run_recipe import REPORT_NAME, compress
    from edgebert.compression.recipe import parse_recipe
    from edgebert.data.default import load_rotten_tomatoes
    from edgebert.teacher_head import default_teacher

    t0 = time.time()
    load_start = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    teacher = default_teacher()
    data = load_rotten_tomatoes()
    wanted = {k for k in a.only.split(",") if k}
    reports: dict[str, dict] = {}
    for row in rows(a):
        if wanted and row["key"] not in wanted:
            continue
        out = a.work / row["key"]
        doc = dict(row["recipe"])
        if "from" in row:
            doc["student"] = {"init": "checkpoint", "path": str((a.work / row["from"]).resolve())}
        if (out / REPORT_NAME).exists():
            rep = json.loads((out / REPORT_NAME).read_text())
            print(f"[{row['key']}] reusing {out / REPORT_NAME}")
        else:
            print(f"[{row['key']}] {row['label']}")
            rep = compress(teacher, data, parse_recipe(doc, f"benchmark:{row['key']}"), out,
                           max_train_examples=a.train_examples, max_steps=max_steps, latency_runs=a.latency_runs)
        reports[row["key"]] = rep
    results_rows, notes = collect(a, reports)
    first = next(iter(reports.values()))
    results = {
        "settings": {**{k: (str(v) if isinstance(v, Path) else v) for k, v in vars(a).items()}, "max_steps": max_steps},
        "machine": {"when": time.strftime("%Y-%m-%d %H:%M"), "cpus": os.cpu_count(), "torch": torch.__version__,
                    "threads": torch.get_num_threads(), "platform": platform.platform(), "load_start": load_start,
                    "load_end": ", ".join(f"{x:.1f}" for x in os.getloadavg())},
        "teacher_path": first["teacher"]["path"], "train_available": first["data"]["train_available"],
        "dev": first["data"]["dev"], "test": first["data"]["test"],
        "rows": results_rows, "notes": notes, "total_minutes": round((time.time() - t0) / 60, 1),
        "reports": reports,
    }
    write_results(a.out, results, "-quick" if a.quick else "")


if __name__ == "__main__":
    main()
