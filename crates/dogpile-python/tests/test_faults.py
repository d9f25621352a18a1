"""Bad input and faults on the dogpile_rs backends: each has a clear Python exception with the
key and the cause, never a crash, and a password never shows."""

import os
import socket
from urllib.parse import urlsplit

import pytest
from dogpile.cache import make_region
from dogpile.cache.api import NO_VALUE

import dogpile_rs
from dogpile_rs import BackendError

URL = os.environ["DOGPILE_RS_TEST_REDIS_URL"]


def raw(*command):
    """One command on the test server's database; its reply as RESP bytes (integer, status,
    error or bulk replies: enough for these checks)."""
    parts = urlsplit(URL)
    with socket.create_connection((parts.hostname, parts.port)) as s:
        db = parts.path.lstrip("/") or "0"
        payload = b""
        for args in (("SELECT", db), command):
            payload += b"*%d\r\n" % len(args)
            for arg in args:
                arg = arg if isinstance(arg, bytes) else str(arg).encode()
                payload += b"$%d\r\n%s\r\n" % (len(arg), arg)
        s.sendall(payload)
        data = b""
        while not _complete(data):
            chunk = s.recv(65536)
            if not chunk:
                raise ConnectionError("the server closed the connection")
            data += chunk
        return data[len(b"+OK\r\n") :]


def _complete(data):
    """Whether `data` holds SELECT's +OK and one whole integer, status, error or bulk reply."""
    if not data.startswith(b"+OK\r\n"):
        return False
    reply = data[len(b"+OK\r\n") :]
    if reply[:1] == b"$" and b"\r\n" in reply:
        length = int(reply[1 : reply.index(b"\r\n")])
        return length < 0 or len(reply) >= reply.index(b"\r\n") + 2 + length + 2
    return reply.endswith(b"\r\n")


def region(backend="dogpile_rs.redis_advanced_hstore", **arguments):
    return make_region().configure(backend, arguments=dict({"url": URL}, **arguments))


def test_unknown_backend_and_bad_arguments_are_value_errors():
    with pytest.raises(ValueError, match="unknown backend"):
        dogpile_rs._dogpile_rs.Backend("dogpile_rs.nope", {})
    with pytest.raises(ValueError, match="redis_expiration_time"):
        region(redis_expiration_time="soon")


def test_keys_of_the_wrong_shape_are_type_errors():
    with pytest.raises(TypeError, match="a str or a \\(hash, field\\) tuple"):
        region().backend.get_serialized(42)
    with pytest.raises(TypeError, match="cannot store the key"):
        region("dogpile_rs.redis_advanced").backend.get_serialized(("users", "42"))


def test_a_value_of_another_type_at_the_key_names_the_key():
    raw("DEL", "faults:list")
    raw("RPUSH", "faults:list", "x")
    with pytest.raises(BackendError, match="faults:list.*WrongType"):
        region().get("faults:list")


def test_an_unreachable_server_is_a_backend_error_without_the_password():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    down = make_region().configure(
        "dogpile_rs.redis_advanced", arguments={"url": f"redis://:hunter2@127.0.0.1:{port}/0"}
    )
    with pytest.raises(BackendError) as caught:
        down.get("k")
    assert "hunter2" not in str(caught.value)
    assert "Connection" in str(caught.value)


def test_bytes_round_trip_whatever_they_hold():
    backend = region().backend
    for value in (b"", b"\x00\xff|{}", bytes(range(256)) * 40):
        backend.set_serialized("faults:bytes", value)
        assert backend.get_serialized("faults:bytes") == value
        backend.set_serialized_multi({("faults:h", "f"): value, "faults:plain": value})
        assert backend.get_serialized_multi([("faults:h", "f"), "faults:plain", "faults:none"]) == [
            value,
            value,
            NO_VALUE,
        ]


def test_a_lock_lost_while_held_raises_on_release_under_the_error_policy():
    backend = region(distributed_lock=True, lock_lost="error").backend
    mutex = backend.get_mutex("faults:lock")
    assert mutex.acquire(False)
    assert mutex.owned()
    raw("DEL", "_lockfaults:lock")
    assert not mutex.owned()
    with pytest.raises(BackendError, match="faults:lock"):
        mutex.release()
