"""Runs a .onnx artifact in onnxruntime on the device.

Pushed to the device next to bench_script.py, which finds it by its name (loader_*.py);
stdlib + numpy + the runtime only, no edgebert import. ``load(path, threads, input_names,
version)`` returns (run(feeds) -> float32 logits, input dtypes by name, runtime description).
"""

SUFFIX = ".onnx"
RUNTIME = "onnxruntime"  # the module the device must import (bench_script.py --probe checks it)
PIP = "onnxruntime"


def load(path: str, threads: int | None, input_names, version):
    import numpy as np
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    if threads:
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
    sess = ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])
    kinds = {"tensor(int64)": "int64", "tensor(int32)": "int32", "tensor(float)": "float32"}
    dtypes = {i.name: kinds.get(i.type, "int64") for i in sess.get_inputs()}
    out_name = sess.get_outputs()[0].name

    def run(feeds):
        return np.asarray(sess.run([out_name], feeds)[0], dtype=np.float32)

    return run, dtypes, f"onnxruntime {ort.__version__} (CPUExecutionProvider)"
