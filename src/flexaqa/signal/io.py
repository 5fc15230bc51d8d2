"""Read a raw multi-channel recording for the ``flexaqa emg`` commands: CSV (one column per channel, header
row optional, e.g. FLEX ``EMG.csv``), NPY, or NPZ (the first array, or ``key``)."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from flexaqa._io import missing_file_message
from flexaqa.signal._common import MissingSignalFileError, SignalError

__all__ = ["read_recording"]


def read_recording(path: str | Path, *, key: str | None = None) -> np.ndarray:
    """The recording in ``path`` as a float array ``(T, C)`` (time down the rows), with clear errors for
    missing or empty files, non-numeric columns, wrong shapes and NaNs."""
    path = Path(path)
    if not path.is_file():
        raise MissingSignalFileError(missing_file_message(path))
    suffix = path.suffix.lower()
    if suffix == ".npy":
        x = np.load(path, allow_pickle=False)
    elif suffix == ".npz":
        with np.load(path, allow_pickle=False) as z:
            if not z.files:
                raise SignalError(f"{path}: the NPZ archive holds no array")
            if key is not None and key not in z.files:
                raise SignalError(f"{path}: no array {key!r}; it holds {', '.join(z.files)}")
            x = z[key or z.files[0]]
    elif suffix in (".csv", ".txt", ".tsv"):
        x = _read_csv(path)
    else:
        raise SignalError(f"{path}: unknown format {suffix or '(no extension)'}; use .csv, .npy or .npz")
    if not np.issubdtype(np.asarray(x).dtype, np.number):
        raise SignalError(f"{path}: expected a numeric array, got dtype {np.asarray(x).dtype}")
    x = np.asarray(x, dtype=float)
    if x.ndim == 1:
        x = x[:, None]
    if x.ndim != 2:
        raise SignalError(f"{path}: expected a (samples, channels) array, got shape {x.shape}")
    if x.size == 0:
        raise SignalError(f"{path}: the recording is empty")
    if x.shape[0] < x.shape[1]:
        raise SignalError(
            f"{path}: shape {x.shape} has fewer samples than channels; store time down the rows "
            "(one column per channel)"
        )
    bad = ~np.isfinite(x)
    if bad.any():
        r, c = np.argwhere(bad)[0]
        raise SignalError(f"{path}: {int(bad.sum())} NaN/infinite value(s), first at row {r}, column {c}")
    return x


def _read_csv(path: Path) -> np.ndarray:
    text = path.read_text(encoding="utf-8-sig", errors="replace")
    lines = [ln for ln in text.splitlines() if ln.strip()]
    if not lines:
        raise SignalError(f"{path}: the file is empty")
    delim = "\t" if "\t" in lines[0] else (";" if ";" in lines[0] and "," not in lines[0] else ",")
    rows = list(csv.reader(lines, delimiter=delim))
    header = None

    def numeric(cell: str) -> bool:
        try:
            float(cell)
            return True
        except ValueError:
            return cell.strip().lower() in ("nan", "")

    if not all(numeric(c) for c in rows[0]):
        header, rows = rows[0], rows[1:]
    if not rows:
        raise SignalError(f"{path}: the file has a header but no data rows")
    width = len(rows[0])
    try:  # fast path; the loop below only runs to explain a failure
        fast = np.loadtxt(lines[header is not None :], delimiter=delim, ndmin=2)
        if fast.shape[1] == width:
            return fast
    except ValueError:
        pass
    out = np.empty((len(rows), width))
    for i, row in enumerate(rows):
        if len(row) != width:
            raise SignalError(
                f"{path}: row {i + 1 + (header is not None)} has {len(row)} columns, expected {width}"
            )
        try:
            out[i] = [float(c) if c.strip() else np.nan for c in row]
        except ValueError:
            j = next(j for j, c in enumerate(row) if not numeric(c))
            name = f" ({header[j]!r})" if header else ""
            raise SignalError(
                f"{path}: column {j}{name} is not numeric: {row[j]!r} at row {i + 1 + (header is not None)}"
            ) from None
    return out
