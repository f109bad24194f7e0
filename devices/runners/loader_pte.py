"""Runs a .pte artifact in the ExecuTorch Python runtime on the device.

Pushed to the device next to bench_script.py, which finds it by its name (loader_*.py);
stdlib + numpy + the runtime only, no edgebert import. ``load(path, threads, input_names,
version)`` returns (run(feeds) -> float32 logits, input dtypes by name, runtime description).
"""

SUFFIX = ".pte"
RUNTIME = "executorch.runtime"
PIP = "executorch"
ET_DTYPES = {3: "int32", 4: "int64", 6: "float32"}  # ExecuTorch ScalarType codes


def load(path: str, threads: int | None, input_names, version):
    import torch
    from executorch.extension.pybindings import portable_lib

    try:  # int8/4-bit word tables run on the quantized kernels, which this import registers
        import executorch.kernels.quantized  # noqa: F401
    except ImportError:
        pass
    from executorch.runtime import Runtime

    if threads:
        portable_lib._unsafe_reset_threadpool(threads)
    method = Runtime.get().load_program(path).load_method("forward")
    meta = method.metadata
    names = list(input_names)[:meta.num_inputs()]
    dtypes = {n: ET_DTYPES.get(int(meta.input_tensor_meta(i).dtype()), "int64") for i, n in enumerate(names)}

    def run(feeds):
        out = method.execute([torch.from_numpy(feeds[n]) for n in names])
        return out[0].detach().float().numpy()

    return run, dtypes, f"executorch {version(PIP) or ''} (Python runtime)".replace("  ", " ")
