"""The kernel client every notebook run uses: jupyter_client's AsyncKernelClient whose channels wait
for a message in short slices, each ending in a fresh look at the socket.

Why: a zmq socket tells an event loop that messages arrived through an *edge-triggered* file
descriptor (ZMQ_FD, libzmq's zmq_getsockopt(3)); pyzmq's asyncio sockets wait on that descriptor
(zeromq/pyzmq#1021), and a wakeup consumed before the wait sees it is lost (pyzmq#1075, #2173). The
message then sits on the socket while `get_msg(timeout=T)` sleeps on until T, when pyzmq looks again
and finds it. nbclient waits for a cell's `execute_reply` with T = the cell timeout, so a lost wakeup
holds a cell that had finished for the whole timeout: 30 minutes by default (labkit.execute
DEFAULT_TIMEOUT), "never" without one. Seen as labkit's sweep hang on `00_welcome.ipynb`'s ipywidgets
cell and reported upstream as jupyter/nbclient#312. `benchmarks/kernel_wakeups.py` counts them: runs
of a notebook of ipywidgets cells, three at once, with jupyter_client's own client leave finished cells
waiting for their timeout; with this one none. A slice of POLL_SLICE seconds bounds the delay a lost
wakeup can cause to one slice.
"""

from __future__ import annotations

import time
from queue import Empty
from typing import Any

from jupyter_client.asynchronous import AsyncKernelClient
from jupyter_client.channels import AsyncZMQSocketChannel
from traitlets import Type

#: Longest wait on a socket before it is looked at again, in seconds: the most a lost wakeup can
#: delay a message. Each slice costs one poll of one socket.
POLL_SLICE = 0.25


class SlicedChannel(AsyncZMQSocketChannel):
    """An AsyncZMQSocketChannel whose `get_msg(timeout)` waits in slices of at most POLL_SLICE s
    until a message arrives (returned) or `timeout` has passed (queue.Empty, as before; None: no end)."""

    async def get_msg(self, timeout: float | None = None) -> dict[str, Any]:
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            wait = POLL_SLICE if deadline is None else min(POLL_SLICE, max(0.0, deadline - time.monotonic()))
            try:
                return await super().get_msg(timeout=wait)
            except Empty:
                if deadline is not None and time.monotonic() >= deadline:
                    raise


class SlicedKernelClient(AsyncKernelClient):
    """AsyncKernelClient with SlicedChannel for every zmq channel (shell, iopub, stdin, control)."""

    shell_channel_class = Type(SlicedChannel)
    iopub_channel_class = Type(SlicedChannel)
    stdin_channel_class = Type(SlicedChannel)
    control_channel_class = Type(SlicedChannel)


#: traitlets config that makes jupyter_client's AsyncKernelManager (nbclient's, so papermill's) hand
#: out SlicedKernelClient.
CONFIG = {"AsyncKernelManager": {"client_class": f"{__name__}.SlicedKernelClient"}}
