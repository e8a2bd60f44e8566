"""HNSW vector memory (Malkov & Yashunin, TPAMI 2018), following hnswlib 0.8.0 exactly.

So far: hnswlib's level generator (`levels.py`) and its index file format (`format.py`),
read and written byte for byte, with the graph exposed per layer as CSR.
"""

from labkit.hnsw.format import HNSWFile, read_index, write_index
from labkit.hnsw.index import HNSW
from labkit.hnsw.levels import LevelGenerator, default_mult

__all__ = ["HNSW", "HNSWFile", "read_index", "write_index", "LevelGenerator", "default_mult"]
