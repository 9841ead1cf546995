"""Compile the journey core with mypyc into `pipeline/_core/` (`make core`).

The core is `mypy --strict` and standard-library only, so mypyc turns it into C
extension modules with the same behaviour; `pipeline.compiled` loads them while
their manifest matches the sources. Exit status 3: no compiler here, the core
runs as pure Python.
"""

from __future__ import annotations

import importlib.machinery
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

from pipeline.compiled import BUILD, MANIFEST, PACKAGE, compiled_sources, source_digests

NO_COMPILER = 3


def _module_name(built: Path, root: Path) -> str:
    relative = built.relative_to(root).as_posix()
    for suffix in importlib.machinery.EXTENSION_SUFFIXES:
        if relative.endswith(suffix):
            return relative.removesuffix(suffix).replace("/", ".")
    raise ValueError(f"not an extension module: {built}")


def _compile(sources: list[Path], work: Path) -> Path:
    """Build the extension modules in `work`; return the folder holding them."""
    from mypyc.build import mypycify
    from setuptools import setup

    library = work / "lib"
    os.chdir(work)  # away from pyproject.toml: setuptools here builds extensions only
    setup(
        name="journey-core",
        ext_modules=mypycify([str(path) for path in sources], opt_level="3", multi_file=True),
        script_args=["-q", "build_ext", "--build-lib", str(library), "--build-temp", "temp",
                     "--parallel", str(os.cpu_count() or 1)],
    )  # fmt: skip
    return library


def main() -> int:
    try:
        import mypyc.build  # noqa: F401
    except ImportError:
        print("mypyc is not installed: the core runs as pure Python")
        return NO_COMPILER
    if shutil.which(os.environ.get("CC", "cc")) is None:
        print("no C compiler (cc) here: the core runs as pure Python")
        return NO_COMPILER
    sources = compiled_sources()
    digests = source_digests()  # before compiling: a source edited meanwhile reads as stale
    print(f"compiling the journey core ({len(sources)} modules) with mypyc, about a minute")
    started = time.monotonic()
    cwd = os.getcwd()
    with tempfile.TemporaryDirectory(prefix="journey-core-") as scratch:
        try:
            library = _compile(sources, Path(scratch))
        finally:
            os.chdir(cwd)
        built = {_module_name(p, library): p for p in library.rglob("*") if p.is_file()}
        staged = BUILD.with_name(BUILD.name + ".new")
        shutil.rmtree(staged, ignore_errors=True)
        staged.mkdir()
        files = {}
        for name, path in sorted(built.items()):
            files[name] = name + path.name.removeprefix(name.rsplit(".", 1)[-1])
            shutil.copy2(path, staged / files[name])
        manifest = {"cache_tag": sys.implementation.cache_tag, "sources": digests, "modules": files}
        (staged / MANIFEST).write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")
        shutil.rmtree(BUILD, ignore_errors=True)
        staged.rename(BUILD)
    took = time.monotonic() - started
    print(f"compiled {len(files)} modules into {BUILD.relative_to(PACKAGE.parent)} in {took:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
