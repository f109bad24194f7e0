// The bundle's tokenizer.json run by @huggingface/tokenizers (WordPiece, byte-level BPE,
// Unigram), plus what the library leaves out and the export pipeline does: longest_first
// truncation to max_seq_len and padding, as edgebert_tokenizer.json says. Pure ES module:
// node resolves the bare import from demo_app/node_modules, the pages through their import map.
//
// Five library steps differ from the Rust `tokenizers` the model was trained and gated with,
// and are corrected here (tests/demo_app/test_tokenizer_parity.py finds any that are not):
// JS `\s` is not Unicode White_Space (it has U+FEFF, lacks U+0085), `toLowerCase()` on a whole
// string applies the final-sigma rule (Rust lowercases per character), the Metaspace
// pre-tokenizer does not split at the replacement character, RobertaProcessing gives the second
// text type id 1 (Rust: 0), and Unigram's lattice breaks near-ties after adding the next piece's
// score (Rust's encode_optimized compares path scores per end position: "aaa" -> "aa"+"a").
import {
  ByteLevelPreTokenizer, LowercaseNormalizer, MetaspacePreTokenizer, SequenceNormalizer, SequencePreTokenizer,
  Tokenizer, Unigram, WhitespaceSplitPreTokenizer,
} from "@huggingface/tokenizers";
import { truncateLongestFirst } from "./tokenizer.js";

const WS = "\\t-\\r \\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000"; // White_Space
const WS_RUN = new RegExp(`[${WS}]+`, "u");
// GPT-2's split pattern (the ByteLevel pre-tokenizer's) with Rust's \s
const GPT2 = new RegExp(`'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^${WS}\\p{L}\\p{N}]+|[${WS}]+(?![^${WS}])|[${WS}]+`, "gu");

/** Make the library's normalizer / pre-tokenizer objects behave like Rust's (config: their JSON). */
function rustCompatible(node, config) {
  if (!node || !config) return;
  if (node instanceof SequenceNormalizer) node.normalizers.forEach((n, i) => rustCompatible(n, config.normalizers[i]));
  if (node instanceof SequencePreTokenizer) node.tokenizers.forEach((n, i) => rustCompatible(n, config.pretokenizers[i]));
  if (node instanceof LowercaseNormalizer) node.normalize = (text) => Array.from(text, (c) => c.toLowerCase()).join("");
  if (node instanceof WhitespaceSplitPreTokenizer) node.pre_tokenize_text = (text) => text.split(WS_RUN).filter(Boolean);
  if (node instanceof ByteLevelPreTokenizer) node.pattern = GPT2;
  if (node instanceof MetaspacePreTokenizer && config.split !== false) {
    const whole = node.pre_tokenize_text.bind(node);
    const before = new RegExp(`(?=${node.replacement.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")})`, "u");
    // Rust splits there (MergedWithNext: each replacement starts a piece)
    node.pre_tokenize_text = (text, options) => whole(text, options).flatMap((t) => t.split(before)).filter(Boolean);
  }
}

/** Rust's Unigram::encode_optimized: best path per end position, ties keep the earlier start. */
function rustUnigram(model, config) {
  const scores = config.vocab.map(([, score]) => score);
  const unkId = config.unk_id;
  const unkScore = scores.reduce((a, b) => Math.min(a, b), Infinity) - 10; // no spread: vocabularies of 250k
  model.tokenize = (normalized) => {
    const chars = Array.from(normalized);
    const best = chars.map(() => ({ score: 0, start: -1, id: -1 }));
    best.push({ score: 0, start: -1, id: -1 });
    const relax = (end, start, id, score) => {
      const target = best[end];
      const candidate = score + best[start].score;
      if (target.start === -1 || candidate > target.score) Object.assign(target, { score: candidate, start, id });
    };
    for (let start = 0; start < chars.length; start++) {
      let single = false;
      for (const piece of model.trie.common_prefix_search(chars, start)) {
        const n = Array.from(piece).length;
        const id = model.tokens_to_ids.get(piece);
        relax(start + n, start, id, scores[id]);
        single ||= n === 1;
      }
      if (!single) relax(start + 1, start, unkId, unkScore);
    }
    const out = [];
    let unk = [];
    for (let end = chars.length; end > 0; end = best[end].start) {
      const { start, id } = best[end];
      const piece = chars.slice(start, end).join("");
      if (id === unkId && unkId !== undefined) {
        unk.unshift(piece); // fuse_unk: consecutive unknown characters are one piece
      } else {
        if (unk.length) out.push(unk.join(""));
        unk = [];
        out.push(piece);
      }
    }
    if (unk.length) out.push(unk.join(""));
    return out.reverse();
  };
}

export class HFTokenizer {
  /**
   * @param {object} tokenizerJson the bundle's tokenizer.json
   * @param {object} tokenizerConfig the bundle's tokenizer_config.json ({} when it has none)
   * @param {object} settings the bundle's edgebert_tokenizer.json (max_seq_len, pad_id, padding_side)
   */
  constructor(tokenizerJson, tokenizerConfig, settings) {
    this.settings = settings;
    this.tokenizer = new Tokenizer(tokenizerJson, tokenizerConfig ?? {});
    rustCompatible(this.tokenizer.normalizer, tokenizerJson.normalizer);
    rustCompatible(this.tokenizer.pre_tokenizer, tokenizerJson.pre_tokenizer);
    if (this.tokenizer.model instanceof Unigram) {
      if (tokenizerJson.model.byte_fallback) throw new Error("tokenizer: Unigram with byte_fallback is not supported");
      rustUnigram(this.tokenizer.model, tokenizerJson.model);
    }
    // RobertaProcessing: Rust gives every token type id 0, the second text's too
    this.zeroTypeIds = tokenizerJson.post_processor?.type === "RobertaProcessing";
    this.maxLength = settings.max_seq_len;
    this.padId = settings.pad_id;
    this.paddingSide = settings.padding_side ?? "right";
    if (settings.truncation_side && settings.truncation_side !== "right") {
      throw new Error(`tokenizer: truncation_side ${settings.truncation_side} is not supported`);
    }
    if (!this.tokenizer.post_processor) throw new Error("tokenizer: tokenizer.json has no post_processor");
  }

  /** Load from a bundle folder URL (e.g. "/bundle/"). */
  static async fromBundle(base, settings, fetchFn = fetch) {
    const get = async (name, optional = false) => {
      const res = await fetchFn(new URL(name, new URL(base, globalThis.location?.href)));
      if (res.status === 404 && optional) return {};
      if (!res.ok) throw new Error(`cannot load ${name}: HTTP ${res.status}`);
      return res.json();
    };
    const [json, config] = await Promise.all([get("tokenizer.json"), get("tokenizer_config.json", true)]);
    return new HFTokenizer(json, config, settings);
  }

  /** Ids of one text without special tokens (null stays null: no second text). */
  textToIds(text) {
    return text === null || text === undefined ? null : this.tokenizer.encode(text, { add_special_tokens: false }).ids;
  }

  /** The post-processor's template around already-truncated ids; specials come back as strings. */
  addSpecials(a, b) {
    const { tokens, token_type_ids } = this.tokenizer.post_processor(a, b, true);
    const input_ids = tokens.map((t) => {
      if (typeof t === "number") return t;
      const id = this.tokenizer.token_to_id(t);
      if (id === undefined) throw new Error(`tokenizer: special token ${t} is not in the vocabulary`);
      return id;
    });
    return { input_ids, token_type_ids: (!this.zeroTypeIds && token_type_ids) || input_ids.map(() => 0) };
  }

  /**
   * The template's specials around a (and b: "" is an empty second text, null none), longest_first
   * truncation and padding to maxLength.
   * @returns {{input_ids: number[], attention_mask: number[], token_type_ids: number[]}}
   */
  encode(text, pair = null, maxLength = this.maxLength) {
    let a = this.textToIds(text);
    let b = this.textToIds(pair);
    if (maxLength) {
      const added = this.addSpecials([], b ? [] : null).input_ids.length;
      const budget = Math.max(0, maxLength - added);
      [a, b] = truncateLongestFirst(a, b, budget);
    }
    const { input_ids, token_type_ids } = this.addSpecials(a, b);
    const attention_mask = input_ids.map(() => 1);
    const pad = Math.max(0, (maxLength || 0) - input_ids.length);
    if (pad) {
      if (this.padId === undefined || this.padId === null) throw new Error("tokenizer: no pad_id to pad with");
      const fill = (arr, v) => (this.paddingSide === "left" ? [...Array(pad).fill(v), ...arr] : [...arr, ...Array(pad).fill(v)]);
      return { input_ids: fill(input_ids, this.padId), attention_mask: fill(attention_mask, 0),
               token_type_ids: fill(token_type_ids, 0) };
    }
    return { input_ids, attention_mask, token_type_ids };
  }
}
