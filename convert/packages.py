"""Find files inside installed registry packages, with an install hint when missing."""

from __future__ import annotations

import importlib.util
from importlib import metadata
from pathlib import Path

from convert.errors import ConversionError


def install_hint(package: str) -> str:
    """The pip command that installs ``package`` at the version the lock file pins."""
    return f"pip install --no-deps -c requirements/constraints.txt {package}"


def package_dir(package: str, module: str) -> Path:
    """The folder of importable ``module`` from distribution ``package``, without importing it."""
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise ConversionError(
            f"package {package!r} (module {module!r}) is not installed; run: {install_hint(package)}"
        )
    return Path(next(iter(spec.submodule_search_locations)))


def package_file(package: str, module: str, file: str) -> Path:
    """Path of ``file`` inside the installed ``module``; a clear error if it is not there."""
    path = package_dir(package, module) / file
    if not path.is_file():
        raise ConversionError(
            f"{file!r} is not in package {package!r} ({path} missing); "
            f"reinstall it: {install_hint(package)}"
        )
    return path


def package_version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "unknown"


