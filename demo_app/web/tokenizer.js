// BERT WordPiece tokenizer that reproduces Hugging Face `tokenizers` (BertNormalizer +
// BertPreTokenizer + WordPiece + the BERT template, longest_first truncation, max_length
// padding) id for id. Pure ES module: no DOM, so node runs the parity tests on it.
//
// Character classes come from unicode_tables.js, probed from the Python library itself:
// its Rust tables are older than the browser's Unicode data, so `\p{P}` etc. would differ.

import * as tables from "./unicode_tables.js";

/** Decode delta-encoded ranges into a flat sorted [lo0, hi0, lo1, hi1, ...] array. */
function decodeRanges(encoded) {
  const nums = encoded ? encoded.split(",").map((s) => parseInt(s, 36)) : [];
  const out = new Uint32Array(nums.length);
  let prev = -1;
  for (let i = 0; i < nums.length; i += 2) {
    const lo = prev + 1 + nums[i];
    const hi = lo + nums[i + 1];
    out[i] = lo;
    out[i + 1] = hi;
    prev = hi;
  }
  return out;
}

function inRanges(ranges, cp) {
  let lo = 0;
  let hi = ranges.length / 2 - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (cp < ranges[2 * mid]) hi = mid - 1;
    else if (cp > ranges[2 * mid + 1]) lo = mid + 1;
    else return true;
  }
  return false;
}

const REMOVED = decodeRanges(tables.REMOVED);
const CLEAN_SPACE = decodeRanges(tables.CLEAN_SPACE);
const SPLIT_SPACE = decodeRanges(tables.SPLIT_SPACE);
const PUNCT = decodeRanges(tables.PUNCT);
const MN = decodeRanges(tables.MN);
const CJK = decodeRanges(tables.CJK);

const SPACE = 0x20;
const SPECIALS = { pad: "[PAD]", unk: "[UNK]", cls: "[CLS]", sep: "[SEP]", mask: "[MASK]" };

const codePoints = (text) => Array.from(text, (c) => c.codePointAt(0));
const fromCodePoints = (cps) => cps.map((c) => String.fromCodePoint(c)).join("");

/** vocab.txt -> Map(token -> id); a repeated token keeps its last id, as in `tokenizers`. */
/**
 * Cut token ids to ``budget`` as tokenizers' truncate_encodings does (LongestFirst; with a
 * pair, the longer side loses first). Shared by the WordPiece module and hf_tokenizer.js.
 * @returns {[number[], number[] | null]}
 */
export function truncateLongestFirst(a, b, budget) {
  if (a.length + (b ? b.length : 0) <= budget) return [a, b];
  if (!b) return [a.slice(0, budget), b];
  let n1 = Math.min(a.length, b.length);
  let n2 = n1 > budget ? n1 : Math.max(n1, budget - n1);
  if (n1 + n2 > budget) {
    n1 = Math.floor(budget / 2);
    n2 = n1 + (budget % 2);
  }
  if (a.length > b.length) [n1, n2] = [n2, n1];
  return [a.slice(0, n1), b.slice(0, n2)];
}

export function parseVocab(text) {
  const lines = text.split("\n");
  if (lines.length && lines[lines.length - 1] === "") lines.pop();
  const vocab = new Map();
  lines.forEach((line, i) => vocab.set(line.replace(/\s+$/u, ""), i));
  return vocab;
}

export class BertTokenizer {
  /**
   * @param {object} settings the bundle's edgebert_tokenizer.json
   * @param {string} vocabText the bundle's vocab.txt
   */
  constructor(settings, vocabText) {
    this.settings = settings;
    this.vocab = parseVocab(vocabText);
    this.lowercase = settings.do_lower_case ?? true;
    this.stripAccents = settings.strip_accents ?? this.lowercase;
    this.chineseChars = settings.tokenize_chinese_chars ?? true;
    this.cleanText = settings.clean_text ?? true;
    this.prefix = settings.continuing_subword_prefix ?? "##";
    this.maxCharsPerWord = settings.max_input_chars_per_word ?? 100;
    this.maxLength = settings.max_seq_len;
    const id = (name) => {
      const v = settings[`${name}_id`] ?? this.vocab.get(SPECIALS[name]);
      if (v === undefined) throw new Error(`tokenizer: ${SPECIALS[name]} is not in vocab.txt`);
      return v;
    };
    this.padId = id("pad");
    this.clsId = id("cls");
    this.sepId = id("sep");
    this.unkId = this.vocab.get(settings.unk_token ?? "[UNK]") ?? id("unk");
    // Special tokens are matched on the raw text before normalization (HF added tokens,
    // normalized=false), longest first.
    this.specials = Object.keys(SPECIALS)
      .filter((n) => settings[`${n}_id`] !== undefined || this.vocab.has(SPECIALS[n]))
      .map((n) => [SPECIALS[n], settings[`${n}_id`] ?? this.vocab.get(SPECIALS[n])])
      .sort((a, b) => b[0].length - a[0].length);
  }

  /** Load from a bundle folder URL (e.g. "/bundle/"). */
  static async fromBundle(base, fetchFn = fetch) {
    const get = async (name) => {
      const res = await fetchFn(new URL(name, new URL(base, globalThis.location?.href)));
      if (!res.ok) throw new Error(`cannot load ${name}: HTTP ${res.status}`);
      return res;
    };
    const settings = await (await get("edgebert_tokenizer.json")).json();
    const vocab = await (await get(settings.vocab_file || "vocab.txt")).text();
    return new BertTokenizer(settings, vocab);
  }

  /** BertNormalizer: clean text, space out CJK, strip accents (NFD minus Mn), lowercase. */
  normalize(text) {
    let cps = codePoints(text);
    if (this.cleanText) {
      cps = cps.filter((c) => !inRanges(REMOVED, c)).map((c) => (inRanges(CLEAN_SPACE, c) ? SPACE : c));
    }
    if (this.chineseChars) {
      cps = cps.flatMap((c) => (inRanges(CJK, c) ? [SPACE, c, SPACE] : [c]));
    }
    if (this.stripAccents) {
      cps = codePoints(fromCodePoints(cps).normalize("NFD")).filter((c) => !inRanges(MN, c));
    }
    if (this.lowercase) {
      // per character, like Rust's char::to_lowercase (no final-sigma context rule)
      cps = cps.flatMap((c) => codePoints(String.fromCodePoint(c).toLowerCase()));
    }
    return fromCodePoints(cps);
  }

  /** BertPreTokenizer: split on whitespace (dropped) and punctuation (kept alone). */
  preTokenize(text) {
    const words = [];
    let cur = [];
    const flush = () => {
      if (cur.length) words.push(fromCodePoints(cur));
      cur = [];
    };
    for (const c of codePoints(text)) {
      if (inRanges(SPLIT_SPACE, c)) {
        flush();
      } else if (inRanges(PUNCT, c)) {
        flush();
        words.push(String.fromCodePoint(c));
      } else {
        cur.push(c);
      }
    }
    flush();
    return words;
  }

  /** Greedy longest-match-first WordPiece; a word that cannot be covered becomes [UNK]. */
  wordpiece(word) {
    const chars = Array.from(word);
    if (chars.length > this.maxCharsPerWord) return [this.unkId];
    const ids = [];
    let start = 0;
    while (start < chars.length) {
      let end = chars.length;
      let found;
      while (start < end) {
        const piece = (start > 0 ? this.prefix : "") + chars.slice(start, end).join("");
        found = this.vocab.get(piece);
        if (found !== undefined) break;
        end -= 1;
      }
      if (found === undefined) return [this.unkId];
      ids.push(found);
      start = end;
    }
    return ids;
  }

  /** Token ids of one text, without [CLS]/[SEP]. */
  textToIds(text) {
    const ids = [];
    const plain = (segment) => {
      for (const word of this.preTokenize(this.normalize(segment))) ids.push(...this.wordpiece(word));
    };
    let i = 0;
    let segStart = 0;
    while (i < text.length) {
      const hit = this.specials.find(([tok]) => text.startsWith(tok, i));
      if (hit) {
        plain(text.slice(segStart, i));
        ids.push(hit[1]);
        i += hit[0].length;
        segStart = i;
      } else {
        i += 1;
      }
    }
    plain(text.slice(segStart));
    return ids;
  }

  /**
   * [CLS] a [SEP] (b [SEP]), longest_first truncation and padding to maxLength.
   * @returns {{input_ids: number[], attention_mask: number[], token_type_ids: number[]}}
   */
  encode(text, pair = null, maxLength = this.maxLength) {
    let a = this.textToIds(text);
    let b = pair === null || pair === undefined ? null : this.textToIds(pair);
    if (maxLength) {
      const budget = Math.max(0, maxLength - (b ? 3 : 2));
      [a, b] = truncateLongestFirst(a, b, budget);
    }
    const input_ids = [this.clsId, ...a, this.sepId];
    const token_type_ids = input_ids.map(() => 0);
    if (b) {
      input_ids.push(...b, this.sepId);
      token_type_ids.push(...b.map(() => 1), 1);
    }
    const attention_mask = input_ids.map(() => 1);
    while (maxLength && input_ids.length < maxLength) {
      input_ids.push(this.padId);
      attention_mask.push(0);
      token_type_ids.push(0);
    }
    return { input_ids, attention_mask, token_type_ids };
  }
}
