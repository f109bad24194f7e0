"""Keep what the export libraries print off the terminal, and keep it for when they fail.

litert-torch, ExecuTorch, TensorFlow Lite and torchao write progress and log lines the user
cannot act on straight to file descriptors 1 and 2, much of it from C++, where neither
``sys.stdout`` nor logging or warnings filters reach. :func:`quiet` points both descriptors
at a temporary file for the length of one library call, while edgebert's own console
(``edgebert.progress.console``: spinners, bars) keeps writing to the real terminal. What was
captured is kept: a failing call's last lines are what explain it. ``--verbose``
(``EDGEBERT_VERBOSE=1``) lets everything through live.
"""

from __future__ import annotations

import contextlib
import importlib.abc
import io
import os
import sys
import tempfile
import threading
from dataclasses import dataclass
from typing import Iterator

VERBOSE_ENV = "EDGEBERT_VERBOSE"
# top-level packages whose import prints (TensorFlow's oneDNN notice from litert-torch, absl)
NOISY_PACKAGES = ("litert_torch", "ai_edge_litert", "torchao", "executorch", "coremltools", "onnxscript")

_depth = 0  # nested quiet() calls share the outermost one's terminal


def verbose() -> bool:
    return os.environ.get(VERBOSE_ENV, "").strip().lower() not in ("", "0", "false", "no", "off")


@dataclass
class Captured:
    """What a library printed during one :func:`quiet` block (filled when the block ends)."""

    text: str = ""

    def tail(self, lines: int = 6, chars: int = 600) -> str:
        """The last non-blank lines on one line (an error message stays one line)."""
        kept = [line.strip() for line in self.text.splitlines() if line.strip()][-lines:]
        joined = " | ".join(kept)
        return joined if len(joined) <= chars else "..." + joined[-chars:]


def _flush_all() -> None:
    """Python's and C's stdio buffers, so nothing written inside lands outside (or back)."""
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    with contextlib.suppress(Exception):
        import ctypes

        ctypes.CDLL(None).fflush(None)


def _fd_of(stream) -> int | None:
    try:
        return stream.fileno()
    except Exception:  # StringIO, click's test runner, pytest's sys capture
        return None


@contextlib.contextmanager
def _console_kept(saved: dict[int, int]) -> Iterator[None]:
    """edgebert's console keeps its destination while fds 1 and 2 and sys.std* are captured."""
    from .progress import console

    target = console.file
    fd = _fd_of(target)
    stream = None
    if fd in saved:  # the terminal behind fd 2 lives on in its saved duplicate
        encoding = getattr(target, "encoding", None) or "utf-8"
        target = stream = open(os.dup(saved[fd]), "w", encoding=encoding, errors="replace")
    previous = console._file  # None: follow sys.stderr, as before
    with console._lock:  # a live spinner's refresh thread writes under this lock
        console.file = target
    try:
        yield
    finally:
        with console._lock:
            target.flush()
            console.file = previous
        if stream is not None:
            stream.close()


@contextlib.contextmanager
def _python_streams(into: io.StringIO) -> Iterator[None]:
    """sys.stdout/stderr that do not write to fds 1/2 (click's test runner) are swapped too.

    Streams on fds 1/2 stay: a logging handler made during an import keeps the real one."""
    with contextlib.ExitStack() as stack:
        if _fd_of(sys.stdout) not in (1, 2):
            stack.enter_context(contextlib.redirect_stdout(into))
        if _fd_of(sys.stderr) not in (1, 2):
            stack.enter_context(contextlib.redirect_stderr(into))
        yield


@contextlib.contextmanager
def quiet(what: str) -> Iterator[Captured]:
    """Capture fds 1 and 2 during ``what``.

    On failure the exception gets the captured text as a note (shown with a traceback);
    callers that turn it into a one-line error use ``Captured.tail``."""
    global _depth
    cap = Captured()
    # fds are process-wide: two threads swapping them could leave fd 1 on a deleted file
    if verbose() or threading.current_thread() is not threading.main_thread():
        yield cap
        return
    _flush_all()
    try:
        saved = {1: os.dup(1), 2: os.dup(2)}
    except OSError:  # no stdout/stderr descriptors (e.g. a GUI launcher): nothing to flood
        yield cap
        return
    sink = tempfile.TemporaryFile()
    python_text = io.StringIO()
    failure: BaseException | None = None
    try:
        with _console_kept(saved) if _depth == 0 else contextlib.nullcontext():
            os.dup2(sink.fileno(), 1)
            os.dup2(sink.fileno(), 2)
            _depth += 1
            try:
                with _python_streams(python_text):
                    yield cap
            except BaseException as exc:
                failure = exc
                raise
            finally:
                _depth -= 1
                _flush_all()
                os.dup2(saved[1], 1)
                os.dup2(saved[2], 2)
    finally:
        for fd in saved.values():
            os.close(fd)
        sink.seek(0)
        cap.text = sink.read().decode("utf-8", errors="replace") + python_text.getvalue()
        sink.close()
        if failure is not None and cap.text.strip() and hasattr(failure, "add_note"):
            failure.add_note(f"{what} printed before failing:\n{cap.text[-4000:]}")


class _QuietImports(importlib.abc.MetaPathFinder):
    """Runs the first import of a noisy package inside :func:`quiet`, wherever it happens."""

    def __init__(self, packages: tuple[str, ...]):
        self.packages = frozenset(packages)

    def find_spec(self, name, path=None, target=None):
        if name not in self.packages:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(name, path, target)
            if spec is not None:
                break
        else:
            return None
        loader = spec.loader
        if loader is None or not hasattr(loader, "exec_module"):
            return spec
        exec_module = loader.exec_module

        def quiet_exec(module):
            with quiet(f"importing {name}"):
                exec_module(module)

        loader.exec_module = quiet_exec  # this loader instance serves only this module
        return spec


def quiet_imports(packages: tuple[str, ...] = NOISY_PACKAGES) -> None:
    """Install the import hook once (idempotent; a no-op import cost at CLI start)."""
    if not any(isinstance(f, _QuietImports) for f in sys.meta_path):
        sys.meta_path.insert(0, _QuietImports(packages))


def quiet_libraries(show_all: bool = False) -> None:
    """The export stacks print lines a user cannot act on; silence them at the source where a
    library offers a switch (set before it is imported), and capture the rest (``edgebert.quiet``)."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    if show_all or verbose():
        os.environ[VERBOSE_ENV] = "1"  # read by edgebert.quiet wherever a library is called
        return
    for name, value in (
        ("TRANSFORMERS_VERBOSITY", "error"),
        ("HF_HUB_DISABLE_PROGRESS_BARS", "1"),  # transformers' "Writing model shards" bar
        ("TQDM_DISABLE", "1"),  # tqdm bars of coremltools and others (read when tqdm is imported)
        ("LITERT_TORCH_SHOW_PROGRESS", "n"),  # litert-torch's "(00:03) [START] LiteRT-Torch Convert" lines
        ("TF_CPP_MIN_LOG_LEVEL", "2"),  # TensorFlow Lite converter INFO/WARNING lines
        ("GLOG_minloglevel", "2"),
    ):
        os.environ.setdefault(name, value)
    import logging
    import warnings

    warnings.filterwarnings("ignore", category=DeprecationWarning)
    warnings.filterwarnings("ignore", category=FutureWarning)
    warnings.filterwarnings("ignore", category=RuntimeWarning, module="coremltools")
    for name in ("torchao", "torch.utils._pytree", "coremltools", "executorch", "torch.onnx", "onnxscript",
                 "onnxruntime", "root"):
        logging.getLogger(name).setLevel(logging.ERROR)
    quiet_imports()
