"""Output folders, atomic writes and content hashes.

One rule for everything edgebert writes: an output path is absent, empty, or was written by
edgebert (it carries :data:`MARKER`), and it is checked, writability included, before any
slow work starts. Outputs are built in a temporary sibling and renamed into place, so an
interrupted run never leaves a half-written checkpoint or report where a good one used to
be, and a user's own files are never replaced.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any, Iterator

from .errors import EdgebertError

MARKER = ".edgebert"  # present in every folder edgebert writes
# what edgebert wrote before the marker existed (format 1 outputs), so old runs still resume
_LEGACY = ("edgebert.json", "compress_report.json", ".work", "steps", "bench.json", "report.json")
_LEGACY_BUNDLE = "metadata.json"


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def written_by_edgebert(path: str | os.PathLike) -> bool:
    """``path`` is a folder edgebert wrote (it may replace or add to it)."""
    path = Path(path)
    if (path / MARKER).is_file() or any((path / name).exists() for name in _LEGACY):
        return True
    meta = path / _LEGACY_BUNDLE
    try:
        return meta.is_file() and json.loads(meta.read_text(encoding="utf-8")).get("format") == "edgebert-bundle"
    except (OSError, ValueError, AttributeError):
        return False


def _writable(path: Path, folder: Path, what: str) -> None:
    """Create and delete a file in ``folder``: permission bits do not tell root or a read-only mount."""
    try:
        with tempfile.TemporaryFile(dir=folder, prefix=".edgebert-probe-"):
            pass
    except OSError as exc:
        where = "" if folder == path else f": {folder} is not writable"
        raise EdgebertError(f"cannot write {what} {path}{where} ({exc.strerror or exc})",
                            f"choose a writable {what} path") from None


def check_output_dir(path: str | os.PathLike, what: str = "--out") -> Path:
    """Refuse, before any work, an output folder edgebert must not or cannot write."""
    path = Path(path).expanduser()
    if path.exists() and not path.is_dir():
        raise EdgebertError(f"{what} {path} is a file, not a folder",
                            "pass a new or empty folder; edgebert never replaces files it did not write")
    if path.is_dir() and any(path.iterdir()) and not written_by_edgebert(path):
        raise EdgebertError(f"{what} {path} already holds files that edgebert did not write",
                            "pass a new or empty folder")
    existing = path
    while not existing.exists():
        if existing.parent == existing:
            break
        existing = existing.parent
    if existing.exists() and not existing.is_dir():
        raise EdgebertError(f"{what} {path} lies under {existing}, which is a file", f"choose another {what} path")
    _writable(path, existing, what)
    return path


def output_dir(path: str | os.PathLike, what: str = "--out") -> Path:
    """Check, create and mark a folder that edgebert fills step by step (runs, bundle sets, bench reports)."""
    path = check_output_dir(path, what)
    created = [p for p in (path, *path.parents) if not p.exists()]  # every folder made here is edgebert's
    try:
        path.mkdir(parents=True, exist_ok=True)
        for folder in dict.fromkeys([path, *created]):
            if not (folder / MARKER).exists():
                atomic_write_text(folder / MARKER, "written by edgebert\n")
    except OSError as exc:
        raise EdgebertError(f"cannot create {what} {path}: {exc.strerror or exc}", f"choose a writable {what} path") \
            from None
    return path


def ensure_dir(path: str | os.PathLike) -> Path:
    """A scratch or cache folder edgebert owns outright (no ownership rule)."""
    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise EdgebertError(f"cannot create folder {path}: {exc.strerror}", "choose a writable path") from None
    return path


def check_output_file(path: str | os.PathLike, what: str, fmt: str) -> Path:
    """A report file: absent, or one edgebert wrote before (a JSON document of format ``fmt``)."""
    path = Path(path).expanduser()
    if path.is_dir():
        raise EdgebertError(f"{what} {path} is a folder", f"pass a file path for {what}")
    if path.exists():
        try:
            ours = json.loads(path.read_text(encoding="utf-8")).get("format") == fmt
        except (OSError, ValueError, AttributeError):
            ours = False
        if not ours:
            raise EdgebertError(f"{what} {path} exists and was not written by edgebert",
                                "pass a new file path; edgebert never replaces files it did not write")
    # one file written atomically beside others endangers none of them: only the folder must be writable
    existing = path.parent
    while not existing.exists() and existing.parent != existing:
        existing = existing.parent
    if not existing.is_dir():
        raise EdgebertError(f"{what} {path} lies under {existing}, which is a file", f"choose another {what} path")
    _writable(path, existing, what)
    return path


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: not ours to judge
        return True
    return True


def clean_stale(parent: str | os.PathLike, prefix: str) -> None:
    """Remove ``parent/{prefix}{pid}-*`` scratch left by processes that died (kill -9, power loss)."""
    parent = Path(parent)
    if not parent.is_dir():
        return
    for p in parent.glob(f"{glob_escape(prefix)}*"):
        pid = p.name[len(prefix):].split("-", 1)[0]
        if pid.isdigit() and int(pid) != os.getpid() and not _alive(int(pid)):
            if p.is_dir() and not p.is_symlink():
                shutil.rmtree(p, ignore_errors=True)
            else:
                with contextlib.suppress(OSError):
                    p.unlink()


def glob_escape(text: str) -> str:
    return "".join(f"[{c}]" if c in "*?[" else c for c in text)


@contextlib.contextmanager
def scratch_dir(parent: str | os.PathLike, prefix: str) -> Iterator[Path]:
    """A temporary folder in ``parent`` named after this process, removed on exit; a killed
    run's leftovers are removed the next time one is made there."""
    clean_stale(parent, prefix)
    tmp = Path(tempfile.mkdtemp(prefix=f"{prefix}{os.getpid()}-", dir=ensure_dir(parent)))
    try:
        yield tmp
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary folder that replaces ``path`` only if the block succeeds.

    ``path`` itself must pass :func:`check_output_dir`: a folder the user filled is never replaced."""
    path = check_output_dir(path, "output")
    ensure_dir(path.parent)
    clean_stale(path.parent, f".{path.name}.tmp-")
    clean_stale(path.parent, f".{path.name}.old-")
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.tmp-{os.getpid()}-", dir=path.parent))
    try:
        os.chmod(tmp, 0o777 & ~_umask())  # mkdtemp makes 0700; outputs get the user's usual mode
        (tmp / MARKER).write_text("written by edgebert\n")
        yield tmp
        if path.exists():
            old = path.with_name(f".{path.name}.old-{os.getpid()}-")
            os.replace(path, old)
            os.replace(tmp, path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, path)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    path = Path(path)
    ensure_dir(path.parent)
    clean_stale(path.parent, f".{path.name}.tmp-")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.tmp-{os.getpid()}-", dir=path.parent)
    try:
        os.fchmod(fd, 0o666 & ~_umask())  # mkstemp makes 0600
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    return path


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | os.PathLike, obj: Any) -> Path:
    return atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=False, default=str) + "\n")


def sha256_file(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(chunk), b""):
            h.update(block)
    return h.hexdigest()


def sha256_tree(path: str | os.PathLike) -> str:
    """One hash for a folder artifact (.mlpackage): every file's relative path and content."""
    root = Path(path)
    h = hashlib.sha256()
    for p in sorted(q for q in root.rglob("*") if q.is_file()):
        h.update(p.relative_to(root).as_posix().encode("utf-8") + b"\0" + sha256_file(p).encode() + b"\0")
    return h.hexdigest()


def sha256_artifact(path: str | os.PathLike) -> str:
    return sha256_tree(path) if Path(path).is_dir() else sha256_file(path)


def sha256_text(*parts: str) -> str:
    h = hashlib.sha256()
    for p in parts:
        h.update(p.encode("utf-8"))
        h.update(b"\0")
    return h.hexdigest()


def dir_size(path: str | os.PathLike) -> int:
    path = Path(path)
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def cache_dir() -> Path:
    """Where edgebert keeps things it builds once (e.g. the default teacher)."""
    root = os.environ.get("EDGEBERT_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "edgebert"
    )
    return Path(root)


def safe_name(name: str) -> str:
    """``name`` usable as one file name anywhere: each run of anything but ASCII letters, digits
    and ``-_.`` becomes one ``_`` (``ssh://pi@board:22`` -> ``ssh_pi_board_22``); no leading dot."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("_").lstrip(".") or "_"  # never "." or ".."
