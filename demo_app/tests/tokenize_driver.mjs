// Parity driver for tests/demo_app/test_tokenizer_parity.py: reads a JSON job on stdin,
// runs web/tokenizer.js on it and prints the results as JSON.
//   job: {settings, vocab, cases: [[text, pair|null], ...], normalize: [text, ...]}
//   out: {encodings: [{input_ids, attention_mask, token_type_ids}, ...],
//         normalized: [text, ...], pretokenized: [[word, ...], ...]}
import { BertTokenizer } from "../web/tokenizer.js";

const chunks = [];
for await (const chunk of process.stdin) chunks.push(chunk);
const job = JSON.parse(Buffer.concat(chunks).toString("utf8"));
const tok = new BertTokenizer(job.settings, job.vocab);
const normalized = (job.normalize ?? []).map((t) => tok.normalize(t));
const out = {
  encodings: (job.cases ?? []).map(([text, pair]) => tok.encode(text, pair)),
  normalized,
  pretokenized: normalized.map((t) => tok.preTokenize(t)),
};
process.stdout.write(JSON.stringify(out));
