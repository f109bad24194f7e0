// The browser benchmark device: load, first inference, warmup, then timed runs until both
// `runs` and `min_seconds` are reached (the harness's methodology), results POSTed back.
import { defaultThreads, loadBundle } from "./bundle.js";

const $ = (id) => document.getElementById(id);
const say = (text) => { $("progress").textContent = text; };
const nextFrame = () => new Promise((r) => setTimeout(r, 0)); // let the page repaint

async function post(body) {
  // The harness accepts results only with the per-run token its bench URL carries.
  const token = new URLSearchParams(location.search).get("token") ?? "";
  const res = await fetch("/api/results", {
    method: "POST", headers: { "Content-Type": "application/json", "X-Edgebert-Token": token },
    body: JSON.stringify(body),
  });
  if (res.status === 403) throw new Error("the harness refused the result: open the bench URL it printed (with ?token=)");
  if (!res.ok) throw new Error(`POST /api/results: HTTP ${res.status}`);
}

async function bench() {
  const config = await (await fetch("/api/config")).json();
  const cfg = config.bench;
  if (!cfg) throw new Error("the server is not in bench mode (/api/config has no bench settings)");
  const threads = cfg.threads ?? defaultThreads();
  const bundle = await loadBundle("/bundle/", { threads });
  const enc = bundle.tokenize(cfg.text);
  let t0 = performance.now();
  await bundle.infer(enc);
  const firstMs = performance.now() - t0;
  for (let i = 0; i < cfg.warmup; i++) {
    await bundle.infer(enc);
    if (i % 10 === 0) { say(`Warmup ${i + 1}/${cfg.warmup}`); await nextFrame(); }
  }
  const times = [];
  let logits = [];
  const start = performance.now();
  while (times.length < cfg.runs || performance.now() - start < cfg.min_seconds * 1000) {
    t0 = performance.now();
    logits = await bundle.infer(enc);
    times.push(performance.now() - t0);
    if (times.length % 10 === 0) { say(`Timed run ${times.length} (at least ${cfg.runs}, ${cfg.min_seconds} s)`); await nextFrame(); }
  }
  return {
    ok: true, engine: bundle.model.engine, backend: bundle.model.backend, threads: bundle.model.threads,
    user_agent: navigator.userAgent, cross_origin_isolated: self.crossOriginIsolated === true,
    load_ms: bundle.loadMs, first_ms: firstMs, times_ms: times, logits, input_ids: enc.input_ids,
    js_heap_bytes: performance.memory?.usedJSHeapSize ?? null,
  };
}

async function main() {
  let result;
  try {
    result = await bench();
  } catch (err) {
    console.error(err);
    result = { ok: false, error: String(err?.message ?? err), user_agent: navigator.userAgent,
               cross_origin_isolated: self.crossOriginIsolated === true };
  }
  try {
    await post(result);
  } catch (err) {
    result = { ok: false, error: String(err?.message ?? err) };
  }
  const done = result.ok;
  $("status").dataset.state = done ? "ready" : "error";
  $("status").textContent = done ? "Done" : "Failed";
  say(done ? `Done: ${result.times_ms.length} runs sent to the harness. You can close this tab.` : `Failed: ${result.error}`);
  document.body.dataset.state = done ? "done" : "error";
}

main();
