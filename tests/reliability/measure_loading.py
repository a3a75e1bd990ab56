"""Run as a script in a fresh interpreter: open checkpoints and report what each one cost.

Reads ``{"warm_up": [path, ...], "cases": {name: path}}`` as JSON on stdin. The warm-up
folders are valid checkpoints, opened and traced first so that imports and one-time
initialisation are done. Then each case is opened in a child forked for it alone, and
the results are written as JSON on stdout: per case the outcome (the refusal's
sentence, or "loaded"), the seconds it took and how far the child's peak resident
memory rose above the resident memory it started with.

A forked child starts with its peak (``ru_maxrss``) equal to the memory it shares with
the parent at that moment, so the rise is what that one case cost at its worst,
unhidden by any earlier, higher peak of the parent.
"""

from __future__ import annotations

import json
import os
import resource
import sys
import time


def peak_rss_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux reports kilobytes


def open_one(location: str) -> dict:
    from model import CheckpointError, load_checkpoint

    start_peak = peak_rss_bytes()
    start = time.perf_counter()
    try:
        load_checkpoint(location)
        outcome = "loaded"
    except CheckpointError as error:
        outcome = str(error)
    except BaseException as error:  # reported, so the test names the case that escaped
        outcome = f"escaped {type(error).__name__}: {error}"
    return {
        "outcome": outcome,
        "seconds": time.perf_counter() - start,
        "start_bytes": start_peak,
        "peak_growth_bytes": peak_rss_bytes() - start_peak,
    }


def in_child(location: str) -> dict:
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: one case, its result down the pipe, and out without cleanup
        os.close(read_end)
        try:
            data = json.dumps(open_one(location)).encode()
        except BaseException as error:
            data = json.dumps({"outcome": f"child failed: {error!r}", "seconds": 0, "peak_growth_bytes": 0}).encode()
        with os.fdopen(write_end, "wb") as pipe:
            pipe.write(data)
        os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        data = pipe.read()
    _, status = os.waitpid(pid, 0)
    if not data:
        return {"outcome": f"child died (wait status {status})", "seconds": 0, "peak_growth_bytes": 0}
    return json.loads(data)


def main() -> int:
    request = json.load(sys.stdin)
    import torch

    from model import load_checkpoint

    torch.set_num_threads(1)  # no intra-op thread pool to be stranded by fork
    for folder in request["warm_up"]:
        load_checkpoint(folder).trace("sort: owl cat fig", target="owl")
    results = {name: in_child(location) for name, location in request["cases"].items()}
    json.dump({"cases": results}, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
