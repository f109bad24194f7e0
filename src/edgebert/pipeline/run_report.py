"""The run report: one table per device answering "what do I ship?", plus the trade-off plots.

For the teacher and every student artifact: accuracy (each bundle's gate on the held-out
test split, in the artifact's own runtime), size, latency p50/p90 and where it was measured,
speedup and size ratio against the fp32 teacher of the same target, parity, and what
precision really runs. Plots mark the Pareto front (nothing else is both at least as
accurate and at least as small/fast).
"""

from __future__ import annotations

import base64
import html
import io
import json
from pathlib import Path
from typing import Any

from ..comparison import Figures, vs_teacher
from ..exporters.size_accounting import OVERHEAD_GOAL, words
from ..fsutil import atomic_write_bytes, atomic_write_json, atomic_write_text, output_dir, safe_name


def pareto_front(points: list[tuple[str, float, float]]) -> list[str]:
    """Names of the points no other point dominates (cost lower-or-equal and accuracy higher-or-equal, one strictly)."""
    front = []
    for name, cost, acc in points:
        dominated = any((c <= cost and a >= acc) and (c < cost or a > acc) for n, c, a in points if n != name)
        if not dominated:
            front.append(name)
    return front


def _read(path: Path) -> dict | None:
    try:
        return json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError):
        return None


def _artifact(role: str, rec: dict) -> dict[str, Any]:
    from ..errors import EdgebertError
    from ..exporters.bundle import read_bundle

    try:
        meta = read_bundle(Path(rec["bundle"]))
    except EdgebertError:  # deleted or damaged since its step ran: the report says so
        meta = None
    gates = meta.gates if meta else {}
    par, acc = gates.get("parity") or {}, gates.get("accuracy") or {}
    return {
        "name": f"{role} {rec['target']} {rec['precision']}", "role": role, "target": rec["target"],
        "precision": rec["precision"], "bundle": rec["bundle"], "status": meta.status if meta else "missing",
        "rejected_because": meta.rejected_because if meta else [],
        "size_bytes": rec.get("artifact_bytes") or (meta.artifact.bytes if meta else None),
        "accuracy": acc.get("artifact_accuracy"), "pytorch_accuracy": acc.get("pytorch_accuracy"),
        "accuracy_split": acc.get("split"), "accuracy_examples": acc.get("examples"),
        "parity": {k: par.get(k) for k in ("max_abs_diff", "argmax_agreement", "mean_prob_diff", "passed")} if par else None,
        "verified_in": gates.get("verified_in"), "unverified_because": gates.get("unverified_because"),
        "structure_checked": (gates.get("structure") or {}).get("passed"),
        "runs_as": meta.precision_report.get("summary") if meta else None,
        "size_accounting": meta.precision_report.get("size") if meta else None,
        "sequence": meta.sequence.to_dict() if meta else None,
        "float_modules": meta.float_modules if meta else [],
        "latency": {},
    }


def _bench_rows(bench_dir: Path) -> tuple[dict, dict[str, dict]]:
    doc = _read(bench_dir / "bench.json") or {}
    by_bundle = {}
    for m in doc.get("measurements", []):
        r = m.get("result") or {}
        by_bundle[str(Path(m["bundle"]).resolve())] = {
            "status": m.get("status"), "p50_ms": (r.get("latency_ms") or {}).get("p50"),
            "p90_ms": (r.get("latency_ms") or {}).get("p90"), "runs": r.get("runs"), "load_ms": r.get("load_ms"),
            "peak_rss_mb": r.get("peak_rss_mb"), "runtime": r.get("runtime"), "runner": m.get("runner"),
            # derived once, by the bench (Measurement.p50_real / model_rss_mb)
            "p50_ms_real_lengths": m.get("p50_ms_real_lengths"), "real_lengths": (r.get("real_lengths") or {}).get("lengths"),
            "model_rss_mb": m.get("model_rss_mb"),
            "logits_check": (m.get("sanity") or {}).get("passed"), "error": m.get("error")}
    dev = doc.get("device") or {}
    return {"where": dev.get("where") or dev.get("spec"), "emulated": dev.get("emulated"), "complete": doc.get("complete"),
            "error": doc.get("error"), "kind": dev.get("kind"), "extra": dev.get("extra")}, by_bundle


def build_report(spec, run_dir: Path, student_dir: Path, bundles: dict, bench_dirs: dict[str, Path], steps: dict) -> dict:
    comp = _read(student_dir / "compress_report.json") or {}
    arts = [_artifact(role, rec) for role in bundles for rec in bundles[role].values()]
    devices = {}
    for device, d in bench_dirs.items():
        info, rows = _bench_rows(d)
        devices[device] = info
        for a in arts:
            row = rows.get(str(Path(a["bundle"]).resolve()))
            if row:
                a["latency"][device] = row
    teacher_of = {a["target"]: a for a in arts if a["role"] == "teacher"}
    for a in arts:
        t = teacher_of.get(a["target"])
        a["vs_teacher"] = {}
        if t is None or a is t:
            continue
        v = a["vs_teacher"] = vs_teacher(Figures(t.get("size_bytes"), t.get("accuracy")),
                                         Figures(a.get("size_bytes"), a.get("accuracy")))
        for device in a["latency"]:
            speed = vs_teacher(Figures(p50_ms=t["latency"].get(device, {}).get("p50_ms")),
                               Figures(p50_ms=a["latency"][device].get("p50_ms"))).get("speedup_p50")
            if speed:
                v.setdefault("speedup_p50", {})[device] = speed
            t_real, a_real = (t["latency"].get(device, {}).get("p50_ms_real_lengths"),
                              a["latency"][device].get("p50_ms_real_lengths"))
            if t_real and a_real:
                v.setdefault("speedup_p50_real_lengths", {})[device] = t_real / a_real
    pareto = {}
    for device in devices:
        pts = [(a["name"], a["latency"][device]["p50_ms"], a["accuracy"]) for a in arts
               if a["status"] == "passed" and a["accuracy"] is not None and a["latency"].get(device, {}).get("p50_ms")]
        pareto[device] = pareto_front(pts)
    pts = [(a["name"], a["size_bytes"], a["accuracy"]) for a in arts if a["status"] == "passed"
           and a["accuracy"] is not None and a["size_bytes"]]
    pareto["size"] = pareto_front(pts)
    student = comp.get("student", {})
    trim = next((s for s in comp.get("stages", []) if s.get("type") == "trim_vocab"), None)
    return {
        "format": "edgebert-run-report", "format_version": 1, "run": spec.name, "recipe_source": spec.source,
        "spec": spec.to_dict(), "run_dir": str(run_dir), "steps": steps,
        "compression": {
            "recipe": (comp.get("recipe") or {}).get("name"), "data": comp.get("data"),
            "teacher": {k: comp.get("teacher", {}).get(k) for k in ("layers", "parameters", "size_bytes", "test")},
            "student": {k: student.get(k) for k in ("layers", "heads", "ffn", "hidden_size", "parameters", "size_bytes",
                                                    "test", "accuracy_vs_teacher_test")},
            "stages": [{k: s.get(k) for k in ("stage", "type", "seconds", "dev_accuracy")} for s in comp.get("stages", [])],
            "vocab_trim": trim, "notes": comp.get("notes"),
        },
        "devices": devices, "artifacts": arts, "pareto": pareto,
    }


# ----------------------------------------------------------------------------- rendering

def _f(v, fmt="{:.2f}") -> str:
    return "–" if v is None else fmt.format(v)


COLUMNS = ("artifact", "runs as", "accuracy", "vs teacher", "size MB", "size ratio", "p50 ms", "p90 ms", "speedup",
           "p50 ms real lengths", "speedup real lengths", "peak RSS MB (model)", "parity (max diff / argmax agree)",
           "gate")


def _row(a: dict, device: str | None) -> list[str]:
    lat = a["latency"].get(device, {}) if device else {}
    v = a["vs_teacher"]
    par = a["parity"] or {}
    gate = {"passed": "passed", "unverified": "**unverified** (numerics not checked)"}.get(a["status"], f"**{a['status']}**")
    return [a["name"], a["runs_as"] or "–", _f(a["accuracy"], "{:.4f}"),
            _f(100 * v["accuracy_ratio"], "{:.1f}%") if "accuracy_ratio" in v else ("teacher" if a["role"] == "teacher" else "–"),
            _f(a["size_bytes"] / 1e6 if a["size_bytes"] else None), _f(v.get("size_ratio"), "{:.1f}x"),
            _f(lat.get("p50_ms")), _f(lat.get("p90_ms")),
            _f((v.get("speedup_p50") or {}).get(device) if device else None, "{:.1f}x"),
            _f(lat.get("p50_ms_real_lengths")),
            _f((v.get("speedup_p50_real_lengths") or {}).get(device) if device else None, "{:.1f}x"),
            f"{_f(lat.get('peak_rss_mb'), '{:.0f}')} ({_f(lat.get('model_rss_mb'), '{:.0f}')})" if lat else "–",
            f"{_f(par.get('max_abs_diff'), '{:.2g}')} / {_f(par.get('argmax_agreement'), '{:.3f}')}", gate]


def _headline(doc: dict) -> list[str]:
    """The best passed student per device: the sentence a reader wants first."""
    out = []
    arts = doc["artifacts"]
    for device, info in doc["devices"].items():
        cands = [a for a in arts if a["role"] == "student" and a["status"] == "passed"
                 and (a["vs_teacher"].get("speedup_p50") or {}).get(device)]
        if not cands:
            continue
        best = max(cands, key=lambda a: a["vs_teacher"]["speedup_p50"][device])
        v = best["vs_teacher"]
        out.append(f"- **{best['name']}** on {info['where']}: {v['speedup_p50'][device]:.1f}x faster (p50 "
                   f"{best['latency'][device]['p50_ms']:.2f} ms), {v.get('size_ratio', 0):.1f}x smaller "
                   f"({best['size_bytes'] / 1e6:.1f} MB), accuracy {best['accuracy']:.4f} = "
                   f"{100 * v.get('accuracy_ratio', 0):.1f}% of the fp32 teacher on the same target.")
    return out


def trim_summary(tv: dict) -> str:
    """One sentence on what vocabulary trimming kept, saved and cost."""
    ut = tv.get("unseen_test") or {}
    return (f"Vocabulary trimming: {tv['vocab_before']:,} -> {tv['vocab_after']:,} tokens (kept: seen at least "
            f"{tv['min_frequency']}x in {tv['counted_examples']:,} training snippets, plus specials and single "
            f"characters); parameters {tv['parameters_before'] / 1e6:.1f}M -> {tv['parameters_after'] / 1e6:.1f}M, "
            f"fp32 weights {tv['weight_bytes_before'] / 1e6:.1f} -> {tv['weight_bytes_after'] / 1e6:.1f} MB; "
            f"{100 * ut.get('unseen_token_rate', 0):.1f}% of test-split tokens were unseen "
            f"({100 * ut.get('example_unseen_rate', 0):.0f}% of test snippets have at least one; they now split "
            f"into smaller pieces); dev accuracy {tv['dev_accuracy_before']:.4f} before, {tv['dev_accuracy']:.4f} after.")


def markdown(doc: dict, plots: dict[str, str]) -> str:
    c = doc["compression"]
    s, t = c["student"], c["teacher"]
    lines = [f"# edgebert run: {doc['run']}", ""]
    lines += _headline(doc) + [""]
    lines += [f"Student: {s.get('layers')} layers, {_f((s.get('parameters') or 0) / 1e6, '{:.1f}')}M parameters "
              f"(teacher {t.get('layers')} layers, {_f((t.get('parameters') or 0) / 1e6, '{:.1f}')}M), "
              f"recipe `{c.get('recipe')}`; PyTorch test accuracy {_f((s.get('test') or {}).get('accuracy'), '{:.4f}')} "
              f"vs teacher {_f((t.get('test') or {}).get('accuracy'), '{:.4f}')}."]
    d = c.get("data") or {}
    if d:
        lines += [f"Data: {d.get('source')}; trained on {d.get('train_used')} of {d.get('train_available')} training "
                  f"examples; dev {d.get('dev')}, test {d.get('test')}; max_seq_len {d.get('max_seq_len')}."]
    if c.get("vocab_trim"):
        lines += ["", trim_summary(c["vocab_trim"])]
    lines += ["", "Accuracy is each bundle's gate: the artifact run in its own runtime on the held-out test split. "
              "Speedup and size ratio are against the fp32 teacher exported to the same target and measured in "
              "the same session by the same runner. \"runs as\" is what the exporter found in the artifact.", ""]
    for device, info in doc["devices"].items():
        lines += [f"## {device}: measured on {info['where']}", ""]
        if info.get("kind") == "host":
            lines += ["These are host-CPU numbers, not a phone's (run with `--device adb` on a phone).", ""]
        if info.get("emulated"):
            lines += ["EMULATED device: latencies mean nothing here; outputs and sizes are real.", ""]
        if not info.get("complete"):
            lines += [f"**INCOMPLETE**: {info.get('error') or 'not measured'}", ""]
        lines += ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
        lines += ["| " + " | ".join(_row(a, device)) + " |" for a in doc["artifacts"]]
        front = doc["pareto"].get(device) or []
        lines += ["", f"Pareto front (accuracy vs p50): {', '.join(front) or '–'}", ""]
        if device in plots:
            lines += [f"![accuracy vs latency on {device}]({plots[device]})", ""]
    if not doc["devices"]:
        lines += ["## Artifacts (not benchmarked)", "", "| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
        lines += ["| " + " | ".join(_row(a, None)) + " |" for a in doc["artifacts"]] + [""]
    lines += [f"Pareto front (accuracy vs size): {', '.join(doc['pareto'].get('size') or []) or '–'}", ""]
    sized = [a for a in doc["artifacts"] if a.get("size_accounting")]
    if sized:
        lines += ["Where the bytes go (weights stored by dtype, read from each artifact; goal: the file at most "
                  f"{OVERHEAD_GOAL:.2f}x its weights):", ""]
        lines += [f"- {a['name']}: {words(a['size_accounting'])}" for a in sized] + [""]
    if "size" in plots:
        lines += [f"![accuracy vs size]({plots['size']})", ""]
    for a in doc["artifacts"]:
        if a["status"] == "unverified":
            lines += [f"- **{a['name']}: numerics NOT verified on this machine** ({a['unverified_because']}); no "
                      f"accuracy or parity for it. Checked here: the saved program's inputs/outputs and op/weight "
                      f"census{' (consistent with its precision)' if a['structure_checked'] else ''}."]
        elif a["status"] != "passed":
            lines += [f"- {a['name']} was rejected: {'; '.join(a['rejected_because']) or a['status']}"]
    steps = doc["steps"]
    lines += ["", f"Run folder `{doc['run_dir']}`; steps run: {len(steps.get('ran', []))}, skipped (inputs unchanged): "
              f"{len(steps.get('skipped', []))}; {steps.get('seconds')} s this time."]
    return "\n".join(lines) + "\n"


def _plot(doc: dict, device: str | None) -> bytes | None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    key = device or "size"
    pts = []
    for a in doc["artifacts"]:
        if a["status"] != "passed" or a["accuracy"] is None:
            continue
        x = a["latency"].get(device, {}).get("p50_ms") if device else (a["size_bytes"] or 0) / 1e6
        if x:
            pts.append((a, x))
    if not pts:
        return None
    front = set(doc["pareto"].get(key) or [])
    fig, ax = plt.subplots(figsize=(7.5, 4.8), dpi=110)
    from ..exporters import exporters

    colors = {e.target: e.colour for e in exporters()}
    for a, x in pts:
        ax.scatter(x, 100 * a["accuracy"], s=90 if a["name"] in front else 50,
                   marker="s" if a["role"] == "teacher" else "o", color=colors.get(a["target"], "gray"),
                   edgecolors="black" if a["name"] in front else "none", linewidths=1.5, zorder=3,
                   label=f"{a['role']} {a['target']} {a['precision']}")
    fr = sorted((x, 100 * a["accuracy"]) for a, x in pts if a["name"] in front)
    if len(fr) > 1:
        ax.step([p[0] for p in fr], [p[1] for p in fr], where="post", color="black", lw=1, ls="--", zorder=2,
                label="Pareto front")
    ax.set_xscale("log")
    from matplotlib.ticker import FormatStrFormatter

    ax.xaxis.set_major_formatter(FormatStrFormatter("%g"))
    ax.xaxis.set_minor_formatter(FormatStrFormatter("%g"))
    ax.tick_params(axis="x", which="minor", labelsize=7)
    ax.set_xlabel("latency p50 (ms, log)" if device else "artifact size (MB, log)")
    ax.set_ylabel("test accuracy (%)")
    where = doc["devices"].get(device, {}).get("where", device) if device else "on disk"
    ax.set_title(f"accuracy vs {'latency' if device else 'size'} — {where}", fontsize=9)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7, loc="lower right", framealpha=0.9)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return buf.getvalue()


def to_html(doc: dict, md: str, images: dict[str, bytes]) -> str:
    """A self-contained page (tables + inline plots) to open or attach anywhere."""
    body = []
    for block in md.split("\n\n"):
        lines = block.strip().splitlines()
        if not lines:
            continue
        if lines[0].startswith("|"):
            rows = [[html.escape(c.strip()).replace("**", "") for c in l.strip("|").split("|")] for l in lines if not l.startswith("|---")]
            head, *rest = rows
            body.append("<table><thead><tr>" + "".join(f"<th>{c}</th>" for c in head) + "</tr></thead><tbody>"
                        + "".join("<tr>" + "".join(f"<td>{c}</td>" for c in r) + "</tr>" for r in rest) + "</tbody></table>")
        elif lines[0].startswith("!["):
            name = lines[0].split("(", 1)[1].rstrip(")")
            if name in images:
                body.append(f'<img alt="{html.escape(name)}" src="data:image/png;base64,'
                            f'{base64.b64encode(images[name]).decode()}">')
        elif lines[0].startswith("#"):
            level = len(lines[0]) - len(lines[0].lstrip("#"))
            body.append(f"<h{level}>{html.escape(lines[0].lstrip('#').strip())}</h{level}>")
            if lines[1:]:
                body.append("<p>" + html.escape(" ".join(lines[1:])) + "</p>")
        elif all(l.startswith("- ") for l in lines):
            body.append("<ul>" + "".join(f"<li>{_inline(l[2:])}</li>" for l in lines) + "</ul>")
        else:
            body.append("<p>" + _inline(" ".join(lines)) + "</p>")
    css = ("body{font-family:system-ui,sans-serif;max-width:1200px;margin:2em auto;padding:0 1em;color:#222}"
           "table{border-collapse:collapse;font-size:13px;margin:1em 0}th,td{border:1px solid #ccc;padding:4px 8px;"
           "text-align:right}th{background:#f3f3f3}td:first-child,th:first-child,td:nth-child(2){text-align:left}"
           "img{max-width:100%;border:1px solid #eee}code{background:#f3f3f3;padding:1px 4px}")
    return (f"<!doctype html><html><head><meta charset='utf-8'><meta name='viewport' content='width=device-width'>"
            f"<title>edgebert run: {html.escape(doc['run'])}</title><style>{css}</style></head><body>"
            + "\n".join(body) + "</body></html>\n")


def _inline(text: str) -> str:
    import re

    t = html.escape(text)
    t = re.sub(r"\*\*(.+?)\*\*", r"<b>\1</b>", t)
    return re.sub(r"`(.+?)`", r"<code>\1</code>", t)


def write_report(spec, run_dir: Path, student_dir: Path, bundles: dict, bench_dirs: dict[str, Path], out: Path,
                 steps: dict) -> dict:
    output_dir(out)
    doc = build_report(spec, run_dir, student_dir, bundles, bench_dirs, steps)
    images: dict[str, bytes] = {}
    plots: dict[str, str] = {}
    for device in [*doc["devices"], None]:
        png = _plot(doc, device)
        if png:
            name = safe_name(f"accuracy_vs_latency_{device}.png" if device else "accuracy_vs_size.png")
            atomic_write_bytes(out / name, png)
            images[name], plots[device or "size"] = png, name
    md = markdown(doc, plots)
    atomic_write_json(out / "report.json", doc)
    atomic_write_text(out / "report.md", md)
    atomic_write_text(out / "report.html", to_html(doc, md, images))
    return doc
