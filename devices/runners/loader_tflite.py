"""Runs a .tflite artifact in LiteRT (ai-edge-litert) on the device.

Pushed to the device next to bench_script.py, which finds it by its name (loader_*.py);
stdlib + numpy + the runtime only, no edgebert import. ``load(path, threads, input_names,
version)`` returns (run(feeds) -> float32 logits, input dtypes by name, runtime description).
"""

SUFFIX = ".tflite"
RUNTIME = "ai_edge_litert.interpreter"
PIP = "ai-edge-litert"


def load(path: str, threads: int | None, input_names, version):
    import numpy as np
    from ai_edge_litert.interpreter import Interpreter

    interp = Interpreter(model_path=path, num_threads=threads or None)
    sigs = interp.get_signature_list()
    runner = interp.get_signature_runner("serving_default" if "serving_default" in sigs else next(iter(sigs)))
    dtypes = {n: np.dtype(d["dtype"]).name for n, d in runner.get_input_details().items()}
    outs = runner.get_output_details()
    out_name = "logits" if "logits" in outs else next(iter(outs))
    scale, zero = (outs[out_name].get("quantization") or (0.0, 0))[:2]

    def run(feeds):
        y = runner(**feeds)[out_name]
        if y.dtype in (np.int8, np.uint8) and scale:  # static-int8 models emit int8 logits
            y = (y.astype(np.float32) - zero) * scale
        return np.asarray(y, dtype=np.float32)

    return run, dtypes, f"ai-edge-litert {version(PIP) or ''} (Interpreter)".replace("  ", " ")
