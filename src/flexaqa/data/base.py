"""What every dataset reader offers, frame sampling (uniform N frames, CoRe's 103 frames in 10 x 16 clips) and
:func:`open_dataset`, which picks the reader from the folder's layout.

Each reader registers itself with :func:`register_layout` (``native.py``, ``release.py``); ``flexaqa.data``
imports both, so :func:`open_dataset` knows them whichever module a caller imports first."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from flexaqa._io import check_input_dir, require_complete
from flexaqa.data.schema import DataError, MissingDatasetError, Sample, SampleRecord
from flexaqa.data.splits import get_splits
from flexaqa.timebase import CORE_CLIP_LEN, CORE_CLIP_STARTS, seconds_to_index
from flexaqa.timebase import CORE_NUM_FRAMES as CORE_NUM_FRAMES  # re-exported


def core_clip_indices() -> np.ndarray:
    """``(10, 16)`` positions into a 103-frame sample, one row per CoRe clip."""
    return np.asarray(CORE_CLIP_STARTS)[:, None] + np.arange(CORE_CLIP_LEN)[None, :]


def uniform_times(start: float, end: float, n: int) -> np.ndarray:
    """``n`` instants evenly spread over ``[start, end)`` seconds, first at ``start`` (CoRe-style sampling)."""
    if n <= 0:
        raise DataError(f"number of frames must be positive, got {n}")
    if end <= start:
        raise DataError(f"cannot sample frames from an empty interval [{start}, {end}]")
    return start + np.linspace(0.0, 1.0, n, endpoint=False) * (end - start) + 0.0


def times_to_frames(times: np.ndarray, fps: float, start: float, end: float) -> np.ndarray:
    """Frame indices of a ``fps`` video nearest below ``times``, kept inside the frames of ``[start, end)``."""
    i0 = seconds_to_index(start, fps, rounding="ceil")
    i1 = max(seconds_to_index(end, fps, rounding="ceil") - 1, i0)
    return np.clip(seconds_to_index(times, fps, rounding="floor"), i0, i1)


class DatasetSource:
    """A dataset on disk: an index of :class:`SampleRecord` and :meth:`load` for one sample.

    Subclasses set ``root``, ``layout``, ``records`` and ``view_names`` and implement :meth:`load`; a reader
    :func:`open_dataset` should pick also implements :meth:`detect` and is decorated with :func:`register_layout`.
    """

    root: Path
    layout: str
    records: list[SampleRecord]
    view_names: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, i: int) -> SampleRecord:
        return self.records[i]

    def record(self, key: str | int | SampleRecord) -> SampleRecord:
        if isinstance(key, SampleRecord):
            return key
        if isinstance(key, int):
            return self.records[key]
        by_id = self._by_id()
        if key not in by_id:
            raise DataError(f"{self.root}: no sample {key!r}")
        return by_id[key]

    def _by_id(self) -> dict[str, SampleRecord]:
        if getattr(self, "_id_index", None) is None:
            self._id_index = {r.id: r for r in self.records}
        return self._id_index

    def select(self, ids: Iterable[str]) -> list[SampleRecord]:
        """Records of ``ids`` in the given order (unknown ids raise :class:`DataError`)."""
        return [self.record(i) for i in ids]

    def splits(self, protocol: str = "random", *, seed: int = 0) -> dict[str, list[str]]:
        """Sample ids per split (``train``/``val``/``test``) for ``protocol``; see :mod:`flexaqa.data.splits`."""
        return get_splits(self, protocol, seed=seed)

    def official_splits(self) -> dict[str, list[str]]:
        """The dataset's own published split (``protocol="official"``); only the release layout has one."""
        raise DataError(
            f"{self.root}: the official split (Split_4/) exists only in the official FLEX release layout; "
            f"this is a {self.layout} dataset: use protocol 'random', 'cross_subject' or 'cross_skill'"
        )

    @classmethod
    def detect(cls, root: Path) -> bool:
        """Whether the folder ``root`` is in this reader's layout."""
        return False

    def load(
        self,
        key: str | int | SampleRecord,
        *,
        modalities: Sequence[str] = ("video", "pose", "emg"),
        views: Sequence[str] | None = None,
        num_frames: int | None = None,
        size: int | tuple[int, int] | None = None,
    ) -> Sample:  # pragma: no cover - abstract
        raise NotImplementedError


LAYOUTS: list[type[DatasetSource]] = []  # the readers open_dataset tries, in order


def register_layout(cls: type[DatasetSource]) -> type[DatasetSource]:
    """Class decorator: :func:`open_dataset` opens a folder with ``cls`` when ``cls.detect(folder)`` is true.
    Readers are tried in registration order (the import order in ``flexaqa/data/__init__.py``: native first)."""
    if cls not in LAYOUTS:
        LAYOUTS.append(cls)
    return cls


def open_dataset(root: str | Path) -> DatasetSource:
    """Open a FLEX dataset folder in the native layout (``dataset.json``) or the official release layout."""

    root = Path(root)
    if not root.exists():
        raise MissingDatasetError(f"{root}: no such dataset folder")
    check_input_dir(root, "dataset folder")  # a file, or unreadable
    require_complete(root, "dataset")
    for reader in LAYOUTS:
        if reader.detect(root):
            return reader(root)
    raise DataError(
        f"{root}: neither a native flexaqa dataset (dataset.json + manifest.csv) nor the official FLEX release "
        "layout (A01..A20/, Skeleton/, EMG/, Split_4/); see docs/data-format.md"
    )


# ------------------------------------------------------------------------------------------- small csv helpers


def write_csv_text(header: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    for r in rows:
        w.writerow(["" if v is None else _fmt(v) for v in r])
    return buf.getvalue()


def _fmt(v) -> str:
    if isinstance(v, float):
        return repr(round(v, 6))
    return str(v)


def read_csv_dicts(path: Path) -> list[dict[str, str]]:
    try:
        with open(path, newline="", encoding="utf-8") as fh:
            return list(csv.DictReader(fh))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise DataError(f"{path}: cannot read as CSV ({exc})") from exc


def opt_float(v: str | None) -> float | None:
    return None if v in (None, "") else float(v)


def opt_int(v: str | None) -> int | None:
    return None if v in (None, "") else int(float(v))
