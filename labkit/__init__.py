"""labkit: a research workbench for memory in AI systems.

Science only: this package never imports panel, holoviews, bokeh or ipywidgets (see DESIGN.md).
"""

from labkit.record import read_records, record, session_records
from labkit.sweep import sweep

__version__ = "0.1.0"
__all__ = ["record", "read_records", "session_records", "sweep", "__version__"]
