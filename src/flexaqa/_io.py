"""Small file helpers shared across flexaqa.

- Atomic writes (a temporary file in the same folder, then a rename) so a crash never leaves half a file; the
  file gets the mode the umask allows, like any ``open(path, "w")``.
- Whole folders (:func:`staging_dir`, :func:`publish_dir`): written under ``.staging/`` and renamed into place.
- One strict JSON writer: NaN and infinities become ``null``, numpy scalars and arrays plain JSON.
- Output folders (:func:`output_dir`): one writer at a time (an exclusive lock, the second writer is refused
  with the holder's pid, host and command), a folder that is being written or was left unfinished says so to
  every reader (:func:`require_complete`), and outputs are checked before any work starts.
"""

from __future__ import annotations

import contextlib
import datetime
import hashlib
import json
import math
import os
import shlex
import shutil
import socket
import sys
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path

from filelock import FileLock, Timeout

from flexaqa.errors import BusyError, IncompleteError, InputError, OutputError

LOCK_NAME = ".flexaqa.lock"
WRITER_NAME = ".flexaqa-writer.json"  # who writes the folder; left behind, it marks the folder incomplete
_OWN_FILES = frozenset({LOCK_NAME, WRITER_NAME})
MODES = ("new", "overwrite", "update")

_umask: int | None = None
_command: str | None = None
_writing: set[Path] = set()  # the output folders this process holds now


# ------------------------------------------------------------------------------------------------ atomic writes


def _file_mode() -> int:
    """``0o666`` less the process umask (read once: reading it means setting it, which races with threads)."""
    global _umask
    if _umask is None:
        _umask = os.umask(0o022)
        os.umask(_umask)
    return 0o666 & ~_umask


def folder_mode() -> int:
    """``0o777`` less the process umask: the mode ``mkdir`` gives (for a ``mkdtemp`` folder renamed into place)."""
    _file_mode()  # reads the umask once
    return 0o777 & ~(_umask or 0)


def temp_sibling(path: str | Path, suffix: str = ".tmp") -> str:
    """A new empty temporary file next to ``path`` (to write, then ``os.replace`` onto ``path``), with the mode
    the umask allows; for writers that need a file name, such as encoders."""
    path = Path(path)
    return _temp_sibling(path, f".{path.stem}.", suffix)


def _temp_sibling(path: Path, prefix: str, suffix: str) -> str:
    fd, tmp = tempfile.mkstemp(prefix=prefix, suffix=suffix, dir=path.parent)
    try:
        os.fchmod(fd, _file_mode())  # mkstemp makes 0600 whatever the umask
    finally:
        os.close(fd)
    return tmp


def atomic_write_bytes(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` via a temporary file in the same folder and an atomic rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _temp_sibling(path, f".{path.name}.", ".tmp")
    try:
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def atomic_write_text(path: str | Path, text: str, encoding: str = "utf-8") -> Path:
    return atomic_write_bytes(path, text.encode(encoding))


def atomic_save(path: str | Path, save_fn, suffix: str | None = None) -> Path:
    """Call ``save_fn(tmp_path)`` (e.g. ``fig.savefig``) then atomically move the result to ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _temp_sibling(path, f".{path.stem}.", suffix or path.suffix)
    try:
        save_fn(tmp)
        os.chmod(tmp, _file_mode())  # a writer that recreated the file got its own mode
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


# ------------------------------------------------------------------------------------------- whole folders

STAGING = ".staging"  # folders being written, under the folder they will be renamed into


def staging_dir(root: str | Path, name: str) -> Path:
    """A new empty folder ``root/.staging/<name>.XXXX`` to write a folder in, then :func:`publish_dir` it."""
    staging = Path(root) / STAGING
    staging.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=f"{name.replace('/', '__')}.", dir=staging))
    os.chmod(stage, folder_mode())  # mkdtemp makes 0700
    return stage


def publish_dir(stage: str | Path, target: str | Path) -> Path:
    """Rename the complete folder ``stage`` (from :func:`staging_dir`) to ``target``, replacing an older one: a
    reader never sees half a folder, a writer killed midway leaves only a ``.staging/`` entry. When another writer
    published ``target`` meanwhile (a task run twice), its folder is kept and ``stage`` removed."""
    stage, target = Path(stage), Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    old = None
    if target.exists():
        old = Path(tempfile.mkdtemp(prefix=f"{target.name}.old.", dir=stage.parent))
        os.replace(target, old / target.name)
    try:
        os.rename(stage, target)
    except OSError:
        if not target.is_dir():
            raise
        shutil.rmtree(stage, ignore_errors=True)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
    return target


def clear_staging(root: str | Path) -> None:
    """Remove what killed writers left under ``root/.staging/`` (only while no writer is at work)."""
    shutil.rmtree(Path(root) / STAGING, ignore_errors=True)


# ------------------------------------------------------------------------------------------------------- JSON


def json_ready(obj):
    """``obj`` with NaN/inf as ``None``, numpy scalars/arrays as Python numbers/lists, paths as strings."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, bool | int | str) or obj is None:
        return obj
    if isinstance(obj, dict):
        return {str(k) if not isinstance(k, str) else k: json_ready(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple | set | frozenset):
        return [json_ready(v) for v in obj]
    if isinstance(obj, Path):
        return str(obj)
    if hasattr(obj, "tolist") and hasattr(obj, "dtype"):  # numpy scalar or array (no numpy import needed)
        return json_ready(obj.tolist())
    return obj


def json_text(obj, *, indent: int | None = 1, **kw) -> str:
    """Strict JSON text of ``obj``: never a bare ``NaN``/``Infinity`` (they become ``null``)."""
    return json.dumps(json_ready(obj), indent=indent, allow_nan=False, **kw)


def write_json(path: str | Path, obj, *, indent: int | None = 1, **kw) -> Path:
    """Atomically write ``obj`` as strict JSON (see :func:`json_text`)."""
    return atomic_write_text(path, json_text(obj, indent=indent, **kw))


# ---------------------------------------------------------------------------------------------- output checks


def set_command(argv: Iterable[str]) -> None:
    """Record the command line (``cli.main`` calls this) for lock holders and incomplete-folder hints."""
    global _command
    _command = shlex.join(["flexaqa", *argv])


def current_command() -> str:
    if _command is not None:
        return _command
    return shlex.join([Path(sys.argv[0]).name or "python", *sys.argv[1:]])


def _check_parents(path: Path) -> None:
    for parent in reversed(path.absolute().parents):
        if parent.exists() and not parent.is_dir():
            raise OutputError(f"{path}: {parent} is a file, not a folder")


def _nearest_existing(path: Path) -> Path:
    p = path.absolute()
    while not p.exists() and p != p.parent:
        p = p.parent
    return p


def _check_writable(path: Path, target: Path) -> None:
    anc = _nearest_existing(target)
    if not os.access(anc, os.W_OK | (os.X_OK if anc.is_dir() else 0)):
        raise OutputError(f"{path}: cannot write in {anc} (permission denied or read-only)")


def _inside(a: Path, b: Path) -> bool:
    """``a`` is ``b`` or lies inside it (after resolving links)."""
    a, b = a.resolve(), b.resolve()
    return a == b or b in a.parents


def check_output_dir(path: str | Path, *, inputs: Iterable[str | Path] = ()) -> Path:
    """Refuse, before any work, an output folder that is a file, lies under a file, cannot be written, or is
    (inside) one of ``inputs``."""
    p = Path(path)
    if p.exists() and not p.is_dir():
        raise OutputError(f"{p} is a file; the output must be a folder (give a new folder name)")
    _check_parents(p)
    for src in inputs:
        src = Path(src)
        if _inside(p, src):
            raise OutputError(f"{p} is inside the input {src}: write the output to a folder outside it")
        if src.exists() and _inside(src, p):
            raise OutputError(f"the input {src} is inside the output {p}: write the output elsewhere")
    _check_writable(p, p)
    return p


def check_output_file(path: str | Path) -> Path:
    """Refuse, before any work, an output file that is a folder, lies under a file or cannot be written."""
    p = Path(path)
    if p.is_dir():
        raise OutputError(f"{p} is a folder; give a file name to write")
    _check_parents(p)
    _check_writable(p, p if p.exists() else p.parent)
    return p


def missing_file_message(path: str | Path, what: str = "file") -> str:
    """Why ``path`` is not a file: a folder stands where the file should, or nothing does."""
    p = Path(path)
    return f"{p} is a folder; expected a {what}" if p.is_dir() else f"{p}: no such {what}"


def check_input_file(path: str | Path, what: str = "file") -> Path:
    """An existing readable file, or a message that says what is wrong (missing, a folder, unreadable)."""
    p = Path(path)
    if not p.is_file():
        raise InputError(missing_file_message(p, what))
    if not os.access(p, os.R_OK):
        raise InputError(f"{p}: the {what} is not readable (permission denied)")
    return p


def check_input_dir(path: str | Path, what: str = "folder") -> Path:
    """An existing folder, or a message that says what is wrong (missing, a file, unreadable)."""
    p = Path(path)
    if p.exists() and not p.is_dir():
        raise InputError(f"{p} is a file; expected a {what}")
    if not p.exists():
        raise InputError(f"{p}: no such {what}")
    if not os.access(p, os.R_OK | os.X_OK):
        raise InputError(f"{p}: the {what} is not readable (permission denied)")
    return p


# --------------------------------------------------------------------------------------------- output folders


def _read_writer(folder: Path) -> dict | None:
    path = folder / WRITER_NAME
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        return {"command": "an unknown flexaqa command", "mode": "new"}
    return info if isinstance(info, dict) else {"command": "an unknown flexaqa command", "mode": "new"}


def _holder(info: dict | None) -> str:
    if not info:
        return "another flexaqa process"
    return (
        f"pid {info.get('pid', '?')} on {info.get('host', '?')} running `{info.get('command', '?')}` "
        f"since {info.get('started', '?')}"
    )


def _is_locked(folder: Path) -> bool:
    """Whether a live process holds the folder's lock (a stale lock file left by a killed process is not)."""
    lock_path = folder / LOCK_NAME
    if not lock_path.exists():
        return False

    probe = FileLock(str(lock_path), timeout=0)
    try:
        probe.acquire()
    except Timeout:
        return True
    except OSError:  # cannot even open it (read-only folder): nobody can be writing through it either
        return False
    probe.release()
    return False


def _redo_hint(info: dict) -> str:
    cmd = info.get("command", "the command that wrote it")
    if info.get("mode") == "new" and "--force" not in cmd.split():
        return f"`{cmd}` with --force to start over"
    return f"`{cmd}` again"


def require_complete(folder: str | Path, what: str = "folder") -> None:
    """Refuse to read a folder that another process is writing, or whose writer did not finish."""
    folder = Path(folder)
    info = _read_writer(folder)
    if info is None or info.get("mode") == "update" or folder.resolve() in _writing:
        return  # finished, only gaining files, or being written right now by this very process
    if _is_locked(folder):
        raise BusyError(f"{folder}: this {what} is being written by {_holder(info)}; wait for it to finish")
    raise IncompleteError(
        f"{folder}: this {what} is incomplete: `{info.get('command', '?')}` did not finish (interrupted or "
        f"failed); run {_redo_hint(info)}"
    )


def _clear(folder: Path) -> None:
    for child in folder.iterdir():
        if child.name == LOCK_NAME:
            continue
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child)
        else:
            child.unlink()


class _Lock:
    def __init__(self, folder: Path):

        self.path = folder / LOCK_NAME
        self.lock = FileLock(str(self.path), timeout=0)
        try:
            self.lock.acquire()
        except Timeout:
            raise BusyError(
                f"{folder} is being written by {_holder(_read_writer(folder))}; wait for it to finish or "
                "write to another folder"
            ) from None

    def release(self) -> None:
        with contextlib.suppress(OSError):
            self.path.unlink()  # while still held: a waiting writer re-opens by name and finds a fresh file
        self.lock.release()


# A folder with more entries than this is not compared before and after a writer (it is left marked when the
# writer fails, whatever it did)
SNAPSHOT_LIMIT = 200_000


def _snapshot(folder: Path) -> frozenset | None:
    """Every entry under ``folder`` (its own lock and marker files left out) with its kind, size, times and inode:
    equal snapshots before and after a writer mean it changed nothing. ``None`` when it cannot be read whole or
    holds more than :data:`SNAPSHOT_LIMIT` entries."""
    entries: set[tuple] = set()
    stack = [folder]
    while stack:
        top = stack.pop()
        try:
            with os.scandir(top) as it:
                for e in it:
                    if top is folder and e.name in _OWN_FILES:
                        continue
                    st = e.stat(follow_symlinks=False)
                    rel = os.path.relpath(e.path, folder)
                    entries.add((rel, st.st_mode, st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino))
                    if len(entries) > SNAPSHOT_LIMIT:
                        return None
                    if e.is_dir(follow_symlinks=False):
                        stack.append(Path(e.path))
        except OSError:
            return None
    return frozenset(entries)


def _read_marker(folder: Path) -> bytes | None:
    try:
        return (folder / WRITER_NAME).read_bytes()
    except OSError:
        return None


def _put_back_marker(folder: Path, marker: bytes | None) -> None:
    """The folder's marker as it was before a writer that changed nothing (none: the folder was complete)."""
    with contextlib.suppress(OSError):
        if marker is None:
            (folder / WRITER_NAME).unlink()
        else:
            atomic_write_bytes(folder / WRITER_NAME, marker)


@contextlib.contextmanager
def output_dir(
    path: str | Path,
    *,
    mode: str = "new",
    force: bool = False,
    inputs: Iterable[str | Path] = (),
) -> Iterator[Path]:
    """Write the folder ``path`` as its only writer.

    ``mode``: ``new`` (a dataset-like output: the folder must be empty, ``force`` clears it), ``overwrite`` (a
    report folder whose files are rewritten) or ``update`` (an existing folder that gains files, e.g. split
    files or a feature cache: it stays readable meanwhile). Outputs are checked first (:func:`check_output_dir`);
    another writer is refused (:class:`BusyError`) naming its pid, host and command. While a ``new`` or
    ``overwrite`` folder is written, readers refuse it (:func:`require_complete`); after an error or Ctrl-C it
    stays marked incomplete with the command that redoes it. A writer that changed nothing in the folder (a
    command refused before its first write, by an error or an exit code) leaves it as it was: a finished folder
    stays finished, an incomplete one incomplete (entries are compared before and after, see :func:`_snapshot`).
    A folder created here that got nothing is removed. Commands check their arguments before they enter this.
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    folder = check_output_dir(path, inputs=inputs)
    created = not folder.exists()
    folder.mkdir(parents=True, exist_ok=True)
    lock = _Lock(folder)
    ok = False
    untouched = False  # the writer changed nothing: the folder's marker goes back as it was
    try:
        previous = _read_writer(folder)
        marker = _read_marker(folder)
        before = None if mode == "update" else _snapshot(folder)
        if mode == "new":
            others = sorted(c.name for c in folder.iterdir() if c.name not in _OWN_FILES)
            if (others or previous) and not force:
                if previous and previous.get("mode") != "update":
                    raise OutputError(
                        f"{folder} holds the incomplete output of `{previous.get('command', '?')}`, which did "
                        "not finish; re-run with --force to start over (this deletes the folder's contents)"
                    )
                raise OutputError(
                    f"{folder} is not empty (it holds {others[0]}{' and more' if len(others) > 1 else ''}); "
                    "write to a new folder, or pass --force to replace its contents"
                )
            if force:
                _clear(folder)
        info = {
            "command": current_command(),
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "started": datetime.datetime.now().isoformat(timespec="seconds"),
            "mode": mode,
        }
        atomic_write_text(folder / WRITER_NAME, json.dumps(info, indent=1))
        _writing.add(folder.resolve())
        try:
            yield folder
        except BaseException as exc:
            if mode != "update":
                untouched = before is not None and _snapshot(folder) == before
                if not untouched and hasattr(exc, "add_note"):
                    exc.add_note(f"{folder} is incomplete; run {_redo_hint(info)}")
            raise
        finally:
            _writing.discard(folder.resolve())
        ok = True
        # a folder left incomplete by an earlier writer stays so after one that changed nothing in it (a command
        # that returned an error code before its first write)
        untouched = marker is not None and before is not None and _snapshot(folder) == before
    finally:
        if untouched:
            _put_back_marker(folder, marker)
        elif ok or mode == "update" or (created and {c.name for c in folder.iterdir()} <= _OWN_FILES):
            with contextlib.suppress(OSError):
                (folder / WRITER_NAME).unlink()
        lock.release()
        if created:
            with contextlib.suppress(OSError):
                folder.rmdir()  # only when empty


@contextlib.contextmanager
def output_file_lock(path: str | Path) -> Iterator[Path]:
    """Hold ``<path>.lock`` while a long-running command appends to the file ``path``."""
    path = check_output_file(path)
    path.parent.mkdir(parents=True, exist_ok=True)

    lock_path = path.with_name(path.name + ".lock")
    lock = FileLock(str(lock_path), timeout=0)
    try:
        lock.acquire()
    except Timeout:
        raise BusyError(
            f"{path} is being written by another flexaqa process; wait for it to finish"
        ) from None
    try:
        yield path
    finally:
        with contextlib.suppress(OSError):
            lock_path.unlink()
        lock.release()


__all__ = [
    "atomic_save",
    "atomic_write_bytes",
    "atomic_write_text",
    "check_input_dir",
    "check_input_file",
    "check_output_dir",
    "check_output_file",
    "clear_staging",
    "folder_mode",
    "json_text",
    "output_dir",
    "output_file_lock",
    "publish_dir",
    "require_complete",
    "staging_dir",
    "write_json",
]


def file_sha256(path: str | Path) -> str:
    """Hex SHA-256 of a file's bytes, read in 1 MiB blocks."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()
