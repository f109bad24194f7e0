// Loads a served edgebert bundle (/bundle/...): metadata, tokenizer and the engine its
// target needs. Shared by the demo page and the benchmark page so both time the same code.
import { fitToContract } from "./sequence.js";
import { BertTokenizer } from "./tokenizer.js";

/**
 * WordPiece (BERT family): the hand-written module, which matches Python `tokenizers` where
 * @huggingface/tokenizers does not (see README). BPE / Unigram: tokenizer.json run by the library.
 */
async function loadTokenizer(base) {
  const settings = await (await fetchOk(`${base}edgebert_tokenizer.json`)).json();
  if (settings.type === "bert-wordpiece") return BertTokenizer.fromBundle(base);
  const { HFTokenizer } = await import("./hf_tokenizer.js");
  return HFTokenizer.fromBundle(base, settings);
}

const ENGINES = { onnx: "./engines/onnx.js", tflite: "./engines/litert.js" };

export function defaultThreads() {
  if (!globalThis.crossOriginIsolated) return 1; // no SharedArrayBuffer: WASM runs single-threaded
  return Math.max(1, Math.min(4, navigator.hardwareConcurrency || 1));
}

async function fetchOk(url) {
  const res = await fetch(url);
  if (!res.ok) throw new Error(`cannot load ${url}: HTTP ${res.status}`);
  return res;
}

export function softmax(logits) {
  const max = Math.max(...logits);
  const exps = Array.from(logits, (x) => Math.exp(x - max));
  const sum = exps.reduce((a, b) => a + b, 0);
  return exps.map((e) => e / sum);
}

export function percentile(values, q) {
  const s = [...values].sort((a, b) => a - b);
  if (!s.length) return NaN;
  const pos = (s.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return s[lo] + (s[hi] - s[lo]) * (pos - lo);
}

/**
 * @returns {Promise<{meta, tokenizer, model, loadMs, tokenize(text), infer(encoding): Promise<number[]>}>}
 */
export async function loadBundle(base = "/bundle/", { threads = defaultThreads() } = {}) {
  const meta = await (await fetchOk(`${base}metadata.json`)).json();
  const enginePath = ENGINES[meta.target];
  if (!enginePath) throw new Error(`a ${meta.target} bundle cannot run in a browser: export an onnx or tflite bundle`);
  const [tokenizer, bytes, engine] = await Promise.all([
    loadTokenizer(base),
    fetchOk(`${base}${meta.artifact.file}`).then((r) => r.arrayBuffer()).then((b) => new Uint8Array(b)),
    import(enginePath),
  ]);
  const t0 = performance.now();
  const model = await engine.load(meta, bytes, { threads });
  const loadMs = performance.now() - t0;
  const q = meta.output_quantization;
  const seqLen = meta.seq_len;
  return {
    meta,
    tokenizer,
    model,
    loadMs,
    /** As the gates fed it: padded to seqLen, then cut to the length metadata.json's contract says. */
    tokenize: (text) => fitToContract(tokenizer.encode(text, null, seqLen), meta.sequence),
    /** Logits as float numbers (int8 outputs dequantized with the bundle's scale/zero point). */
    async infer(encoding) {
      const raw = await model.run(encoding);
      return Array.from(raw, (v) => (q ? (Number(v) - q.zero_point) * q.scale : Number(v)));
    },
  };
}
