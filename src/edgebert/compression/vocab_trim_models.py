"""Vocabulary trimming for byte-level BPE (RoBERTa) and Unigram (ALBERT, XLM-R) tokenizers.

The ``tokenizers`` library has no API to remove tokens from a model, and rebuilding one from
scratch (as WordPiece is rebuilt) would lose whatever the original carries: normalizer,
pre-tokenizer, decoder, added tokens. So we edit its serialized tokenizer.json instead: only the
model's vocabulary (and BPE merges) shrink, ids are renumbered densely in their original
order, and every place that names a token by id (added tokens, post-processor) is remapped
(padding and truncation are left off, as the WordPiece rebuild leaves them). The result is
loaded with the original transformers class, so the saved folder reads like the user's.

Why the kept set is enough: BPE applies the lowest-ranked applicable merge until none is left,
so if every merge a word used is kept (we close the set under merges) the same merges fire
in the same order; Unigram picks the best-scoring split, and a split whose pieces are all kept
is still the best among fewer pieces with unchanged scores.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

MODELS = ("BPE", "Unigram")  # edited here; WordPiece is rebuilt by vocab_trim
TRIMMABLE = ("WordPiece", *MODELS)  # tokenizer.json "model.type" values trim_vocab handles
_VOCAB_FILES = ("tokenizer_config.json", "special_tokens_map.json")


def is_fallback(token: str) -> bool:
    """Is ``token`` part of the alphabet any text falls back to? For byte-level BPE the single
    bytes (the 256 byte-level characters), for Unigram the single characters."""
    return len(token) == 1


def close_bpe(model: dict, keep: set[str]) -> set[str]:
    """``keep`` plus every token a kept token is merged from, recursively (all merges producing it)."""
    parts: dict[str, list[tuple[str, str]]] = {}
    for a, b in model["merges"]:  # pairs, as the tokenizers library serializes them today
        parts.setdefault(a + b, []).append((a, b))
    keep, todo = set(keep), list(keep)
    while todo:
        for pair in parts.get(todo.pop(), ()):
            for p in pair:
                if p not in keep and p in model["vocab"]:
                    keep.add(p)
                    todo.append(p)
    return keep


def close(model: dict, keep: set[str]) -> set[str]:
    """The tokens that must stay so ``keep`` tokenizes as before."""
    if model["type"] == "BPE":
        return close_bpe(model, keep)
    return keep | {model["vocab"][model["unk_id"]][0]} if model.get("unk_id") is not None else keep


def _trim_bpe(model: dict, new_id: dict[str, int]) -> None:
    model["vocab"] = {t: new_id[t] for t, _ in sorted(model["vocab"].items(), key=lambda kv: kv[1]) if t in new_id}
    model["merges"] = [[a, b] for a, b in model["merges"] if a in new_id and b in new_id and a + b in new_id]


def _trim_unigram(model: dict, new_id: dict[str, int]) -> None:
    unk = model["vocab"][model["unk_id"]][0] if model.get("unk_id") is not None else None
    model["vocab"] = [[p, s] for p, s in model["vocab"] if p in new_id]  # ids are positions: kept in order
    if unk is not None:
        model["unk_id"] = new_id[unk]


def _remap_processor(proc: dict | None, new_id: dict[str, int]) -> None:
    if not proc:
        return
    for key in ("sep", "cls"):  # RobertaProcessing / BertProcessing: [token, id]
        if isinstance(proc.get(key), list):
            proc[key] = [proc[key][0], new_id[proc[key][0]]]
    for special in (proc.get("special_tokens") or {}).values():  # TemplateProcessing
        special["ids"] = [new_id[t] for t in special["tokens"]]
    for sub in proc.get("processors") or []:  # Sequence
        _remap_processor(sub, new_id)


def edit_tokenizer_json(doc: dict, new_id: dict[str, int]) -> dict:
    """``doc`` (tokenizer.json) reduced to the tokens in ``new_id`` (token -> new id), edited in place."""
    {"BPE": _trim_bpe, "Unigram": _trim_unigram}[doc["model"]["type"]](doc["model"], new_id)
    for added in doc.get("added_tokens") or []:
        added["id"] = new_id[added["content"]]
    _remap_processor(doc.get("post_processor"), new_id)
    return doc


def save_like(tok, doc: dict, new_id: dict[str, int], out: Path):
    """Save ``doc`` as a tokenizer of ``tok``'s class in ``out``, and return it loaded from there.

    The folder holds only tokenizer.json and the class's config: a copied vocab.json, merges.txt
    or spiece.model would describe the untrimmed ids.
    """
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        tok.save_pretrained(tmp)
        for name in _VOCAB_FILES:
            if (Path(tmp) / name).is_file():
                shutil.copy2(Path(tmp) / name, out / name)
    cfg_path = out / "tokenizer_config.json"
    cfg = json.loads(cfg_path.read_text(encoding="utf-8"))
    if isinstance(cfg.get("added_tokens_decoder"), dict):  # keyed by the old ids
        cfg["added_tokens_decoder"] = {str(new_id[v["content"]]): v for v in cfg["added_tokens_decoder"].values()}
    for key in ("vocab_file", "merges_file", "tokenizer_file"):
        cfg.pop(key, None)
    cfg_path.write_text(json.dumps(cfg, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    (out / "tokenizer.json").write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    new = type(tok).from_pretrained(str(out), local_files_only=True)
    new.save_pretrained(str(out))  # in the class's own layout
    return new
