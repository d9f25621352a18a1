"""A region configured and used before a fork works in the forked children, as under a
pre-fork server (gunicorn, uWSGI): each child gets its own runtime and connections."""

import os

from dogpile.cache import make_region

URL = os.environ["DOGPILE_RS_TEST_REDIS_URL"]


def test_a_forked_child_uses_the_region_of_its_parent():
    region = make_region().configure(
        "dogpile_rs.redis_advanced_hstore", arguments={"url": URL, "distributed_lock": True}
    )
    region.set("fork:parent", "from the parent")
    assert region.get("fork:parent") == "from the parent"
    children = []
    for n in range(2):
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                ok = region.get("fork:parent") == "from the parent"
                region.set(("fork:children", str(n)), n)
                assert region.get_or_create(f"fork:made:{n}", lambda: n) == n
                ok = ok and region.get(("fork:children", str(n))) == n
                code = 0 if ok else 2
            finally:
                os._exit(code)
        children.append(pid)
    for pid in children:
        _, status = os.waitpid(pid, 0)
        assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0, f"child {pid}: status {status}"
    assert region.get_multi([("fork:children", "0"), ("fork:children", "1")]) == [0, 1]
    assert region.get("fork:parent") == "from the parent"
