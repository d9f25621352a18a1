"""The I/O runs with the GIL released: a thread waiting in Rust for a lock leaves the other
Python threads running."""

import os
import threading
import time

from dogpile.cache import make_region

URL = os.environ["DOGPILE_RS_TEST_REDIS_URL"]


def test_a_thread_waiting_for_a_lock_does_not_hold_the_gil():
    arguments = {"url": URL, "distributed_lock": True, "lock_sleep": 0.01, "lock_blocking_timeout": 10}
    backend = make_region().configure("dogpile_rs.redis_advanced", arguments=arguments).backend
    holder = backend.get_mutex("gil:lock")
    assert holder.acquire(False)
    waited = {}

    def wait_for_it():
        mutex = backend.get_mutex("gil:lock")
        waited["acquired"] = mutex.acquire(True)
        mutex.release()

    waiter = threading.Thread(target=wait_for_it)
    waiter.start()
    time.sleep(0.05)
    # The waiter is inside Rust; this thread keeps running Python meanwhile.
    spins, deadline = 0, time.monotonic() + 0.3
    while time.monotonic() < deadline:
        spins += 1
    assert waiter.is_alive(), "the waiter got a lock that is held"
    assert spins > 10_000, f"this thread barely ran while the other waited: {spins} spins"
    holder.release()
    waiter.join(timeout=10)
    assert waited.get("acquired") is True
