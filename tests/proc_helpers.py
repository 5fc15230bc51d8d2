"""Finding the worker processes a test kills (Linux /proc)."""

from __future__ import annotations

from pathlib import Path


def descendants(pid: int, marker: bytes) -> list[int]:
    """Processes below ``pid`` (at any depth) whose command line holds ``marker``."""
    found = []
    for d in Path("/proc").glob("[0-9]*"):
        try:
            cmd = (d / "cmdline").read_bytes().replace(b"\0", b" ")
            ppid, chain = int(d.name), []
            while ppid > 1 and len(chain) < 20:
                ppid = int((Path("/proc") / str(ppid) / "stat").read_text().rsplit(")", 1)[1].split()[1])
                chain.append(ppid)
        except (OSError, ValueError, IndexError):
            continue
        if pid in chain and marker in cmd:
            found.append(int(d.name))
    return found
