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


def _free_port(bus=False):
    """A free port; with `bus`, one whose cluster bus port (10000 above) is free too."""
    while True:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if not bus:
            return port
        if port + 10000 <= 65535:
            with socket.socket() as s:
                try:
                    s.bind(("127.0.0.1", port + 10000))
                    return port
                except OSError:
                    pass


def _binary(name, env, package):
    binary = os.environ.get(env) or shutil.which(name)
    if not binary:
        raise pytest.UsageError(
            f"these tests need {name}: install it with `apt-get install {package}` (Debian/Ubuntu)"
            f" or name a binary in {env}"
        )
    return binary


def _ask(port, *command):
    """One command to the server at `port`; its reply as RESP bytes, or None if unreachable."""
    payload = b"*%d\r\n" % len(command)
    for arg in command:
        arg = str(arg).encode()
        payload += b"$%d\r\n%s\r\n" % (len(arg), arg)
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as s:
            s.sendall(payload)
            return s.recv(65536)
    except OSError:
        return None


def _until(what, check, seconds=20):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.05)
    raise pytest.UsageError(f"{what} did not come up within {seconds} s")


def _spawn(*args):
    """A redis-server with `args`, on a free port, in a folder of its own."""
    port = _free_port(bus="--cluster-enabled" in args)
    folder = tempfile.mkdtemp(prefix="dogpile-rs-pytest-")
    binary = _binary("redis-server", "DOGPILE_REDIS_SERVER_BIN", "redis-server")
    command = [binary, *args, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    process = subprocess.Popen(command + ["--dir", folder], stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    try:
        _until(f"redis-server on port {port}", lambda: (_ask(port, "PING") or b"").startswith(b"+PONG"))
    except BaseException:
        process.kill()
        raise
    return process, port, folder


def _start_redis():
    process, port, _ = _spawn()
    return process, port


def _stop(processes):
    for process in processes:
        process.kill()
        process.wait()


@pytest.fixture(scope="module")
def private_redis_url():
    """A server of one test module's own, whose counters (commands, clients) no other test
    moves; yields its URL."""
    process, port, _ = _spawn()
    try:
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        _stop([process])


@pytest.fixture(scope="session")
def redis_cluster():
    """Three primaries of a private Redis Cluster; yields their "127.0.0.1:port" addresses."""
    servers = [_spawn("--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf") for _ in range(3)]
    processes = [process for process, _, _ in servers]
    try:
        nodes = [f"127.0.0.1:{port}" for _, port, _ in servers]
        cli = _binary("redis-cli", "DOGPILE_REDIS_CLI_BIN", "redis-tools")
        subprocess.run(
            [cli, "--cluster", "create", *nodes, "--cluster-replicas", "0", "--cluster-yes"],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        for _, port, _ in servers:
            _until("the cluster", lambda port=port: b"cluster_state:ok" in (_ask(port, "CLUSTER", "INFO") or b""))
        yield nodes
    finally:
        _stop(processes)


@pytest.fixture(scope="session")
def redis_sentinel():
    """A primary watched by one sentinel as "mymaster"; yields the sentinel's "127.0.0.1:port"."""
    primary, primary_port, _ = _spawn()
    port = _free_port()
    folder = tempfile.mkdtemp(prefix="dogpile-rs-pytest-sentinel-")
    config = os.path.join(folder, "sentinel.conf")
    with open(config, "w") as f:
        f.write(f"port {port}\nbind 127.0.0.1\ndir {folder}\n")
        f.write(f"sentinel monitor mymaster 127.0.0.1 {primary_port} 1\n")
    binary = _binary("redis-server", "DOGPILE_REDIS_SERVER_BIN", "redis-server")
    sentinel = subprocess.Popen([binary, config, "--sentinel"], stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    try:
        _until(
            "the sentinel",
            lambda: str(primary_port).encode()
            in (_ask(port, "SENTINEL", "get-master-addr-by-name", "mymaster") or b""),
        )
        yield f"127.0.0.1:{port}"
    finally:
        _stop([sentinel, primary])


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
