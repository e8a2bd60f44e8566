"""PIM lab: LLM op graphs, a GPU roofline (LLM-Viewer-exact or physics), and a DRAM-PIM event model.

    models.py     load_model / list_models: decoder-only shapes from HF-style configs (data/models/*.json)
    hardware.py   load_hardware / list_hardware: GPU bandwidth and peaks, each number cited (data/hardware.json)
    opgraph.py    Op, build_graph: flops and weight / activation / KV bytes per op, prefill and decode
    roofline.py   roofline -> RooflineResult: per-op time, bound and totals; mode "llm-viewer" or "physics"

    >>> from labkit import pim
    >>> r = pim.roofline("llama-2-7b", "nvidia_H100", stage="decode", batch=1, seq_len=1024)
    >>> r.total_time, r.layers.head()
"""

from labkit.pim.hardware import Hardware, list_hardware, load_hardware
from labkit.pim.models import ModelConfig, list_models, load_model
from labkit.pim.opgraph import Op, build_graph
from labkit.pim.roofline import RooflineResult, roofline

__all__ = ["Hardware", "ModelConfig", "Op", "RooflineResult", "build_graph", "list_hardware", "list_models",
           "load_hardware", "load_model", "roofline"]

# --- DRAM-PIM event model (added by its own author; not part of the op-graph / roofline files) ---
from labkit.pim.simulate import System, Timeline, gemv_time, list_systems, load_system, map_gemv, simulate  # noqa: E402

__all__ += ["simulate", "Timeline", "System", "list_systems", "load_system", "gemv_time", "map_gemv"]
