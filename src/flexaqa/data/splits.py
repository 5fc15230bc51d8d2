"""Train/val/test splits: the official ``Split_4`` when the release has it, otherwise generated from a seed and
saved with the dataset as readable JSON (``splits/<protocol>.json``).

Protocols:

- ``random``: per action, 75 % train / 25 % test at random (the FLEX baseline's protocol);
- ``cross_subject``: subjects disjoint between train and test (about 25 % of each skill level's subjects in test);
- ``cross_skill``: train on experts and amateurs, test on novices;
- ``official``: the release's ``Split_4`` lists (no validation split).

The validation split is carved from train the same way the protocol draws test (by sample for ``random``, by
subject otherwise), so it never shares a subject with test where the protocol forbids it.
"""

from __future__ import annotations

import contextlib
import json
from collections import defaultdict
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from flexaqa._io import atomic_write_text, json_text
from flexaqa.data.schema import DataError, SampleRecord

PROTOCOLS = ("random", "cross_subject", "cross_skill")
SPLIT_NAMES = ("train", "val", "test")


def hold_out(
    items: Sequence[str],
    fraction: float,
    rng: np.random.Generator,
    *,
    group_of: Callable[[str], str] | None = None,
    min_rest: int = 1,
) -> tuple[list[str], list[str]]:
    """Split ``items`` into ``(rest, taken)``, both sorted: ``round(fraction * n)`` of the ``n`` groups drawn
    by ``rng`` (at least 1 when ``fraction > 0``, and never more than leaves ``min_rest`` groups), every item
    of a drawn group taken. Groups are the items themselves, or ``group_of(item)`` (e.g. the subject, so a
    subject is never on both sides). The one way flexaqa carves a validation (or test) split from another.

    >>> hold_out(["a", "b", "c", "d"], 0.5, np.random.default_rng(0))
    (['b', 'd'], ['a', 'c'])
    >>> hold_out(["a", "b"], 0.1, np.random.default_rng(0), min_rest=2)
    (['a', 'b'], [])
    """
    items = sorted(items)
    key = group_of or (lambda x: x)
    groups = sorted({key(x) for x in items})
    n = len(groups)
    k = max(round(fraction * n), 1) if fraction > 0 else 0
    k = max(min(k, n - min_rest), 0)
    taken_groups = {groups[i] for i in rng.permutation(n)[:k]}
    taken = [x for x in items if key(x) in taken_groups]
    return [x for x in items if key(x) not in taken_groups], taken


def generate_splits(
    records: Sequence[SampleRecord],
    protocol: str = "random",
    *,
    seed: int = 0,
    test_fraction: float = 0.25,
    val_fraction: float = 0.1,
) -> dict[str, list[str]]:
    """Sample ids per split for ``protocol`` (see module doc). Same records + seed -> same splits."""
    if protocol not in PROTOCOLS:
        raise DataError(
            f"unknown split protocol {protocol!r}; choose from {', '.join(PROTOCOLS)} (or 'official')"
        )
    rng = np.random.default_rng(seed)
    out: dict[str, list[str]] = {k: [] for k in SPLIT_NAMES}
    if protocol == "random":
        by_action: dict[str, list[str]] = defaultdict(list)
        for r in records:
            by_action[r.action].append(r.id)
        for action in sorted(by_action):
            train, test = hold_out(by_action[action], test_fraction, rng)
            train, val = hold_out(train, val_fraction, rng)
            out["train"] += train
            out["val"] += val
            out["test"] += test
        return {k: sorted(v) for k, v in out.items()}
    if any(r.subject is None for r in records):
        raise DataError(
            f"the {protocol} protocol needs the subject of every sample; this dataset does not list them"
        )
    by_skill: dict[str, set[str]] = defaultdict(set)
    for r in records:
        by_skill[r.skill or "unknown"].add(r.subject)
    if protocol == "cross_skill":
        test_subj = set(by_skill.get("novice", ()))
        train_pool = {s: set(v) for s, v in by_skill.items() if s != "novice"}
        if not test_subj or not train_pool:
            raise DataError(
                "the cross_skill protocol needs novice subjects (test) and expert/amateur ones (train)"
            )
    else:
        test_subj, train_pool = set(), {}
        for skill in sorted(by_skill):
            rest, taken = hold_out(sorted(by_skill[skill]), test_fraction, rng)
            test_subj |= set(taken)
            train_pool[skill] = set(rest)
    val_subj: set[str] = set()
    for skill in sorted(train_pool):
        _, taken = hold_out(sorted(train_pool[skill]), val_fraction, rng)
        val_subj |= set(taken)
    for r in records:
        key = "test" if r.subject in test_subj else "val" if r.subject in val_subj else "train"
        out[key].append(r.id)
    return {k: sorted(v) for k, v in out.items()}


def save_splits(root: str | Path, protocol: str, splits: dict[str, list[str]], **meta) -> Path:
    """Write ``root/splits/<protocol>.json``: ``{"protocol", "counts", "train": [...], "val": [...], "test": [...]}``."""
    doc = {"protocol": protocol, **meta, "counts": {k: len(v) for k, v in splits.items()}}
    doc.update({k: list(splits.get(k, [])) for k in SPLIT_NAMES})
    return atomic_write_text(Path(root) / "splits" / f"{protocol}.json", json_text(doc, indent=1) + "\n")


def load_splits(root: str | Path, protocol: str) -> dict[str, list[str]] | None:
    """Saved splits of ``protocol`` or ``None`` when the file does not exist."""
    path = Path(root) / "splits" / f"{protocol}.json"
    if not path.is_file():
        return None
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
        return {k: [str(x) for x in doc.get(k, [])] for k in SPLIT_NAMES}
    except (OSError, json.JSONDecodeError, AttributeError) as exc:
        raise DataError(
            f"{path}: expected a JSON object with train/val/test lists of sample ids ({exc})"
        ) from exc


def saved_seed(root: str | Path, protocol: str) -> int | None:
    """The seed recorded in the saved splits of ``protocol`` (``None``: no file, or no seed recorded)."""
    path = Path(root) / "splits" / f"{protocol}.json"
    if not path.is_file():
        return None
    try:
        seed = json.loads(path.read_text(encoding="utf-8")).get("seed")
    except (OSError, json.JSONDecodeError, AttributeError) as exc:
        raise DataError(
            f"{path}: expected a JSON object with train/val/test lists of sample ids ({exc})"
        ) from exc
    return None if seed is None else int(seed)


def used_split_seed(root: str | Path, protocol: str, seed: int) -> int | None:
    """The seed behind the splits :func:`get_splits` hands out for ``protocol``: the one saved with a split file
    (``None`` for the official lists or a saved file that records none), else ``seed`` (generated now)."""
    if protocol == "official":
        return None
    if not (Path(root) / "splits" / f"{protocol}.json").is_file():
        return seed
    return saved_seed(root, protocol)


def split_problems(splits: dict[str, list[str]], known_ids: set[str]) -> list[str]:
    """Overlaps between splits, duplicates and unknown ids (empty when the splits are sound)."""
    out = []
    seen: dict[str, str] = {}
    for name in SPLIT_NAMES:
        for i in splits.get(name, []):
            if i in seen:
                out.append(
                    f"sample {i} is in both {seen[i]} and {name}"
                    if seen[i] != name
                    else f"sample {i} is listed twice in {name}"
                )
            seen[i] = name
            if i not in known_ids:
                out.append(f"{name} lists unknown sample {i}")
    return out


def get_splits(source, protocol: str = "random", *, seed: int = 0, save: bool = True) -> dict[str, list[str]]:
    """Splits of a dataset: saved ones if present, the official ``Split_4`` for ``protocol='official'``,
    otherwise generated with ``seed`` and (``save``) written to ``<root>/splits/<protocol>.json``."""
    if protocol == "official":
        return source.official_splits()
    saved = load_splits(source.root, protocol)
    known = {r.id for r in source.records}
    if saved is not None:
        bad = split_problems(saved, known)
        if bad:
            raise DataError(f"{Path(source.root) / 'splits' / (protocol + '.json')}: {bad[0]}")
        return saved
    splits = generate_splits(source.records, protocol, seed=seed)
    if save:
        with contextlib.suppress(OSError):  # a read-only copy of the release: splits stay in memory
            save_splits(source.root, protocol, splits, seed=seed)
    return splits


def require_samples(source, splits: dict[str, list[str]], names: Sequence[str], protocol: str) -> None:
    """Refuse an empty split among ``names``, saying why when the protocol holds whole subjects or skill levels
    out (too few of them in a small dataset) and which protocol works."""
    for name in names:
        if name not in splits:
            raise DataError(
                f"{source.root}: split {name!r} does not exist; the splits are {', '.join(splits)}"
            )
        if splits[name]:
            continue
        why = ""
        if protocol in ("cross_subject", "cross_skill"):
            key = "subject" if protocol == "cross_subject" else "skill"
            groups = sorted({getattr(r, key) or "?" for r in source.records})
            why = (
                f": it holds out whole {key}s and the dataset has only {len(groups)} ({', '.join(groups)}); "
                "use --protocol random"
            )
        raise DataError(f"{source.root}: the {protocol} split has no {name} samples{why}")
