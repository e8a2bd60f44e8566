"""API cases for labkit.atomic and labkit.npzfile, the file helpers every saver and loader uses
(see tests/api_cases/__init__.py)."""

import atexit
import shutil
import tempfile
from pathlib import Path

import numpy as np

from api_cases import Case

MODULES = ["labkit.atomic", "labkit.npzfile"]

_DIR = Path(tempfile.mkdtemp(prefix="labkit-api-files-"))
atexit.register(shutil.rmtree, _DIR, ignore_errors=True)

GOOD = _DIR / "good.npz"
np.savez(GOOD, x=np.arange(4.0), name=np.array("abc"))
(_DIR / "truncated.npz").write_bytes(GOOD.read_bytes()[:100])
np.savez(_DIR / "objects.npz", x=np.array([None, 1], dtype=object))
(_DIR / "text.npz").write_text("not a zip archive")

CASES = [
    Case("labkit.atomic", "atomic_write", dict(path=str(_DIR / "out.bin"), mode="wb"),
         bad={"path": [str(_DIR), str(_DIR / "missing" / "out.bin")]},
         ok={"path": {"unknown value": "any file name in an existing directory is a path to write"}}),
    Case("labkit.atomic", "clean_orphans", dict(path=str(_DIR / "out.bin")), bad={"path": [str(_DIR)]},
         ok={"path": {"unknown value": "any file name in an existing directory has orphans to look for"}}),
    Case("labkit.npzfile", "read_npz", dict(path=str(GOOD), max_bytes=1 << 20, what="a valid .npz file"),
         bad={"path": [str(_DIR / "truncated.npz"), str(_DIR / "objects.npz"), str(_DIR / "text.npz"), str(_DIR)],
              "max_bytes": [0, -1, 10]},
         ok={"path": {"unknown value": "a missing file raises FileNotFoundError, as open() does"},
             "what": {"unknown value": "any text describes the file in messages"}}),
]
