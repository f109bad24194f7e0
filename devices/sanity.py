"""Did the device compute what it should? Its logits against the PyTorch logits recorded in the
bundle at export time (reference.json, whose example 0 the device is fed), so the check means
the same on every device, the host included; with ``--sentence``, or a bundle made before
reference.json, against the artifact's runtime on this machine."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgebert.exporters.base import INPUT_NAMES, Precision
from edgebert.exporters.metadata import BundleMetadata
from edgebert.exporters.sequence import fit

from .settings import DEFAULT_SENTENCE


def encode_sentence(bundle: Path, seq_len: int, sentence: str) -> dict[str, np.ndarray]:
    """The sentence through the bundle's own tokenizer, padded to its static length."""
    from edgebert.data import Example, encode, load_tokenizer

    enc = encode(load_tokenizer(bundle), [Example(sentence)], seq_len)
    return {n: getattr(enc, n).numpy() for n in ("input_ids", "attention_mask", "token_type_ids")}


def host_reference(bundle: Path, meta: BundleMetadata, inputs: dict[str, np.ndarray]) -> np.ndarray | None:
    """The same input through the artifact's runtime here (None when it cannot run here)."""
    from edgebert.exporters import get_exporter
    from edgebert.exporters.bundle import bundle_artifact

    exporter = get_exporter(meta.target)
    if not exporter.can_run_here():
        return None
    art = bundle_artifact(bundle, meta)
    return np.asarray(exporter.runner(art)(inputs["input_ids"], inputs["attention_mask"], inputs["token_type_ids"]))


RECORDED, HOST = "recorded PyTorch reference", "host runtime"
# Tolerance as a fraction of the spread of the logits seen (the recorded ones where the bundle
# has them), so it means the same for logits of a few hundredths and of tens: fp32 runtimes
# agree with PyTorch to rounding, fp16 to a few parts per thousand; int8 differs from PyTorch
# by its quantization error and across CPUs by its kernels, so it is loose (and the class must match).
RELATIVE_TOLERANCE = {Precision.FP32: 1e-3, Precision.FP16: 1e-2}
QUANTIZED_RELATIVE_TOLERANCE = 0.1


@dataclass
class SanityInput:
    """What the device is fed, and what its logits are checked against."""

    inputs: dict[str, np.ndarray]
    against: str  # RECORDED | HOST
    expected: np.ndarray | None  # the recorded PyTorch logits (HOST: computed after the run)
    spread: float | None  # max - min of the recorded logits: what "close" means for this model
    text: str | None  # the text the inputs encode (a browser tokenizes it itself); None for a pair
    note: str | None = None


def sanity_input(bundle: Path, meta: BundleMetadata, sentence: str | None, fitted: bool = True) -> SanityInput:
    """Reference example 0 unless a sentence is given or the bundle predates reference.json,
    at the length the bundle's sequence contract feeds it (a dynamic-length artifact gets the
    sentence's own tokens, as the app and the gates run it), or padded to the maximum length
    (``fitted=False``: what the bench times as the worst case)."""
    si = _padded_sanity_input(bundle, meta, sentence)
    if not fitted:
        return si
    fed = fit(tuple(si.inputs[n] for n in INPUT_NAMES), meta.sequence)
    si.inputs = dict(zip(INPUT_NAMES, fed))
    return si


def _padded_sanity_input(bundle: Path, meta: BundleMetadata, sentence: str | None) -> SanityInput:
    from edgebert.exporters.bundle import read_reference

    ref = read_reference(bundle, meta)
    spread = float(np.ptp([r["logits"] for r in ref["examples"]])) if ref else None
    if sentence is None and ref is not None:
        ex = ref["examples"][0]
        inputs = {n: np.asarray([ex[n]], dtype=np.int64) for n in ("input_ids", "attention_mask", "token_type_ids")}
        return SanityInput(inputs, RECORDED, np.asarray(ex["logits"]), spread,
                           None if "text_pair" in ex else ex.get("text"))
    text = sentence or DEFAULT_SENTENCE
    note = None if ref else "the bundle has no reference.json (made before edgebert recorded one)"
    return SanityInput(encode_sentence(bundle, meta.seq_len, text), HOST, None, spread, text, note)


def length_samples(bundle: Path, meta: BundleMetadata) -> list[dict] | None:
    """The recorded length sample, each example at the length the contract feeds it (None for
    a static-length artifact, which runs every sentence at its maximum, or an older bundle)."""
    from edgebert.exporters.bundle import read_reference
    from edgebert.exporters.sequence import SeqKind

    ref = read_reference(bundle, meta)
    if meta.sequence.kind is SeqKind.STATIC or not ref or "length_sample" not in ref:
        return None
    rows = []
    for ex in ref["length_sample"]["examples"]:
        fed = fit(tuple(np.asarray([ex[n]], dtype=np.int64) for n in INPUT_NAMES), meta.sequence)
        rows.append({n: a.reshape(-1).tolist() for n, a in zip(INPUT_NAMES, fed)})
    return rows


def check_logits(si: SanityInput, device_logits: list, bundle: Path, meta: BundleMetadata, precision: str) -> dict:
    expected = si.expected if si.against == RECORDED else host_reference(bundle, meta, si.inputs)
    out = sanity(device_logits, expected, precision, against=si.against, spread=si.spread)
    return out | ({"note": si.note} if si.note else {})


def sanity(device_logits: list, reference: np.ndarray | None, precision: str, *, against: str = HOST,
           spread: float | None = None) -> dict:
    """Did the device compute ``reference`` (the recorded PyTorch logits or the host runtime's)?

    The tolerance is a fraction of ``spread`` (of the recorded logits; else of ``reference``)."""
    if not device_logits:
        return {"checked": False, "against": against, "why": "the runner prints no outputs"}
    if reference is None:
        return {"checked": False, "against": against, "why": "the artifact's runtime does not run on this host"}
    dev, ref = np.asarray(device_logits, dtype=np.float64).reshape(-1), np.asarray(reference, np.float64).reshape(-1)
    if dev.shape != ref.shape:
        return {"checked": True, "passed": False, "against": against,
                "why": f"{dev.size} outputs on the device, {ref.size} expected"}
    scale = float(np.ptp(ref)) if spread is None else spread
    scale = max(scale, float(np.finfo(np.float32).eps * np.abs(ref).max()))  # a constant model: rounding only
    tol = RELATIVE_TOLERANCE.get(precision, QUANTIZED_RELATIVE_TOLERANCE) * scale
    diff = float(np.abs(dev - ref).max())
    same = int(dev.argmax()) == int(ref.argmax())
    return {"checked": True, "passed": bool(same and diff <= tol), "against": against, "max_abs_diff": diff,
            "tolerance": tol, "logit_spread": scale, "argmax_match": same, "device_logits": dev.tolist(),
            "expected_logits": ref.tolist()}


