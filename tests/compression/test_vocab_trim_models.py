"""Vocabulary trimming of byte-level BPE (RoBERTa) and Unigram (ALBERT) tokenizers, on folders
saved by the pinned transformers as users' are: seen text keeps its split (ids remapped), any
text still tokenizes, the saved tokenizer is the original's class, and scores do not move."""

from __future__ import annotations

import copy
import json

import pytest
import torch

from builders import make_family_classifier
from edgebert.compression.stage_configs import StudentFacts, TrimVocabStage, preflight
from edgebert.compression.vocab_trim import trim
from edgebert.compression.vocab_trim_models import edit_tokenizer_json
from edgebert.data import Example, encode, load_tokenizer
from edgebert.errors import EdgebertError
from edgebert.model import load_model, save_checkpoint

SEEN = ["it is a great plot", "a dull plot"]  # a few of the words the tokenizers were trained on
UNSEEN = ["the story of the film", "Café naïve résumé", "映画 is 😀 good", "zorblaxian flimflam",
          "BRILLIANT!!! 123", "", "   "]


def _tokenizer_json(path) -> dict:
    return json.loads((path / "tokenizer.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module", params=["roberta", "albert"])
def trimmed(request, tmp_path_factory):
    family = request.param
    root = tmp_path_factory.mktemp(f"trim-{family}")
    path = make_family_classifier(root / family, family, train_steps=0)
    tok = load_tokenizer(path)
    small = load_model(path)
    res = trim(small, tok, path, [Example(t, "pos") for t in SEEN], root / "tok")
    save_checkpoint(small, root / "student", tokenizer_from=root / "tok")
    return family, path, tok, res, root


def _learned(doc: dict) -> list[str]:
    """Tokens that are neither added/special tokens nor the one-character fallback alphabet."""
    model, added = doc["model"], {a["content"] for a in doc["added_tokens"]}
    tokens = list(model["vocab"]) if model["type"] == "BPE" else [p for p, _ in model["vocab"]]
    return [t for t in tokens if t not in added and len(t) > 1]


def test_the_learned_vocab_shrinks_and_the_fallback_alphabet_stays(trimmed):
    family, path, tok, res, root = trimmed
    before, after = _tokenizer_json(path), _tokenizer_json(root / "student")
    assert len(res.tokens) < len(tok) and len(_learned(after)) <= len(_learned(before)) // 2
    model = load_model(root / "student")
    assert model.embeddings.word_embeddings.num_embeddings == model.config.vocab_size == len(res.tokens)
    assert model.config.pad_token_id == res.tokens.index(str(tok.pad_token))
    new_ids = {t: i for i, t in enumerate(res.tokens)}
    if family == "roberta":
        from tokenizers.pre_tokenizers import ByteLevel

        alphabet = set(ByteLevel.alphabet())
        assert len(alphabet) == 256 and alphabet <= set(after["model"]["vocab"])
        assert after["model"]["vocab"] == new_ids  # dense, original order, added tokens included
    else:
        singles = [p for p, _ in before["model"]["vocab"] if len(p) == 1]
        assert len(singles) > 20 and set(singles) <= set(res.tokens)
        assert [p for p, _ in after["model"]["vocab"]] == res.tokens
        scores = dict(map(tuple, before["model"]["vocab"]))
        assert all(s == scores[p] for p, s in after["model"]["vocab"])
        unk = before["model"]["vocab"][before["model"]["unk_id"]][0]
        assert after["model"]["vocab"][after["model"]["unk_id"]][0] == unk
    assert all(a["id"] == new_ids[a["content"]] for a in after["added_tokens"])


@pytest.mark.parametrize("trimmed", ["roberta"], indirect=True)
def test_bpe_keeps_exactly_the_merges_of_kept_tokens_in_order(trimmed):
    _, path, _, res, root = trimmed
    before, after = _tokenizer_json(path)["model"], _tokenizer_json(root / "student")["model"]
    kept = set(res.tokens)
    merges = [m for m in before["merges"] if m[0] in kept and m[1] in kept and m[0] + m[1] in kept]
    assert after["merges"] == merges and 0 < len(merges) < len(before["merges"])
    made = {a + b for a, b in merges}  # closed under merges: every kept multi-byte token is built by a kept merge
    assert all(t in made for t in kept if len(t) > 1 and t in before["vocab"] and not t.startswith("<"))


def test_seen_text_splits_the_same_with_specials_and_the_same_class(trimmed):
    from transformers import AutoTokenizer

    _, _, tok, res, root = trimmed
    new = AutoTokenizer.from_pretrained(str(root / "student"))
    assert type(new) is type(tok)
    remap = {old: k for k, old in enumerate(res.old_ids)}
    for text in SEEN + [("it is dull", "a great plot")]:
        args = text if isinstance(text, tuple) else (text,)
        old, got = tok(*args), new(*args)
        assert got.input_ids == [remap[i] for i in old.input_ids]
        assert new.convert_ids_to_tokens(got.input_ids) == tok.convert_ids_to_tokens(old.input_ids)
        assert getattr(got, "token_type_ids", None) == getattr(old, "token_type_ids", None)
    assert new.pad_token_id == remap[tok.pad_token_id] and new.unk_token_id == remap[tok.unk_token_id]


def test_unseen_text_still_tokenizes_and_bpe_never_needs_unk(trimmed):
    family, _, tok, res, root = trimmed
    new = load_tokenizer(root / "student")
    changed = 0
    for text in UNSEEN:
        old, got = tok(text).input_ids, new(text).input_ids
        assert new.decode(got, skip_special_tokens=True) == tok.decode(old, skip_special_tokens=True)
        if family == "roberta":
            assert new.unk_token_id not in got
        changed += len(got) != len(old)
    assert changed  # unseen words really were re-split into kept pieces


def test_trimmed_student_scores_seen_text_as_before(trimmed):
    _, path, tok, _, root = trimmed
    full, small = load_model(path).eval(), load_model(root / "student").eval()
    ex = [Example(t, "pos") for t in SEEN]
    a, b = encode(tok, ex, 16, None), encode(load_tokenizer(root / "student"), ex, 16, None)
    with torch.no_grad():
        la = full(a.input_ids, a.attention_mask, a.token_type_ids)
        lb = small(b.input_ids, b.attention_mask, b.token_type_ids)
    assert not torch.equal(a.input_ids, b.input_ids)  # the ids did move
    assert torch.allclose(la, lb, atol=1e-6)


def test_an_xlmr_style_unigram_with_specials_apart_from_the_pieces_trims(tmp_path):
    """XLM-R (the transformers class) numbers <mask> after every piece: it stays last, renumbered."""
    from transformers import AutoTokenizer, XLMRobertaTokenizer

    path = make_family_classifier(tmp_path / "albert", "albert", train_steps=0)
    pieces = [tuple(p) for p in _tokenizer_json(path)["model"]["vocab"][5:]]
    xlmr = XLMRobertaTokenizer(vocab=[("<s>", 0.0), ("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0), *pieces,
                                      ("<mask>", 0.0)])
    xlmr.save_pretrained(str(tmp_path / "xlmr"))
    tok = load_tokenizer(tmp_path / "xlmr")
    res = trim(load_model(path), tok, tmp_path / "xlmr", [Example(t, "pos") for t in SEEN], tmp_path / "tok")
    new = AutoTokenizer.from_pretrained(str(tmp_path / "tok"))
    assert type(new) is XLMRobertaTokenizer and res.tokens[-1] == "<mask>"
    remap = {old: k for k, old in enumerate(res.old_ids)}
    assert new.mask_token_id == remap[tok.mask_token_id] == len(res.tokens) - 1
    assert new(SEEN[0]).input_ids == [remap[i] for i in tok(SEEN[0]).input_ids]


def test_a_tokenizer_model_trimming_cannot_edit_is_refused_before_training():
    with pytest.raises(EdgebertError) as err:
        preflight([TrimVocabStage()], 2, 2, StudentFacts(tokenizer="WordLevel"))
    assert "\n" not in err.value.one_line() and "tokenizer is WordLevel" in err.value.one_line()
    for kind in ("WordPiece", "BPE", "Unigram"):
        preflight([TrimVocabStage()], 2, 2, StudentFacts(tokenizer=kind))


def test_trim_itself_refuses_a_wordlevel_tokenizer(tmp_path):
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    path = make_family_classifier(tmp_path / "albert", "albert", train_steps=0)
    model = load_model(path)
    words = {w: i for i, w in enumerate(["<pad>", "<unk>"] + [f"w{i}" for i in range(model.config.vocab_size - 2)])}
    backend = Tokenizer(models.WordLevel(words, unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.Whitespace()
    tok = PreTrainedTokenizerFast(tokenizer_object=backend, unk_token="<unk>", pad_token="<pad>")
    with pytest.raises(EdgebertError, match="cannot edit a WordLevel tokenizer"):
        trim(copy.deepcopy(model), tok, path, [Example("w1 w2", "pos")], tmp_path / "tok")


def _specials_last(doc: dict, path):
    """``doc``'s tokenizer with its specials moved after every other token (as GPT-2's <|endoftext|>
    is), so trimming must renumber them in the model, the added tokens and the post-processor; the
    mask token is only an added token (outside the model's vocab), as tokens users add are."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    specials = [a["content"] for a in doc["added_tokens"]]
    in_model = [s for s in specials if "mask" not in s.lower()]
    m = doc["model"]
    if m["type"] == "BPE":
        order = [t for t in m["vocab"] if t not in specials] + in_model
        backend = Tokenizer(models.BPE({t: i for i, t in enumerate(order)}, [tuple(x) for x in m["merges"]],
                                       unk_token="<unk>"))
        backend.pre_tokenizer, backend.decoder = pre_tokenizers.ByteLevel(add_prefix_space=False), decoders.ByteLevel()
        backend.post_processor = processors.RobertaProcessing(("</s>", order.index("</s>")),
                                                              ("<s>", order.index("<s>")))
        names = dict(bos_token="<s>", eos_token="</s>", cls_token="<s>", sep_token="</s>")
    else:
        pieces = [tuple(p) for p in m["vocab"] if p[0] not in specials] + [(s, 0.0) for s in in_model]
        order = [p for p, _ in pieces]
        backend = Tokenizer(models.Unigram(pieces, unk_id=order.index("<unk>")))
        backend.normalizer = Tokenizer.from_str(json.dumps(doc)).normalizer
        backend.pre_tokenizer = pre_tokenizers.Metaspace(replacement="\u2581", prepend_scheme="always")
        backend.post_processor = processors.TemplateProcessing(
            single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1",
            special_tokens=[("[CLS]", order.index("[CLS]")), ("[SEP]", order.index("[SEP]"))])
        names = dict(cls_token="[CLS]", sep_token="[SEP]")
    backend.add_special_tokens(specials)
    mask = next(s for s in specials if s not in in_model)
    PreTrainedTokenizerFast(tokenizer_object=backend, unk_token="<unk>", pad_token="<pad>", mask_token=mask,
                            **names).save_pretrained(str(path))
    return path


@pytest.mark.parametrize("family", ["roberta", "albert"])
def test_every_id_a_tokenizer_names_is_renumbered(family, tmp_path):
    path = make_family_classifier(tmp_path / family, family, train_steps=0)
    tok = load_tokenizer(_specials_last(_tokenizer_json(path), tmp_path / "last"))
    res = trim(load_model(path), tok, tmp_path / "last", [Example(t, "pos") for t in SEEN], tmp_path / "tok")
    remap = {old: k for k, old in enumerate(res.old_ids)}
    new, doc = load_tokenizer(tmp_path / "tok"), _tokenizer_json(tmp_path / "tok")
    assert remap[tok.unk_token_id] == new.unk_token_id < tok.unk_token_id  # the ids really moved
    for text in SEEN + [("it is dull", "a great plot"), "映画 😀 plot"]:  # specials by post-processor, and <unk>
        args = text if isinstance(text, tuple) else (text,)
        assert new(*args).input_ids == [remap[i] for i in tok(*args).input_ids]
    assert tok.mask_token_id == len(tok) - 1 and new.mask_token_id == len(new) - 1 == remap[tok.mask_token_id]
    assert {a["content"]: a["id"] for a in doc["added_tokens"]} == {
        t: remap[tok.convert_tokens_to_ids(t)] for t in (a["content"] for a in doc["added_tokens"])}
    if family == "albert":
        assert doc["model"]["vocab"][doc["model"]["unk_id"]][0] == "<unk>"
    # the edited JSON itself, before transformers re-saves it (readers such as the bundle's special-id
    # lookup take added tokens' ids from it; tokenizers alone would renumber them on load)
    edited = edit_tokenizer_json(json.loads(tok.backend_tokenizer.to_str()), {t: k for k, t in enumerate(res.tokens)})
    assert [a["id"] for a in edited["added_tokens"]] == [a["id"] for a in doc["added_tokens"]]
