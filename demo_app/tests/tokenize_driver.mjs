// Parity driver for tests/demo_app/test_tokenizer_parity.py: reads a JSON job on stdin,
// runs one of the web tokenizers on it and prints the results as JSON.
//   job: {engine: "wordpiece"|"library", settings, vocab (wordpiece), tokenizer_json +
//         tokenizer_config (library), cases: [[text, pair|null], ...], normalize: [text, ...]}
//   out: {encodings: [{input_ids, attention_mask, token_type_ids}, ...],
//         normalized: [text, ...], pretokenized: [[word, ...], ...]}
import { HFTokenizer } from "../web/hf_tokenizer.js";
import { BertTokenizer } from "../web/tokenizer.js";

const chunks = [];
for await (const chunk of process.stdin) chunks.push(chunk);
const job = JSON.parse(Buffer.concat(chunks).toString("utf8"));
let tok;
let normalize;
let preTokenize;
if (job.engine === "library") {
  tok = new HFTokenizer(job.tokenizer_json, job.tokenizer_config, job.settings);
  const { normalizer, pre_tokenizer: pre } = tok.tokenizer;
  normalize = (t) => (normalizer ? normalizer(t) : t);
  preTokenize = (t) => (pre ? pre(t) : [t]);
} else {
  tok = new BertTokenizer(job.settings, job.vocab);
  normalize = (t) => tok.normalize(t);
  preTokenize = (t) => tok.preTokenize(t);
}
const normalized = (job.normalize ?? []).map(normalize);
const out = {
  encodings: (job.cases ?? []).map(([text, pair]) => tok.encode(text, pair)),
  normalized,
  pretokenized: normalized.map(preTokenize),
};
process.stdout.write(JSON.stringify(out));
