"""The numba path of HNSW insertion: `construction.py` executed a second time with JIT = True,
so the compiled and the readable paths are one source (see construction.py)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

_NAME = "labkit.hnsw._construction_jit"
if _NAME in sys.modules:
    _mod = sys.modules[_NAME]
else:
    _spec = importlib.util.spec_from_file_location(_NAME, Path(__file__).with_name("construction.py"))
    _mod = importlib.util.module_from_spec(_spec)
    _mod.JIT = True
    sys.modules[_NAME] = _mod
    _spec.loader.exec_module(_mod)

insert_range = _mod.insert_range
