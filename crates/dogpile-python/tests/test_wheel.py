"""The wheel a user installs: one abi3 file for CPython 3.9 and later, linked against glibc
2.17 (manylinux2014), as ``auditwheel show`` reads its symbol versions, built by pip from the
source distribution that goes to PyPI beside it; and the package imported by these tests is that
wheel's, installed, not the source tree."""

import email
import pathlib
import subprocess
import sys
import tarfile

import dogpile_rs

DIST = pathlib.Path(__file__).resolve().parents[3] / "target" / "python" / "dist"
AUDITWHEEL = pathlib.Path(sys.executable).parent / "auditwheel"


def wheel():
    found = sorted(DIST.glob("dogpile_rs-*.whl"))
    assert len(found) == 1, f"one wheel expected in {DIST} (scripts/python-envs builds it), found {found}"
    return found[0]


def sdist():
    found = sorted(DIST.glob("dogpile_rs-*.tar.gz"))
    assert len(found) == 1, f"one sdist expected in {DIST} (scripts/python-envs makes it), found {found}"
    return found[0]


def test_the_sdist_holds_the_sources_its_licence_and_readme_and_nothing_built():
    with tarfile.open(sdist()) as archive:
        names = archive.getnames()
        root = names[0].split("/")[0]
        info = archive.extractfile(f"{root}/PKG-INFO")
        assert info is not None
        metadata = email.message_from_bytes(info.read())
    files = {name.split("/", 1)[1] for name in names if "/" in name}
    for needed in ["pyproject.toml", "Cargo.toml", "Cargo.lock", "LICENSE", "README.md", "python/dogpile_rs/py.typed"]:
        assert needed in files, f"{needed} is not in the sdist"
    assert not [f for f in files if f.startswith("target/") or "/target/" in f or f.endswith((".so", ".whl"))]
    assert metadata["Name"] == "dogpile-rs"
    assert metadata["License-Expression"] == "MIT"
    assert metadata["Requires-Python"] == ">=3.9"
    assert metadata["Description-Content-Type"].startswith("text/markdown")
    assert "Typing :: Typed" in metadata.get_all("Classifier")
    assert "dogpile_rs.redis_advanced" in metadata.get_payload()


def test_the_wheel_is_abi3_and_manylinux2014():
    name = wheel().name
    assert "-cp39-abi3-" in name, name
    assert "manylinux2014_x86_64" in name and "manylinux_2_17_x86_64" in name, name


def test_auditwheel_finds_nothing_newer_than_glibc_2_17():
    shown = subprocess.run([str(AUDITWHEEL), "show", str(wheel())], capture_output=True, text=True)
    assert shown.returncode == 0, shown.stdout + shown.stderr
    text = " ".join(shown.stdout.split())
    assert 'consistent with the following platform tag: "manylinux_2_17_x86_64"' in text, shown.stdout


def test_the_package_under_test_is_the_installed_wheel():
    installed = pathlib.Path(dogpile_rs.__file__).resolve()
    assert "site-packages" in installed.parts, installed
