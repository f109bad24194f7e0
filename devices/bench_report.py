"""bench.json, bench.md and bench.png from a :class:`BenchReport`, each written atomically.

The Markdown says where the numbers were measured in its first lines, so a table pasted
elsewhere still says "host x86_64" or "EMULATED" and is not read as a phone's.
"""

from __future__ import annotations

import io
from pathlib import Path

from edgebert.fsutil import atomic_write_bytes, atomic_write_json, atomic_write_text, output_dir

COLUMNS = ("artifact", "role", "format", "precision", "size MB", "accuracy", "p50 ms", "p90 ms", "p99 ms",
           "p50 ms real lengths", "load ms", "peak RSS MB", "model RSS MB", "speedup vs teacher",
           "speedup at real lengths", "size ratio vs teacher", "runner", "logits check")


def _f(v, fmt: str = "{:.2f}") -> str:
    return "–" if v is None else fmt.format(v)


def table_row(report, m) -> list[str]:
    r = m.result or {}
    lat = r.get("latency_ms", {})
    cmp = report.comparison(m)
    acc = (m.accuracy or {}).get("accuracy")
    san = m.sanity or {}
    check = ("ok" if san.get("passed") else "MISMATCH") if san.get("checked") else ("n/a" if m.sanity else "–")
    status = "" if m.status == "measured" else f" ({m.status})"
    return [f"{m.name}{status}", m.role, m.format, m.precision, _f(m.size_bytes / 1e6),
            _f(acc, "{:.4f}"), _f(lat.get("p50")), _f(lat.get("p90")), _f(lat.get("p99")), _f(m.p50_real),
            _f(r.get("load_ms"), "{:.0f}"), _f(r.get("peak_rss_mb"), "{:.0f}"), _f(m.model_rss_mb, "{:.0f}"),
            _f(cmp.get("speedup_p50"), "{:.2f}x"), _f(cmp.get("speedup_p50_real_lengths"), "{:.2f}x"),
            _f(cmp.get("size_ratio"), "{:.2f}x"), m.runner or "–", check]


def markdown(report) -> str:
    d = report.device
    lines = ["# edgebert bench", ""]
    if not report.complete:
        lines += [f"**INCOMPLETE**: {report.error or 'stopped early'}. Rows marked failed/pending were not measured.", ""]
    lines += [f"Measured on: **{d.get('where', d.get('spec'))}** ({d.get('name', '')}, {d.get('cores') or '?'} cores), "
              f"{report.started}."]
    if d.get("kind") == "host" or d.get("emulated"):
        lines += ["", "These are not phone numbers: " + ("timings under emulation mean nothing; outputs and sizes "
                  "are real." if d.get("emulated") else "they were measured on the host CPU.")]
    s = report.settings
    lines += ["", f"Method: load, first inference, {s['warmup']} warmup runs, then at least {s['runs']} runs and at "
              f"least {s['min_seconds']:g} s; threads: {s['threads'] or 'runtime default'}"
              f"{'; pinned to big cores' if s.get('pin_cores') else ''}. Latency of batch 1 at the bundle's maximum "
              "sequence length (p50 ms), and over held-out sentences at quantiles of the split's real lengths, each "
              "at the length the bundle's contract feeds it (p50 ms real lengths: a static-length artifact pads "
              "every one to its maximum; '–' where the runner cannot feed several inputs). Model RSS = peak RSS "
              "less the runner's RSS with the runtime imported and nothing loaded. Speedup = teacher p50 / p50; size ratio = teacher artifact bytes / artifact bytes "
              "(teacher: fp32, same target, same runner, same session). Accuracy: each bundle's gate on its "
              "held-out split (metadata.json).", ""]
    lines += ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    lines += ["| " + " | ".join(table_row(report, m)) + " |" for m in report.measurements]
    errs = [m for m in report.measurements if m.error]
    if errs:
        lines += [""] + [f"- {m.name}: {m.error}" for m in errs]
    bad = [m for m in report.measurements if (m.sanity or {}).get("checked") and not m.sanity.get("passed")]
    if bad:
        lines += [""] + [f"- {m.name}: device logits differ from the {m.sanity.get('against', 'host runtime')} "
                         f"(max diff {m.sanity.get('max_abs_diff', float('nan')):.3g}, tolerance "
                         f"{m.sanity.get('tolerance', float('nan')):.3g}); do not trust this row" for m in bad]
    temps = [(m.name, m.thermal_before.get("temperature_c"), m.thermal_after.get("temperature_c"))
             for m in report.measurements if m.thermal_before.get("temperature_c") is not None]
    if temps:
        lines += ["", "Temperature before → after (°C): " + ", ".join(f"{n} {a:.1f} → {_f(b, '{:.1f}')}"
                                                                        for n, a, b in temps)]
    if report.leftover:
        lines += ["", f"Could not remove `{report.leftover}` from the device (unreachable at the end)."]
    return "\n".join(lines) + "\n"


def plot_png(report) -> bytes:
    """Latency (p50) vs accuracy per artifact; the teacher is a star."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 4.8), dpi=120)
    # colour = format, marker = role/precision, names in the legend: labels next to points
    # collide as soon as two artifacts have similar latency
    from edgebert.exporters import exporters

    colours = {e.format: e.colour for e in exporters()}
    plotted = 0
    for m in report.measurements:
        acc = (m.accuracy or {}).get("accuracy")
        if m.p50 is None or acc is None:
            continue
        teacher = m.role == "teacher"
        fmt = getattr(m, "format", None)
        marker = "*" if teacher else ("o" if "int8" in str(getattr(m, "precision", "")) else "s")
        ax.scatter([m.p50], [acc], marker=marker, s=220 if teacher else 60, color=colours.get(fmt, "gray"),
                   edgecolors="black", linewidths=0.6, zorder=3, label=m.name)
        plotted += 1
    if plotted:
        ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5), frameon=False,
                  title="star: teacher fp32, square: fp32, circle: int8", title_fontsize=7)
    if not plotted:
        ax.text(0.5, 0.5, "nothing measured with a known accuracy", ha="center", va="center", transform=ax.transAxes)
    d = report.device
    ax.set_xlabel("p50 latency (ms, batch 1)")
    ax.set_ylabel("accuracy (bundle gate, held-out split)")
    ax.set_title(f"{d.get('where', d.get('spec'))}" + ("" if report.complete else " [INCOMPLETE]"), fontsize=9)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return buf.getvalue()


def write_report(report, out_dir: Path) -> dict[str, Path]:
    out_dir = output_dir(out_dir)
    return {"json": atomic_write_json(out_dir / "bench.json", report.to_dict()),
            "md": atomic_write_text(out_dir / "bench.md", markdown(report)),
            "png": atomic_write_bytes(out_dir / "bench.png", plot_png(report))}
