"""What the code under test writes to disk, seen from inside the interpreter (`sys.addaudithook`).

One hook for the whole test run (a hook cannot be removed); it records only inside `watching()`, in
every thread of the process. Recorded: every file opened for writing (`open`, `os.open`),
temporary files and directories made, files renamed, linked, copied or truncated, and every program
started, with its arguments (a program handed a file name could write there; tesseract is handed
`stdin` and `stdout`). Python's own bytecode cache (`__pycache__`) is not recorded.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, NamedTuple

_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC
_TARGET_OF = {
    # event: index of the argument that names what is written
    "tempfile.mkstemp": 0,
    "tempfile.mkdtemp": 0,
    "os.rename": 1,
    "os.replace": 1,
    "os.link": 1,
    "os.symlink": 1,
    "os.truncate": 0,
    "shutil.copyfile": 1,
    "shutil.copytree": 1,
    "shutil.move": 1,
}
_PROGRAMS = {"subprocess.Popen": 1, "os.posix_spawn": 1, "os.exec": 1, "os.system": 0}


class Write(NamedTuple):
    event: str
    target: str


_recorded: list[Write] | None = None


def _writes_to(mode: object, flags: object) -> bool:
    return (isinstance(mode, str) and any(m in mode for m in "wax+")) or (
        isinstance(flags, int) and bool(flags & _WRITE_FLAGS)
    )


def _hook(event: str, args: tuple[Any, ...]) -> None:
    recorded = _recorded
    if recorded is None:
        return
    if event == "open" and len(args) >= 3 and _writes_to(args[1], args[2]):
        # An integer is a descriptor already open (a pipe to tesseract, or a file whose opening by
        # name was recorded): only names are files.
        if isinstance(args[0], str | bytes | os.PathLike):
            target = os.fsdecode(args[0])
            if "__pycache__" not in target:
                recorded.append(Write(event, target))
    elif event in _TARGET_OF:
        recorded.append(Write(event, str(args[_TARGET_OF[event]])))
    elif event in _PROGRAMS:
        argv = args[_PROGRAMS[event]]
        recorded.append(
            Write(event, " ".join(map(os.fsdecode, argv)) if isinstance(argv, list | tuple) else str(argv))
        )


sys.addaudithook(_hook)


@contextmanager
def watching() -> Iterator[list[Write]]:
    """Record, until the block ends, what the process writes or starts."""
    global _recorded
    recorded: list[Write] = []
    _recorded = recorded
    try:
        yield recorded
    finally:
        _recorded = None


def files_written(recorded: list[Write]) -> list[Write]:
    return [write for write in recorded if write.event not in _PROGRAMS]


def programs_started(recorded: list[Write]) -> list[Write]:
    return [write for write in recorded if write.event in _PROGRAMS]
