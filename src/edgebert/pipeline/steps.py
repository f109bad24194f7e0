"""Step records: a finished step is skipped while its inputs' content hash is unchanged.

Each step writes ``RUN/steps/<name>.json`` only after its outputs are in place (the
outputs themselves are written atomically by the compressor, exporters and bench), so a
run killed anywhere restarts at the first step without a matching record. Long steps
resume from their own checkpoints (compression keeps ``.work``).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..fsutil import atomic_write_json, sha256_text


def fingerprint(*parts: Any) -> str:
    """Content hash of a step's inputs, and of the edgebert that ran it: an upgraded edgebert
    exports and compresses differently, so its first run redoes the steps an older one wrote."""
    import edgebert

    return sha256_text(edgebert.__version__, *(json.dumps(p, sort_keys=True, default=str) for p in parts))


@dataclass
class StepLog:
    run_dir: Path

    def _file(self, name: str) -> Path:
        return self.run_dir / "steps" / f"{name}.json"

    def done(self, name: str, fp: str) -> dict | None:
        """The step's record when it finished with these inputs and its outputs still exist."""
        f = self._file(name)
        if not f.exists():
            return None
        try:
            rec = json.loads(f.read_text())
        except json.JSONDecodeError:
            return None
        if rec.get("fingerprint") != fp:
            return None
        if not all(Path(p).exists() for p in rec.get("paths", [])):
            return None
        return rec

    def finish(self, name: str, fp: str, outputs: dict, paths: list[Path], seconds: float) -> dict:
        rec = {"step": name, "fingerprint": fp, "outputs": outputs, "paths": [str(p) for p in paths],
               "seconds": round(seconds, 1), "finished": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        atomic_write_json(self._file(name), rec)
        return rec
