"""Machinery shared by the views of every mechanism (nothing here knows a labkit type).

    Memo(size)                 a small cache of plain data: .get_or(key, make), .of(owner, key, make)
    readout(view, text, **kw)  the Markdown pane of a view's live text; refresh_readout(view, text) updates it
    Renderings(keep=8)         the latest renderings (pane, figure, sources) of a view, updated in place
    source(columns)            an empty Bokeh ColumnDataSource with these columns
    legend_right(figure)       the house legend: 8pt labels, outside the plot on the right
    legend_drawn_only(figure)  hide the legend items of renderers with nothing drawn (a label without a symbol)
    drawn_legend               the same as a HoloViews hook: .opts(hooks=[drawn_legend])
    framewise(dmap)            a DynamicMap whose axes follow every frame, overlays included
    fixed_scale(*axes)         a HoloViews hook (or call on a figure) stating that these axes keep a fixed scale
    ratio_text(ref, x, more, less)   "1.30× more energy" / "1.30× less energy": a ratio worded by its direction
    push(pane)                 send a rendering's in-place Bokeh changes to a notebook
    redraw_time(view, p, vs)   median seconds a served page spends redrawing after `view.p = v`
    LongTask(label, plan, ...) long work started from a button: steps off the event loop, a progress bar, elapsed
                               time and time left, Cancel between steps, errors shown (Step: one step of a plan)

Views drawn with Bokeh directly (the PIM timeline, roofline and energy) build their figure once per
rendering and afterwards only assign new column data to its sources and new ranges / titles to the
figure: a HoloViews element rebuilt per update cost 30-35 ms on a 2-core machine, this a few ms.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import math
import statistics
import threading
import time
from typing import Any, Callable, NamedTuple

import panel as pn
from bokeh.core.validation import silence
from bokeh.core.validation.warnings import FIXED_SIZING_MODE
from bokeh.models import ColumnDataSource

__all__ = ["FIXED_SCALE", "framewise", "legend_drawn_only", "drawn_legend", "fixed_scale", "ratio_text", "Memo",
           "readout", "refresh_readout", "Rendering", "Renderings", "source", "legend_right", "push", "redraw_time",
           "Step", "LongTask", "seconds_text", "time_left"]


# Bokeh's W-1005 (FIXED_SIZING_MODE: "'fixed' sizing mode requires width and height to be set") fires for
# every HoloViews figure sized by its frame (frame_width / frame_height: its outer width and height are
# left None on purpose and follow from the frame and its axes) and for the Column Panel wraps around one
# (sized by that content): 34 lines in the server log per visit of the pages, none a real problem.
# Silenced for that one check only (widgets imports this module first); tests/test_ui_fit.py fails on
# any other validation warning of a served page.
silence(FIXED_SIZING_MODE, True)


class Memo(dict):
    """A dict that computes each value once: `get_or(key, make)` returns make() cached under `key`;
    `of(owner, key, make)` caches under (id(owner), key) and holds `owner`, so a recycled id (a new
    object at a freed address) never matches. Emptied before it grows past `size` entries (None: never,
    the owner clears it)."""

    def __init__(self, size: int | None = 64):
        super().__init__()
        self.size = size

    def _room(self) -> None:
        if self.size is not None and len(self) > self.size:
            self.clear()

    def get_or(self, key, make: Callable[[], Any]):
        if key not in self:
            self._room()
            self[key] = make()
        return self[key]

    def of(self, owner, key, make: Callable[[], Any]):
        hit = self.get((id(owner), key))
        if hit is None or hit[0] is not owner:
            self._room()
            hit = self[(id(owner), key)] = (owner, make())
        return hit[1]


def readout(view, text: Callable[[], str], **pane) -> pn.pane.Markdown:
    """A Markdown pane showing text(), kept as `view._text` (the latest rendering's) for refresh_readout."""
    view._text = pn.pane.Markdown(text(), **pane)
    return view._text


def refresh_readout(view, text: Callable[[], str]) -> None:
    """Show text() in the view's readout pane, once it has one (a view not drawn yet has none)."""
    if hasattr(view, "_text"):
        view._text.object = text()


class Rendering(NamedTuple):
    """One rendering of a view: the Panel pane, its Bokeh figure and the figure's source(s)."""

    pane: Any
    figure: Any
    sources: Any


class Renderings:
    """The latest `keep` renderings of one view (a notebook cell shown again, a page reloaded): each
    setting change updates every one of them in place; older ones are let go."""

    def __init__(self, keep: int = 8):
        self.keep = keep
        self._items: list[Rendering] = []

    def add(self, figure, sources) -> Rendering:
        """A new rendering of `figure` (in a stretching Bokeh pane), kept up to date from now on."""
        r = Rendering(pn.pane.Bokeh(figure, sizing_mode="stretch_width"), figure, sources)
        self._items = [*self._items, r][-self.keep:]
        return r

    def __iter__(self):
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)


def source(columns) -> ColumnDataSource:
    """An empty ColumnDataSource with `columns`; views assign `.data` in place afterwards."""
    return ColumnDataSource({c: [] for c in columns})


def legend_right(fig) -> None:
    """Small legend labels, packed, outside the plot area on the right (so it never hides data)."""
    fig.legend.label_text_font_size, fig.legend.padding, fig.legend.spacing = "8pt", 2, 0
    fig.add_layout(fig.legend[0], "right")


FIXED_SCALE = "labkit:fixed-scale"  # in a Bokeh plot's tags: its axes keep a fixed scale on purpose


def legend_drawn_only(fig) -> None:
    """Hide each legend item whose renderers have nothing drawn now (an empty layer would show its label
    without its symbol); show it again once they have. Call after every data update."""
    for legend in fig.legend:
        for item in legend.items:
            item.visible = any(r.visible and r.data_source is not None and
                               max((len(v) for v in r.data_source.data.values()), default=0) > 0
                               for r in item.renderers)


def drawn_legend(plot, element) -> None:
    """HoloViews hook (`.opts(hooks=[drawn_legend])` on the overlay): legend_drawn_only on every frame."""
    legend_drawn_only(plot.state)


_ELEMENTS = ("Area", "Bars", "Curve", "ErrorBars", "HeatMap", "Histogram", "HLine", "Image", "Labels", "Points",
             "QuadMesh", "Rectangles", "RGB", "Scatter", "Segments", "Spikes", "Spread", "VLine")


def framewise(dmap, **opts):
    """`dmap` (an hv.DynamicMap) with its axes following each frame, and `opts` on it. HoloViews reads
    framewise from each element: set on an overlay it is ignored and the axes keep the first frame's
    range (the Willshaw sums ran off their 0..4 frame at 100)."""
    import holoviews.plotting.bokeh  # noqa: F401  (registers the backend the element names resolve against)
    # the {element: options} form needs no hv.extension() call, which a page served without one lacks
    return dmap.opts({k: dict(framewise=True) for k in _ELEMENTS}).opts(**opts)


def fixed_scale(*axes: str):
    """A HoloViews hook stating that `axes` ("x", "y"; none: both) keep a fixed scale on purpose (a
    gallery whose panels share one time axis, a probability axis from 0 to 1). `fixed_scale("y")(fig)`
    tags a Bokeh figure directly."""
    tags = [f"{FIXED_SCALE}:{a}" for a in axes] or [FIXED_SCALE]

    def hook(plot, element=None):
        fig = plot.state if hasattr(plot, "state") else plot
        fig.tags = [*fig.tags, *(t for t in tags if t not in fig.tags)]
    return hook


def ratio_text(ref: float, x: float, more: str, less: str) -> str:
    """How `x` compares with `ref`, worded by direction: "1.30× more" / "1.30× less" (never "0.77×
    less"); "about the same" within 0.5%. `more` / `less`: the words for x > ref and x < ref (e.g.
    "slower", "faster" for times)."""
    if ref <= 0 or x <= 0:
        return "—"
    r = x / ref
    if abs(r - 1) < 0.005:
        return "about the same"
    return f"**{r:,.2f}×** {more}" if r > 1 else f"**{1 / r:,.2f}×** {less}"


def push(pane) -> None:
    """Send in-place Bokeh changes of `pane` to a notebook (a served page gets them by itself)."""
    pn.io.push_notebook(pane)


def redraw_time(view, param_name: str, values, root=None) -> float:
    """Median seconds to set `view.param_name` to each of `values` in turn, the in-place update of the
    Bokeh models included (what a served page does before it sends the patch to the browser).
    `view`: a PimExplorer (or any Panel component with that parameter). Builds the Bokeh model first
    unless `root` (from pn.panel(view).get_root()) is given."""
    if param_name not in view.param:
        raise ValueError(f"param: {type(view).__name__} has no parameter {param_name!r}")
    if root is None:
        pn.panel(view).get_root()
    times = []
    for v in values:
        t = time.perf_counter()
        setattr(view, param_name, v)
        times.append(time.perf_counter() - t)
    return statistics.median(times)


# -- long work started from a button ------------------------------------------------------------------
class Step(NamedTuple):
    """One step of a LongTask's plan: `label` (shown while it runs) and `run()`, called in a worker thread."""

    label: str
    run: Callable[[], Any]


def seconds_text(s: float) -> str:
    """A duration as a person reads it: '0.4 s', '12 s', '2 min 05 s'."""
    if not math.isfinite(s):
        return "?"
    s, r = max(0.0, s), int(round(max(0.0, s)))
    return f"{s:.1f} s" if s < 10 else f"{s:.0f} s" if s < 120 else f"{r // 60} min {r % 60:02d} s"


def time_left(step_times, n: int, in_step: float, prior_total: float | None, elapsed: float) -> float | None:
    """Seconds left of an n-step run: once steps have finished, the mean of their `step_times` times the
    steps not finished, less the `in_step` seconds the current one has run (never below 0); before, the
    a-priori `prior_total` less `elapsed` (None when no estimate was given)."""
    done = len(step_times)
    if done:
        return max(0.0, statistics.fmean(step_times) * (n - done) - in_step)
    return None if prior_total is None else max(0.0, prior_total - elapsed)


class LongTask:
    """Long work started from a button, the one way every view runs it: steps in a worker thread, off
    the event loop (the page stays live); between steps the loop moves a progress bar, shows the step,
    the time elapsed and left (the a-priori `estimate` until a step has finished, then the mean measured
    step time × the steps left) and hands each result to on_step, so partial results appear as they come.
    Cancel stops between steps (a threading.Event checked before each): what was done stays shown, the
    status says "cancelled after k of n". The button is disabled while it runs; an error is shown and
    raised again (the server log has the traceback); a step without a result within `step_timeout_s`
    ends the run ("gave up"): nothing waits for ever.

        task = LongTask("measure", plan, on_step=show, estimate=lambda: 100.0, idle=lambda: "press *measure*")
        pn.Column(task.panel(width=300), plots)

    plan() -> [Step(label, run)], called on the loop at the press (draw the run's random numbers there,
    so a run gives what the blocking method gives); each run() in the task's own worker thread, one at a
    time. on_start(), on_step(step, result), on_done(state: "done", "cancelled", "failed" or "gave up")
    are called on the loop (views are updated there, never from the worker). estimate() -> a-priori
    seconds (None: none); idle() -> the status before a run (what to press). Blocking use: run_now().
    """

    def __init__(self, label: str, plan: Callable[[], list], *, on_step: Callable | None = None,
                 on_start: Callable | None = None, on_done: Callable | None = None,
                 estimate: Callable[[], float | None] | None = None, idle: Callable[[], str] | None = None,
                 step_timeout_s: float = 600.0, tick_s: float = 1.0, width: int = 300,
                 clock: Callable[[], float] = time.monotonic):
        self.plan, self.on_step, self.on_start, self.on_done = plan, on_step, on_start, on_done
        self.estimate, self.idle, self.clock = estimate, idle, clock
        self.step_timeout_s, self.tick_s = float(step_timeout_s), float(tick_s)
        self.button = pn.widgets.Button(label=label, color="primary", width=max(120, width - 90))
        self.cancel_button = pn.widgets.Button(label="Cancel", color="default", width=80, disabled=True)
        self.progress = pn.indicators.Progress(value=0, max=1, width=width, visible=False)
        self.status = pn.pane.Markdown(self.idle_text(), width=width)
        self.button.on_click(self._start)
        self.cancel_button.on_click(lambda _event: self.cancel())
        self.running, self.state, self.error = False, None, None
        self.step_times: list[float] = []
        self._cancel = threading.Event()
        self._executor: concurrent.futures.ThreadPoolExecutor | None = None

    # -- texts ------------------------------------------------------------------------------------
    def idle_text(self) -> str:
        """The status before a run: idle() and the a-priori estimate."""
        text = self.idle() if self.idle else ""
        est = self.estimate() if self.estimate else None
        if est is not None and "about" not in text:
            text += f"{' ' if text else ''}(about {seconds_text(est)})"
        return text

    def refresh(self) -> None:
        """Show idle_text() again (after a setting that changes the estimate), unless a run is shown."""
        if not self.running and self.state is None:
            self.status.object = self.idle_text()

    def running_text(self, k: int, n: int, label: str, t0: float, step_t0: float, prior: float | None) -> str:
        now = self.clock()
        left = time_left(self.step_times, n, now - step_t0, prior, now - t0)
        if left is None:
            when = ""
        elif self.step_times:
            when = f"; about {seconds_text(left)} left"
        else:
            when = f"; about {seconds_text(left)} left (estimated before the first step: {seconds_text(prior)} in all)"
        return f"**step {k + 1} of {n}**: {label} — {seconds_text(now - t0)} elapsed{when}"

    # -- running ----------------------------------------------------------------------------------
    def cancel(self) -> None:
        """Stop before the next step (the step running now finishes; its result is kept)."""
        if self.running:
            self._cancel.set()
            self.status.object += "  \n*cancelling after this step…*"

    def _worker(self) -> concurrent.futures.ThreadPoolExecutor:
        if self._executor is None:
            self._executor = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="labkit-longtask")
        return self._executor

    def run_now(self) -> list:
        """Run the whole plan here and now (blocking, no thread, no cancel): on_start, on_step after each
        step, on_done("done"), as the button does. Returns the steps' results."""
        steps = list(self.plan())
        if self.on_start:
            self.on_start()
        results = []
        for s in steps:
            results.append(s.run())
            if self.on_step:
                self.on_step(s, results[-1])
        if self.on_done:
            self.on_done("done")
        return results

    def _set_running(self, on: bool) -> None:
        self.running = on
        self.button.disabled, self.cancel_button.disabled = on, not on

    async def _start(self, _event=None) -> None:
        if self.running:
            return
        self._cancel.clear()
        self.step_times, self.state, self.error = [], None, None
        self._set_running(True)
        t0 = self.clock()
        k = n = 0
        steps: list = []
        try:
            steps = list(self.plan())
            n = len(steps)
            prior = self.estimate() if self.estimate else None
            self.progress.max, self.progress.value, self.progress.visible = max(n, 1), 0, True
            if self.on_start:
                self.on_start()
            loop = asyncio.get_running_loop()
            for k, s in enumerate(steps):
                if self._cancel.is_set():
                    self.state = "cancelled"
                    break
                step_t0 = self.clock()
                self.status.object = self.running_text(k, n, s.label, t0, step_t0, prior)
                future = asyncio.ensure_future(loop.run_in_executor(self._worker(), s.run))
                while True:  # the status ticks while the step runs; bounded by step_timeout_s
                    done, _ = await asyncio.wait({future}, timeout=self.tick_s)
                    if done:
                        break
                    if self.clock() - step_t0 > self.step_timeout_s:
                        future.cancel()  # the thread cannot be stopped: its result, if any, is dropped
                        self.state = "gave up"
                        break
                    self.status.object = self.running_text(k, n, s.label, t0, step_t0, prior)
                if self.state == "gave up":
                    break
                result = future.result()  # raises the step's error here, on the loop
                self.step_times.append(self.clock() - step_t0)
                self.progress.value = k + 1
                if self.on_step:
                    self.on_step(s, result)
            else:
                k, self.state = n, "done"
        except Exception as e:  # shown, and raised again: not swallowed
            self.state, self.error = "failed", e
            raise
        finally:
            if self._executor is not None and self.state != "gave up":  # no idle thread left (a straggler:
                self._executor.shutdown(wait=False)                       # kept, the next run queues after it)
                self._executor = None
            self._set_running(False)
            self.status.object = self.final_text(k, n, t0, steps[k].label if 0 <= k < n else "")
            if self.on_done:
                self.on_done(self.state)

    def final_text(self, k: int, n: int, t0: float, label: str) -> str:
        took = seconds_text(self.clock() - t0)
        if self.state == "done":
            return f"done: {n} of {n} steps in {took}"
        kept = (f"; the result{'s' if k > 1 else ''} of the {k} finished step{'s' if k > 1 else ''} "
                f"stay{'' if k > 1 else 's'} shown") if k else ""
        if self.state == "cancelled":
            return f"**cancelled after {k} of {n}** steps ({took}){kept}"
        if self.state == "gave up":
            return (f"**gave up at step {k + 1} of {n}** ({label}): no result within "
                    f"{seconds_text(self.step_timeout_s)}{kept}")
        e = self.error
        return f"**failed at step {k + 1} of {n}** ({label}) after {took}: {type(e).__name__}: {e}{kept}"

    def panel(self, width: int = 300) -> pn.Column:
        """The start and Cancel buttons, the progress bar and the status line, in a column `width` wide."""
        return pn.Column(pn.Row(self.button, self.cancel_button), self.progress, self.status, width=width)
