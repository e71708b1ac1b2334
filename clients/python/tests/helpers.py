"""Small helpers shared by the tests."""

import time


def wait_until(predicate, timeout=15.0, what="condition"):
    """Polls predicate() until it returns a truthy value; fails after timeout.

    For states another process reaches on its own clock (the daemon's lease
    reaper, the client's heartbeat thread), never as a fixed sleep.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.05)
