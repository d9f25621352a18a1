"""Starts a private redis-server on a free port for the run (never the machine's shared one)
and gives its URL to the suites through ``DOGPILE_RS_TEST_REDIS_URL``, one database per
xdist worker.

The binary is ``DOGPILE_REDIS_SERVER_BIN`` or ``redis-server`` on the PATH; without one the
run fails with how to install it.
"""

import os
import shutil
import socket
import subprocess
import tempfile
import time

import pytest

_server = None


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start_redis():
    binary = os.environ.get("DOGPILE_REDIS_SERVER_BIN") or shutil.which("redis-server")
    if not binary:
        raise pytest.UsageError(
            "these tests need redis-server: install it with `apt-get install redis-server` "
            "(Debian/Ubuntu) or name a binary in DOGPILE_REDIS_SERVER_BIN"
        )
    port = _free_port()
    folder = tempfile.mkdtemp(prefix="dogpile-rs-pytest-")
    process = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", folder],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2) as s:
                s.sendall(b"PING\r\n")
                if s.recv(16).startswith(b"+PONG"):
                    return process, port
        except OSError:
            time.sleep(0.02)
    process.kill()
    raise pytest.UsageError(f"redis-server did not start on port {port}")


def pytest_configure(config):
    global _server
    # One server for the run, started by the first process (the controller under xdist);
    # each xdist worker takes a database of its own, as the suites share key names.
    address = os.environ.get("DOGPILE_RS_TEST_REDIS")
    if address is None:
        _server, port = _start_redis()
        address = f"127.0.0.1:{port}"
        os.environ["DOGPILE_RS_TEST_REDIS"] = address
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    db = int(worker[2:]) + 1 if worker else 0
    os.environ["DOGPILE_RS_TEST_REDIS_URL"] = f"redis://{address}/{db}"


def pytest_unconfigure(config):
    if _server is not None:
        _server.kill()
        _server.wait()
