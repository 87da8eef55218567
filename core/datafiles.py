"""Reading the project's data files (YAML): one loader for every package.

libyaml's C loader when PyYAML has it (about ten times faster than the pure-Python one: the 2024
questionnaires parse in ~8 ms instead of ~75 ms), the pure-Python safe loader otherwise. Both are
safe loaders: data files never construct Python objects.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from core.errors import SpibotError

_Loader: type = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class DataFileError(SpibotError, ValueError):
    """A data file that cannot be read: says which file, where in it, and what to fix."""


def read_yaml(path: Path) -> Any:
    """The parsed content of the YAML file at `path` (None for an empty file)."""
    try:
        with path.open(encoding="utf-8") as fh:
            return yaml.load(fh, Loader=_Loader)  # noqa: S506 - a safe loader (C or Python)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "unknown place"
        raise DataFileError(f"{path}: {where}: {exc.problem or exc}. Fix the YAML there (indentation "
                            f"with spaces, a space after each ':', quotes around text with ':' or '#').") from exc
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise DataFileError(f"{path}: not readable as UTF-8 YAML ({exc}). Save it as UTF-8 YAML.") from exc
