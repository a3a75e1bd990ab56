"""The performance suite: how fast the explorer answers a keystroke, and what it costs.

``python -m benchmarks`` measures, in one run on one machine, everything the
performance issue lists: keystroke-to-paint latency and the longest GUI-thread stall in
the real main window (offscreen Qt), the forward with a full trace against
``transformers``' eager forward, the trace's own overhead, peak memory of long inputs,
cold start and figure export. It prints a table, writes JSON and, with ``--write``,
``benchmarks/RESULTS.md``.

Each window, memory and cold-start measurement runs in a fresh child process, so one
row's memory or a crash cannot colour another; the children are the ``*_child``
modules. Timings are medians and percentiles of interleaved runs, reported with the
load average, because the machines this runs on are often shared.
"""
