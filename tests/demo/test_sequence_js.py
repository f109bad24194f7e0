"""The web demo's sequence contract (demo_app/web/sequence.js) cuts inputs exactly as the gates did (exporters/sequence.py)."""

import json
import shutil
import subprocess

import numpy as np
import pytest

from edgebert.demo.server import demo_app_dir
from edgebert.exporters.sequence import SequenceShape, fit

CASES = [(SequenceShape.dynamic(16), 5, False), (SequenceShape.dynamic(16), 16, False),
         (SequenceShape.dynamic(16), 5, True), (SequenceShape.enumerated([4, 8], 16), 5, False),
         (SequenceShape.enumerated([4, 8], 16), 9, True), (SequenceShape.static(16), 5, False)]


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed (apt: nodejs)")
def test_js_fit_equals_python_fit():
    jobs, expected = [], []
    for shape, tokens, left in CASES:
        pad = [0] * (shape.max_len - tokens)
        real = list(range(100, 100 + tokens))
        ids, mask = (pad + real, pad + [1] * tokens) if left else (real + pad, [1] * tokens + pad)
        types = [i % 2 for i in ids]
        jobs.append({"sequence": shape.to_dict(), "enc": {"input_ids": ids, "attention_mask": mask, "token_type_ids": types}})
        expected.append([a.reshape(-1).tolist() for a in fit(tuple(np.asarray([x]) for x in (ids, mask, types)), shape)])
    script = ("import { fitToContract } from './web/sequence.js';"
              f"const jobs = {json.dumps(jobs)};"
              "console.log(JSON.stringify(jobs.map((j) => { const e = fitToContract(j.enc, j.sequence);"
              " return [e.input_ids, e.attention_mask, e.token_type_ids]; })));")
    proc = subprocess.run(["node", "--input-type=module", "-e", script], cwd=demo_app_dir(), capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == expected
