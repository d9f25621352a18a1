"""The package is typed (``py.typed``, a stub for the extension module): ``mypy --strict``
passes on the package and on the README's Python examples, as a user's code would use them."""

import pathlib
import re
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[3]
MYPY = pathlib.Path(sys.executable).parent / "mypy"
PACKAGE = ROOT / "crates" / "dogpile-python" / "python" / "dogpile_rs"


def mypy(*args):
    checked = subprocess.run([str(MYPY), "--strict", "--no-incremental", *args], capture_output=True, text=True)
    assert checked.returncode == 0, f"mypy --strict {' '.join(args)}:\n{checked.stdout}{checked.stderr}"


def test_the_package_ships_its_types():
    assert (PACKAGE / "py.typed").is_file()
    assert (PACKAGE / "_dogpile_rs.pyi").is_file()


def test_the_package_passes_mypy_strict():
    mypy("-p", "dogpile_rs")


def test_the_readmes_python_examples_pass_mypy_strict(tmp_path):
    readme = (ROOT / "README.md").read_text()
    examples = re.findall(r"```python\n(.*?)```", readme, flags=re.S)
    assert examples, "the README has no Python example"
    files = []
    for n, example in enumerate(examples):
        path = tmp_path / f"readme_example_{n}.py"
        path.write_text(example)
        files.append(str(path))
    mypy(*files)
