// LiteRT.js (@litertjs/core) on its WASM (XNNPACK) CPU path; threaded when the page is
// cross-origin isolated and the browser has relaxed SIMD.
const CORE = "/vendor/litertjs-core/index.js";
const WASM_DIR = "/vendor/litertjs-wasm/";

let runtime = null; // loadLiteRt may run once per page

async function loadRuntime(lite, wantThreads) {
  if (!runtime) {
    const threaded = wantThreads && globalThis.crossOriginIsolated &&
      (await lite.supportsFeature("relaxedSimd")) && (await lite.supportsFeature("threads"));
    runtime = lite.loadLiteRt(new URL(WASM_DIR, globalThis.location.href).href, { threads: threaded })
      .then(() => threaded);
  }
  return runtime;
}

/** @returns {Promise<{engine, backend, threads, run(feeds): Promise<ArrayLike<number>>}>} */
export async function load(meta, bytes, { threads = 1 } = {}) {
  const lite = await import(CORE);
  const threaded = await loadRuntime(lite, threads > 1);
  const model = await lite.loadAndCompile(bytes, {
    accelerator: "wasm",
    cpuOptions: { numThreads: threaded ? threads : 1 },
  });
  const inputs = model.getInputDetails();
  const output = model.getOutputDetails()[0].name;
  const types = { int32: Int32Array, float32: Float32Array, uint8: Uint8Array };
  return {
    engine: "litert",
    backend: "wasm",
    threads: model.options.cpuOptions?.numThreads ?? 1,
    async run(feeds) {
      const tensors = {};
      try {
        for (const d of inputs) {
          const values = feeds[d.name];
          if (!values) throw new Error(`tflite input ${d.name} is not one of the tokenizer outputs`);
          const Typed = types[d.dtype];
          if (!Typed) throw new Error(`tflite input ${d.name}: unsupported dtype ${d.dtype}`);
          tensors[d.name] = new lite.Tensor(Typed.from(values), [1, values.length]);
        }
        const outs = await model.run(tensors);
        try {
          return Float32Array.from(outs[output].toTypedArray());
        } finally {
          for (const t of Object.values(outs)) t.delete();
        }
      } finally {
        for (const t of Object.values(tensors)) t.delete();
      }
    },
  };
}
