// The demo page: tokenizes typed text in the browser, runs the bundle's model, shows the
// label, per-class probabilities and the p50 latency of repeated runs on this device.
import { loadBundle, percentile, softmax } from "./bundle.js";

const REPEATS = 15; // timed runs after each prediction for the p50
const $ = (id) => document.getElementById(id);

function setStatus(state, text) {
  const el = $("status");
  el.dataset.state = state;
  el.textContent = text;
}

function formatBytes(n) {
  if (n >= 1 << 20) return `${(n / (1 << 20)).toFixed(1)} MB`;
  if (n >= 1 << 10) return `${(n / (1 << 10)).toFixed(0)} KB`;
  return `${n} B`;
}

function fmtNum(x) {
  const v = Number(x);
  return v !== 0 && Math.abs(v) < 0.01 ? v.toExponential(1).replace("-", "\u2011") : v.toFixed(3); // no line break inside
}

function gateText(gate, fmt) {
  if (!gate) return "not run";
  return `${gate.passed ? "✓ passed" : "✗ failed"}${fmt ? ` · ${fmt(gate)}` : ""}`;
}

function showFacts(meta) {
  const g = meta.gates || {};
  const rows = [
    ["Target", meta.target],
    ["Precision", meta.precision],
    ["Model size", formatBytes(meta.artifact.bytes)],
    ["Sequence length", meta.sequence?.kind === "dynamic" ? `the sentence's own, up to ${meta.seq_len} tokens`
      : meta.sequence?.kind === "enumerated" ? `${meta.sequence.lengths.join(" / ")} tokens` : `${meta.seq_len} tokens`],
    ["Parity gate", gateText(g.parity, (p) => `max |Δlogit| ${fmtNum(p.max_abs_diff)}`)],
    ["Accuracy gate", gateText(g.accuracy, (a) =>
      `${(100 * a.artifact_accuracy).toFixed(1)}% vs ${(100 * a.pytorch_accuracy).toFixed(1)}% PyTorch`)],
  ];
  const dl = $("model-facts");
  dl.replaceChildren(...rows.flatMap(([k, v]) => {
    const dt = document.createElement("dt");
    dt.textContent = k;
    const dd = document.createElement("dd");
    dd.textContent = v;
    return [dt, dd];
  }));
}

function buildBars(labels) {
  $("probs").replaceChildren(...labels.map((label) => {
    const row = document.createElement("div");
    row.className = "prob";
    row.dataset.label = label;
    row.dataset.value = "0";
    row.innerHTML = '<span class="name"></span><span class="bar"><span class="fill"></span></span><span class="pct">–</span>';
    row.querySelector(".name").textContent = label;
    return row;
  }));
}

function showPrediction(result) {
  $("label").textContent = result.label;
  for (const row of document.querySelectorAll(".prob")) {
    const p = result.probabilities[row.dataset.label];
    row.dataset.value = String(p);
    row.classList.toggle("top", row.dataset.label === result.label);
    row.querySelector(".fill").style.width = `${(100 * p).toFixed(1)}%`;
    row.querySelector(".pct").textContent = `${(100 * p).toFixed(1)}%`;
  }
}

function showLatency(times, firstMs) {
  const p50 = percentile(times, 0.5);
  $("latency").dataset.p50Ms = String(p50);
  $("latency").dataset.runs = String(times.length);
  $("p50").textContent = p50 < 10 ? p50.toFixed(2) : p50.toFixed(1);
  $("latency-detail").textContent = `${times.length} runs · p90 ${percentile(times, 0.9).toFixed(1)} · this one ${firstMs.toFixed(1)}`;
}

async function main() {
  const bundle = await loadBundle();
  const { meta, model } = bundle;
  const labels = meta.labels;
  let chain = Promise.resolve(); // one inference at a time: runs are queued, never overlapped

  const predictNow = async (text) => {
    const enc = bundle.tokenize(text);
    const t0 = performance.now();
    const logits = await bundle.infer(enc);
    const ms = performance.now() - t0;
    const probs = softmax(logits);
    const best = probs.indexOf(Math.max(...probs));
    return {
      label: labels[best],
      probabilities: Object.fromEntries(labels.map((l, i) => [l, probs[i]])),
      logits,
      input_ids: enc.input_ids,
      ms,
    };
  };
  const serial = (fn) => {
    const next = chain.then(fn, fn);
    chain = next.catch(() => {});
    return next;
  };

  window.edgebert.predict = (text) => serial(() => predictNow(String(text)));
  window.edgebert.tokenize = async (text) => bundle.tokenize(String(text));

  let latest = 0;
  const runUi = () => {
    const id = ++latest;
    const text = $("text").value;
    return serial(async () => {
      if (id !== latest) return; // a newer request superseded this one
      const result = await predictNow(text);
      showPrediction(result);
      const enc = bundle.tokenize(text);
      const times = [];
      for (let i = 0; i < REPEATS && id === latest; i++) {
        const t0 = performance.now();
        await bundle.infer(enc);
        times.push(performance.now() - t0);
      }
      if (times.length === REPEATS) showLatency(times, result.ms);
    }).catch((err) => setStatus("error", `Inference failed: ${err.message}`));
  };

  buildBars(labels);
  showFacts(meta);
  const isolated = globalThis.crossOriginIsolated === true;
  $("engine").textContent = `${model.engine} · ${model.backend} · ${model.threads} thread${model.threads === 1 ? "" : "s"} · ` +
    `${isolated ? "cross-origin isolated" : "not isolated (single thread)"} · load ${bundle.loadMs.toFixed(0)} ms`;
  setStatus("ready", "Ready");
  $("run").disabled = false;
  $("run").addEventListener("click", runUi);
  $("text").addEventListener("keydown", (e) => {
    if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
      e.preventDefault();
      runUi();
    }
  });
  let timer;
  $("text").addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(runUi, 350);
  });
  runUi();
  return { engine: model.engine, backend: model.backend, threads: model.threads, crossOriginIsolated: isolated,
           target: meta.target, precision: meta.precision };
}

const notReady = () => Promise.reject(new Error("the model is still loading: await window.edgebert.ready"));
window.edgebert = { predict: notReady, tokenize: notReady };
window.edgebert.ready = main().catch((err) => {
  console.error(err);
  setStatus("error", `Could not load the model: ${err.message}`);
  throw err;
});
window.edgebert.ready.catch(() => {}); // shown in #status; callers awaiting `ready` still see the rejection

// The first visit's model and runtime fetches happen before the service worker controls the
// page, so once loaded, put every same-origin file this page used into the worker's cache:
// the next visit works offline.
async function cacheWhatThisPageUsed() {
  const used = performance.getEntriesByType("resource").map((e) => new URL(e.name))
    .filter((u) => u.origin === location.origin && !u.pathname.startsWith("/api/")).map((u) => u.pathname);
  const cache = await caches.open("edgebert-demo-v1");
  await cache.addAll([...new Set(["/", ...used])]);
}

if ("serviceWorker" in navigator) {
  navigator.serviceWorker.register("/sw.js")
    .then(() => window.edgebert.ready)
    .then(() => cacheWhatThisPageUsed())
    .then(() => { document.documentElement.dataset.offline = "ready"; })
    .catch((err) => console.warn("offline cache unavailable:", err));
}
