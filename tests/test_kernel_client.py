"""The sliced kernel client: a message whose wakeup was lost is still seen within a slice (the sweep
hang: a finished ipywidgets cell held for the whole cell timeout, jupyter/nbclient#312)."""

import asyncio
import json
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from queue import Empty

import nbformat
from jupyter_client.channels import AsyncZMQSocketChannel

from labkit.execute import run_notebook, run_notebook_subprocess
from labkit.kernel_client import POLL_SLICE, SlicedChannel

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
from kernel_wakeups import widget_notebook  # noqa: E402  (the notebook the benchmark measures)


class LostWakeup(AsyncZMQSocketChannel):
    """A channel whose socket holds a message it never signals (the lost wakeup): a wait of `timeout`
    seconds returns it only at its end, when pyzmq looks at the socket again; a wait without a
    timeout never returns. With `message=None` the socket stays empty."""

    message = {"msg_type": "execute_reply"}

    async def get_msg(self, timeout=None):
        if timeout is None:
            await asyncio.Event().wait()
        await asyncio.sleep(timeout)
        if self.message is None:
            raise Empty
        return self.message


class SlicedLostWakeup(SlicedChannel, LostWakeup):
    """SlicedChannel over LostWakeup (its super().get_msg); built without a socket."""


class EmptySocket(SlicedLostWakeup):
    message = None


def _get(channel_class, timeout):
    async def get():
        t0 = time.monotonic()
        try:
            return await asyncio.wait_for(channel_class.__new__(channel_class).get_msg(timeout=timeout), 20), \
                time.monotonic() - t0
        except Empty:
            return Empty, time.monotonic() - t0
    # a loop of its own in a thread of its own: an earlier test may leave this thread's loop running
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, get()).result(timeout=60)


def test_a_message_whose_wakeup_was_lost_arrives_within_a_slice():
    # unsliced, a wait without a timeout never returns (asyncio.wait_for would raise at 20 s); one with
    # the cell's timeout returns at that timeout
    for timeout in (None, 1800):
        msg, waited = _get(SlicedLostWakeup, timeout)
        assert msg == LostWakeup.message
        assert waited < POLL_SLICE + 5, f"timeout={timeout}: the message took {waited:.1f} s"


def test_an_empty_socket_still_times_out_at_the_timeout():
    msg, waited = _get(EmptySocket, 3 * POLL_SLICE + 0.1)
    assert msg is Empty
    assert 3 * POLL_SLICE + 0.1 <= waited < 3 * POLL_SLICE + 5
    msg, waited = _get(EmptySocket, 0)  # timeout 0: one look, no wait
    assert msg is Empty and waited < 5


def test_notebook_runs_use_the_sliced_client(tmp_path, monkeypatch):
    """A real run_notebook waits for every reply through SlicedChannel (fails if run_notebook stops
    handing kernel_client.CONFIG to papermill: jupyter_client's own channels would be used)."""
    waits = []
    original = SlicedChannel.get_msg

    async def counted(self, timeout=None):
        waits.append(type(self))
        return await original(self, timeout)

    monkeypatch.setattr(SlicedChannel, "get_msg", counted)
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("print('hello')")])
    nbformat.write(nb, tmp_path / "one.ipynb")
    r = run_notebook(tmp_path / "one.ipynb", tmp_path / "out.ipynb", timeout=60)
    assert r.ok, r.error
    assert waits and set(waits) == {SlicedChannel}  # the execute_reply and the cell's iopub messages


def test_no_widget_cell_waits_for_its_timeout(tmp_path):
    """Three runs at once (a sweep's load) of 60 ipywidgets cells. With jupyter_client's own client
    about one run in three has a cell that finishes in 0.05 s and is seen only at its timeout
    (measured: 9 of 25 runs; benchmarks/kernel_wakeups.py); with the sliced client none waits more
    than a slice or so."""
    widget_notebook(tmp_path / "widgets.ipynb", 60)
    timeout = 30
    with ThreadPoolExecutor(3) as pool:  # run_notebook_subprocess: one runner process each, as in a sweep
        runs = list(pool.map(lambda i: run_notebook_subprocess(tmp_path / "widgets.ipynb", tmp_path / f"out{i}.ipynb",
                                                               timeout=timeout), range(3)))
    for r in runs:
        assert r.ok, r.error
        cells = json.loads(Path(r.output).read_text())["cells"]
        waited = [(i, c["metadata"]["papermill"]["duration"]) for i, c in enumerate(cells)]
        assert all(d < timeout / 2 for _, d in waited), \
            f"{r.output}: cells seen only at their timeout ({timeout} s): {[w for w in waited if w[1] >= timeout / 2]}"
