// The bundle's sequence-length contract (metadata.json "sequence"), as edgebert's gates
// applied it (exporters/sequence.py): a dynamic-length model runs the sentence's own tokens,
// an enumerated one the smallest length that holds them, a static one the padded maximum.
// Pure ES module: no DOM, so node can test it.

/** The length to feed an example of `tokens` real tokens. */
export function lengthFor(sequence, tokens) {
  if (!sequence || sequence.kind === "static") return sequence ? sequence.max_len : null;
  const n = Math.min(Math.max(tokens, sequence.min_len ?? 2), sequence.max_len);
  if (sequence.kind === "dynamic") return n;
  if (sequence.kind === "enumerated") return sequence.lengths.find((l) => l >= n) ?? sequence.max_len;
  throw new Error(`metadata.json: unknown sequence kind ${sequence.kind}; update the demo app`);
}

/** Cut a padded encoding to its feed length, keeping every real token (left or right padding). */
export function fitToContract(enc, sequence) {
  const mask = enc.attention_mask;
  const width = mask.length;
  const target = lengthFor(sequence, mask.reduce((a, b) => a + b, 0));
  if (target === null || target >= width) return enc;
  const leftPadded = mask[0] === 0 && mask[width - 1] === 1;
  const cut = (a) => (leftPadded ? a.slice(width - target) : a.slice(0, target));
  return Object.fromEntries(Object.entries(enc).map(([k, v]) => [k, Array.isArray(v) ? cut(v) : v]));
}
