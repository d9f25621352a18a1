"""The wheel promises CPython 3.9 and later (abi3-py39; ``requires-python = ">=3.9"``), while
the tests run on the machine's newer CPython. Two checks keep the promise honest here: the
extension is built for the stable ABI, and the package's Python source uses nothing newer than
3.9 (checked by vermin, which reads the source's syntax and standard-library use)."""

import pathlib
import subprocess
import sys

from dogpile_rs import _dogpile_rs

VERMIN = pathlib.Path(sys.executable).parent / "vermin"
SOURCE = pathlib.Path(__file__).resolve().parents[1] / "python" / "dogpile_rs"


def test_the_extension_is_built_for_the_stable_abi():
    name = pathlib.Path(_dogpile_rs.__file__).name
    assert ".abi3." in name, f"{name} is not a stable-ABI (abi3) extension"


def test_the_package_source_runs_on_python_3_9():
    files = sorted(str(p) for p in SOURCE.glob("*.py"))
    assert files, f"no Python source under {SOURCE}"
    checked = subprocess.run(
        [str(VERMIN), "--target=3.9-", "--violations", "--no-tips", "--eval-annotations", *files],
        capture_output=True,
        text=True,
    )
    assert checked.returncode == 0, f"source needs a Python newer than 3.9:\n{checked.stdout}{checked.stderr}"
    assert "Target versions not met" not in checked.stdout
