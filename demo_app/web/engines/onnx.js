// onnxruntime-web, WASM execution provider (threaded when the page is cross-origin isolated).
const VENDOR = "/vendor/onnxruntime-web/";

const ARRAYS = { int64: (v) => BigInt64Array.from(v, (x) => BigInt(x)), int32: Int32Array.from.bind(Int32Array) };

/** @returns {Promise<{engine, backend, threads, run(feeds): Promise<ArrayLike<number>>}>} */
export async function load(meta, bytes, { threads = 1 } = {}) {
  const ort = await import(`${VENDOR}ort.wasm.min.mjs`);
  ort.env.wasm.wasmPaths = new URL(VENDOR, globalThis.location.href).href;
  ort.env.wasm.numThreads = threads;
  ort.env.logLevel = "error";
  const session = await ort.InferenceSession.create(bytes, {
    executionProviders: ["wasm"],
    graphOptimizationLevel: "all",
  });
  const specs = meta.inputs.filter((s) => session.inputNames.includes(s.name));
  const output = session.outputNames[0];
  return {
    engine: "onnxruntime-web",
    backend: "wasm",
    threads: ort.env.wasm.numThreads,
    async run(feeds) {
      const tensors = {};
      for (const spec of specs) {
        const make = ARRAYS[spec.dtype];
        if (!make) throw new Error(`onnx input ${spec.name}: unsupported dtype ${spec.dtype}`);
        const values = feeds[spec.name];
        tensors[spec.name] = new ort.Tensor(spec.dtype, make(values), [1, values.length]);
      }
      const out = await session.run(tensors);
      const data = out[output].data;
      for (const t of Object.values(tensors)) t.dispose?.();
      out[output].dispose?.();
      return data;
    },
  };
}
