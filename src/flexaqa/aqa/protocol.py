"""The AQA protocol (paper section 4.1) shared by both training modes: one model per action, the split and its
validation carving, the training split's standardisation and score range, the metrics, the run folder, and one
runner over actions (:func:`train_actions`, :func:`eval_actions`, :func:`predict_actions`) that drives a
:class:`Mode`: frozen cached features (:class:`flexaqa.aqa.runs.FrozenMode`) or end-to-end fine-tuning
(:class:`flexaqa.aqa.endtoend.EndToEndMode`).

A run folder holds ``run.json`` (data, model, variant, split, the mode's settings, config) and one folder per
action with the trainer's files (``config.yaml``, ``best.pt``, ``last.pt``, ``history.json``) and ``meta.json``:
the split ids, the training split's score range (used to normalise scores to 0-100 for CoRe/USDL and as the R-ℓ2
range), and the per-feature mean/std of the training split that standardises every input.
"""

from __future__ import annotations

import contextlib
import inspect
import json
import math
import shutil
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from flexaqa._io import atomic_write_text, check_output_dir, json_text, output_dir, require_complete
from flexaqa.aqa import AQAError
from flexaqa.data import open_dataset
from flexaqa.data.splits import hold_out, used_split_seed
from flexaqa.errors import BusyError, IncompleteError
from flexaqa.kg import load_kg
from flexaqa.metrics import fisher_z_mean, precision_recall_f1, relative_l2_error, spearman_score
from flexaqa.models import VARIANTS, model_entry
from flexaqa.train import RunConfig
from flexaqa.train.distributed import init_distributed, on_rank_zero

RUN_FORMAT = "flexaqa-aqa-run/1"
VAL_FRACTION = 0.1  # carved from train when a protocol has no validation split (official Split_4)


def needs_slots(model: str) -> bool:
    """Whether ``model`` trains on (keystep, error) slot labels (the error-aware family)."""
    return model.startswith("error_aware")


def check_model(model: str, variant: str) -> tuple[str, ...]:
    """Validate a scoring-head name and a Table-4 variant; returns the feature keys the variant reads."""
    entry = model_entry(model)  # unknown names raise ModelError with suggestions
    if entry.kind != "aqa":
        raise AQAError(
            f"model {model!r} is a {entry.kind} encoder, not a scoring head; use one of the 'aqa' models"
        )
    if variant not in VARIANTS:
        raise AQAError(f"unknown variant {variant!r}; choose one of {', '.join(VARIANTS)}")
    return VARIANTS[variant]


# ----------------------------------------------------------------------------------------------- data


def resolve_split(
    source, split: str = "auto", *, seed: int = 0
) -> tuple[str, dict[str, list[str]], int | None]:
    """``(protocol, {"train", "val", "test"} ids, seed of those splits)``; ``auto`` is ``official`` on the release
    layout, else ``random``. The seed is the one the splits were made with: a split saved with the dataset keeps
    its own (``None`` for the official lists), whatever ``seed`` says."""
    if split == "auto":
        split = (
            "official"
            if source.layout == "release" and (Path(source.root) / "Split_4").is_dir()
            else "random"
        )
    splits = source.splits(split, seed=seed)
    return split, splits, used_split_seed(source.root, split, seed)


def action_list(source, action: str | Sequence[str] = "all") -> list[str]:
    """Slugs of the requested actions present in ``source`` (``all``, one key, or comma-separated keys)."""
    kg = load_kg()
    present = sorted({r.action for r in source.records}, key=lambda s: kg.action(s).index)
    if action in ("all", None):
        return present
    keys = action.split(",") if isinstance(action, str) else list(action)
    out = []
    for key in keys:
        slug = kg.action(key.strip()).slug
        if slug not in present:
            raise AQAError(f"{source.root}: no samples of action {slug!r}")
        out.append(slug)
    return out


def action_split(
    source, splits: dict, action: str, *, seed: int = 0, protocol: str = ""
) -> dict[str, list[str]]:
    """The action's train/val/test ids; an empty validation split is carved from train (10 %, seeded)."""
    of = {r.id for r in source.records if r.action == action}
    ids = {k: sorted(i for i in splits.get(k, []) if i in of) for k in ("train", "val", "test")}
    if len(ids["train"]) < 2:
        raise AQAError(
            f"action {action}: the {protocol or 'chosen'} split has {len(ids['train'])} training samples; "
            "at least 2 are needed"
        )
    if not ids["val"]:
        rng = np.random.default_rng([seed, sum(map(ord, action))])
        ids["train"], ids["val"] = hold_out(ids["train"], VAL_FRACTION, rng, min_rest=2)
        if not ids["val"]:
            ids["val"] = list(ids["train"])  # 2 samples: validate on train (said in the meta)
    return ids


def slot_matrix(source, ids: Sequence[str], action) -> np.ndarray:
    """``(n, S)`` 0/1 of the action's (keystep, error) slots in each sample's final annotation."""
    act = load_kg().action(action)
    col = {s.id: j for j, s in enumerate(act.slots)}
    out = np.zeros((len(ids), len(act.slots)), dtype=np.float32)
    annotation = getattr(source, "annotation", None)
    if annotation is None:
        raise AQAError(
            f"{source.root} ({source.layout} layout) has no (keystep, error) annotations; the error-aware model "
            "needs them (use a native-layout dataset)"
        )
    for i, sid in enumerate(ids):
        for s in annotation(source.record(sid)).slots:
            cols = [col[s]] if s in col else [j for j, x in enumerate(act.slots) if x.error == s]
            out[i, cols] = 1.0
    return out


@dataclass
class ActionData:
    """Raw (unstandardised) features, scores and slots of one action's train/val/test samples."""

    action: str
    ids: dict[str, list[str]]
    features: dict[str, dict[str, np.ndarray]]  # split -> key -> (n, d)
    scores: dict[str, np.ndarray]  # split -> (n,)
    slots: dict[str, np.ndarray] | None = None  # split -> (n, S)
    keys: tuple[str, ...] = field(default=())


def fit_transform(data: ActionData, *, normalize: bool) -> tuple[dict, dict]:
    """``(arrays per split, meta)``: features standardised with the training split's mean/std and scores
    normalised to 0-100 over the training split's (min, max) when ``normalize`` (CoRe, USDL)."""
    tr = data.scores["train"]
    lo, hi = float(tr.min()), float(tr.max())
    if not hi > lo:
        hi = lo + 1.0  # every training score equal: any range keeps them at 0
    stats = {}
    for key, x in data.features["train"].items():
        mu, sd = x.mean(0), x.std(0)
        stats[key] = {"mean": mu.tolist(), "std": np.where(sd > 1e-8, sd, 1.0).tolist()}
    meta = {
        "action": data.action,
        "score_range": [lo, hi],
        "normalized": bool(normalize),
        "standardize": stats,
    }
    return {k: transform(data, k, meta) for k in ("train", "val", "test")}, meta


def transform(data: ActionData, split: str, meta: dict) -> dict[str, np.ndarray]:
    """One split's model inputs (the trainer's dict of arrays) under a fitted ``meta``."""
    out = standardize(data.features[split], meta)
    out["score"] = to_model_scale(data.scores[split], meta)
    if data.slots is not None:
        out["slots"] = data.slots[split]
    return out


def standardize(features: dict[str, np.ndarray], meta: dict) -> dict[str, np.ndarray]:
    """Features ``{key: (N, D)}`` standardised with the training split's mean/std saved in ``meta``."""
    out = {}
    for key, x in features.items():
        s = meta["standardize"][key]
        out[key] = ((x - np.asarray(s["mean"])) / np.asarray(s["std"])).astype(np.float32)
    return out


def to_model_scale(scores, meta: dict) -> np.ndarray:
    lo, hi = meta["score_range"]
    s = np.asarray(scores, dtype=np.float32)
    return ((s - lo) / (hi - lo) * 100.0).astype(np.float32) if meta["normalized"] else s


def from_model_scale(scores, meta: dict) -> np.ndarray:
    lo, hi = meta["score_range"]
    s = np.asarray(scores, dtype=np.float64)
    return s / 100.0 * (hi - lo) + lo if meta["normalized"] else s


def model_args_for(model: str, variant: str, data: ActionData, extra: dict | None = None) -> dict:
    """Builder arguments: the variant, feature widths the builder accepts, the action for error-aware models."""
    params = inspect.signature(model_entry(model).fn).parameters
    args = {"variant": variant}
    widths = {"video_dim": ("video_v1", "video_v2"), "pose_dim": ("pose",), "emg_dim": ("emg",)}
    for arg, keys in widths.items():
        present = [k for k in keys if k in data.features["train"]]
        if arg in params and present:
            args[arg] = int(data.features["train"][present[0]].shape[1])
    if "actions" in params:
        args["actions"] = [load_kg().action(data.action).class_id]
    args.update(extra or {})
    return args


# ----------------------------------------------------------------------------------------------- metrics


def score_metrics(true, pred, score_range) -> dict[str, float]:
    """``{"spearman", "rl2" (x100 over score_range), "n"}`` on the original score scale."""
    return {
        "spearman": spearman_score(true, pred),
        "rl2": relative_l2_error(true, pred, score_range=tuple(score_range), percent=True),
        "n": len(true),
    }


def et_reports(truth: list[np.ndarray], probs: list[np.ndarray], actions: list[str]) -> list[dict]:
    """Per-error-type precision/recall/F1 over every (sample, slot) decision of that type, all actions pooled."""
    kg = load_kg()
    pairs: dict[str, tuple[list, list]] = {}
    for t, p, a in zip(truth, probs, actions, strict=True):
        for j, slot in enumerate(kg.action(a).slots):
            tt, pp = pairs.setdefault(slot.error, ([], []))
            tt.append(t[:, j])
            pp.append(p[:, j])
    out = []
    for et in sorted(pairs):
        t = np.concatenate(pairs[et][0])[:, None]
        p = np.concatenate(pairs[et][1])[:, None]
        r = precision_recall_f1(t, p, labels=[et], threshold=0.5)[0]
        out.append(
            {"error": et, "precision": r.precision, "recall": r.recall, "f1": r.f1, "support": r.support}
        )
    return out


def summarize(per_action: dict[str, dict]) -> dict[str, float]:
    """Fisher-z average ρ and mean R-ℓ2 over actions."""
    rhos = [m["spearman"] for m in per_action.values()]
    return {
        "spearman_fisher_z": fisher_z_mean(rhos) if rhos else math.nan,
        "rl2_mean": float(np.mean([m["rl2"] for m in per_action.values()])) if rhos else math.nan,
        "actions": len(rhos),
    }


# ----------------------------------------------------------------------------------------------- run folder


def write_json(path: Path, doc) -> None:
    atomic_write_text(path, json_text(doc, indent=1) + "\n")


def read_run(run: str | Path) -> dict:
    """``run.json`` of a run folder (raises :class:`AQAError` when it is not one)."""
    if Path(run).is_dir():
        require_complete(run, "run folder")
    path = Path(run) / "run.json"
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise AQAError(f"{run}: not a flexaqa AQA run folder (cannot read run.json: {exc})") from exc
    if doc.get("format") != RUN_FORMAT:
        raise AQAError(f"{path}: expected format {RUN_FORMAT!r}")
    return doc


def run_mode(doc: dict) -> str:
    """``frozen`` (cached features; runs written before modes existed) or ``end_to_end``."""
    return doc.get("mode", "frozen")


def check_resume_mode(out: str | Path, mode: str) -> None:
    """Refuse ``--resume`` of a run folder trained in the other mode (its checkpoints hold another model)."""
    if (Path(out) / "run.json").is_file():
        found = run_mode(read_run(out))
        if found != mode:
            what, flag = (
                ("an end-to-end", "with") if found == "end_to_end" else ("a frozen-encoder", "without")
            )
            raise AQAError(
                f"{out} is {what} run: --resume it {flag} --end-to-end, or train into a new --out folder"
            )


def load_action_meta(run: str | Path, action: str) -> dict:
    path = Path(run) / action / "meta.json"
    if not path.is_file():
        raise AQAError(f"{path}: action {action} has no trained model")
    return json.loads(path.read_text(encoding="utf-8"))


def prediction_records(items: Sequence[dict]) -> list[dict]:
    """:func:`predict_samples` output as VideoQA model predictions (``flexaqa vqa answer --kg-coach``):
    ``{"sample_id", "action", "slots": ["AK04:ET005", ...], "score"}`` per sample."""
    return [
        {
            "sample_id": it["sample"],
            "action": it["action"],
            "slots": [f"{e['keystep']}:{e['error']}" for e in it.get("errors", [])],
            "score": round(float(it["score"]), 4),
        }
        for it in items
    ]


def prediction_item(rec, pred: dict, head, threshold: float) -> dict:
    """One sample's prediction: score, true score and, from an error-aware ``head``, its errors with feedback."""
    item = {"sample": rec.id, "action": rec.action, "score": float(pred["score"][0]), "true_score": rec.score}
    if "slot_probs" in pred:
        why = head.explain(pred["slot_probs"][0], 0, threshold=threshold)
        item.update(fkg_score_of_errors=why["score"], errors=why["errors"])
    return item


# ----------------------------------------------------------------------------------------------- the runner


def random_init_encoders(
    video: str, video_weights, pose: str, pose_weights, keys: Sequence[str]
) -> list[str]:
    """The encoders behind ``keys`` that run with random weights although pretrained ones exist (I3D without
    ``--video-weights``, ST-GCN without ``--pose-weights``); ``small3d`` is random by design and not listed."""
    out = []
    if any(k.startswith("video") for k in keys) and video.startswith("i3d") and not video_weights:
        out.append(f"video {video}")
    if "pose" in keys and pose.startswith("stgcn") and not pose_weights:
        out.append(f"pose {pose}")
    return out


class RandomInitWarning(UserWarning):
    """An encoder that has pretrained weights runs without them: its results are not benchmark numbers."""


class Mode(Protocol):
    """One way of training the per-action models; :func:`train_actions` and friends drive it.

    ``prepare`` loads what training needs of one action (raw scores, slots, features for the frozen mode),
    ``fit`` trains its model, ``predict`` scores samples with a trained model, ``load`` reads one back.
    """

    name: str  # run.json "mode": frozen | end_to_end

    def settings(self) -> dict[str, Any]:
        """The mode's entries of run.json (its feature or encoder settings)."""

    def random_init(self, keys: Sequence[str]) -> list[str]:
        """The encoders behind ``keys`` that would run with random weights although pretrained ones exist."""

    def check(self, source, keys: Sequence[str]) -> None:
        """Refuse a dataset this mode cannot read (missing views, ...) before any work."""

    def prepare(self, source, ids: dict[str, list[str]], action: str, *, model: str, keys, progress: bool):
        """The action's :class:`ActionData` (raw, unstandardised)."""

    def fit(
        self,
        config,
        source,
        data: ActionData,
        arrays: dict,
        meta: dict,
        *,
        model: str,
        variant: str,
        run_dir,
        resume: bool,
    ):
        """Train one action's model on ``arrays["train"]``, select on ``"val"``: ``(trainer FitResult, the
        action's RunConfig)``."""

    def fit_metrics(self, result) -> dict[str, Any]:
        """What the mode adds to an action's test metrics from its fit (e.g. seconds per epoch)."""

    def predict(
        self,
        fitted,
        source,
        data: ActionData,
        split: str,
        arrays: dict,
        meta: dict,
        *,
        batch_size: int,
        progress: bool = False,
    ) -> dict[str, np.ndarray]:
        """``{"score": original scale, ["slot_probs"]}`` of ``fitted`` on one split of ``data``."""

    def load(self, run: Path, action: str) -> tuple[Any, dict]:
        """``(model, meta)`` of a trained action (best validation weights)."""

    def load_split(
        self, source, ids: list[str], action: str, meta: dict, *, require_scores: bool, progress: bool
    ) -> ActionData:
        """:class:`ActionData` whose ``test`` split is ``ids`` (the samples to score after training)."""

    def head(self, model):
        """The registry scoring head of a loaded model (its ``explain`` gives error feedback)."""


# run.json settings that a rerun or a resume may change: where it runs, how fast it reads, how it shows progress
FREE_SETTINGS = frozenset({"progress", "device", "workers", "cache_mb"})


def _differences(old: dict, new: dict, *, free=FREE_SETTINGS) -> list[str]:
    out = []
    for key in sorted(set(old) | set(new)):
        a, b = old.get(key), new.get(key)
        if key in free or a == b:
            continue
        if isinstance(a, dict) and isinstance(b, dict):
            out += [f"{key}.{k}" for k in _differences(a, b, free=free)]
        else:
            out.append(key)
    return out


def check_run_folder(out: Path, doc: dict, *, resume: bool, force: bool) -> None:
    """Refuse to mix runs in one folder: another run in ``out`` (other model, data, split, settings ...) is
    refused unless ``force`` (:func:`train_actions` then deletes its checkpoints); ``resume`` continues only the
    same run (its ``epochs`` may grow, nothing else). Reads only."""
    if resume and force:
        raise AQAError("--resume continues a run and --force starts it over: give one of them")
    if force or not (out / "run.json").is_file():
        return
    old = read_run(out)
    if resume:
        check_resume_mode(out, doc["mode"])
    free = FREE_SETTINGS | {"random_init"} | ({"epochs"} if resume else {"config"})
    diff = _differences(old, doc, free=free)
    if diff:
        k = diff[0]
        at = k.split(".")
        a, b = old, doc
        for part in at:
            a, b = (a or {}).get(part), (b or {}).get(part)
        what = "--resume continues the run in it" if resume else "it holds another run"
        raise AQAError(
            f"{out}: {what}, but its run.json has {k} = {a!r} and this command {b!r}; "
            + ("resume with the same settings (only epochs may grow), " if resume else "")
            + "train into a new --out folder, or give --force to delete the old run and start over"
        )


def _check_before_lock(out: Path, doc: dict, *, resume: bool, force: bool) -> None:
    """:func:`check_run_folder` before the folder's lock is taken, so a refused command leaves the folder as it
    was. A folder being written (the lock then refuses it) or left incomplete is checked under the lock only."""
    if resume and force:
        raise AQAError("--resume continues a run and --force starts it over: give one of them")
    if out.is_dir():
        try:
            require_complete(out, "run folder")
        except (BusyError, IncompleteError):
            return
    check_run_folder(out, doc, resume=resume, force=force)


def _open_run(hold: contextlib.ExitStack, out: Path, doc: dict, *, resume: bool, force: bool) -> None:
    """Check the run folder, lock it in ``hold``, check it again under the lock (another writer may have been
    first), clear another run with ``force``, write ``run.json``."""
    _check_before_lock(out, doc, resume=resume, force=force)
    hold.enter_context(output_dir(out, mode="overwrite"))
    check_run_folder(out, doc, resume=resume, force=force)
    if force and (out / "run.json").is_file():
        old = read_run(out)
        for act in old.get("actions", []):
            shutil.rmtree(out / act, ignore_errors=True)
        for name in ("train_results.json", "eval.json"):
            (out / name).unlink(missing_ok=True)
    write_json(out / "run.json", doc)


def _warn_random_init(names: list[str]) -> None:
    if names:
        warnings.warn(
            f"RANDOM INIT: {', '.join(names)} run(s) without pretrained weights; the results are not benchmark "
            "numbers (give --video-weights / --pose-weights)",
            RandomInitWarning,
            stacklevel=3,
        )


def train_actions(
    mode: Mode,
    data: str | Path,
    *,
    out: str | Path,
    model: str,
    variant: str,
    action="all",
    split="auto",
    config=None,
    resume: bool = False,
    force: bool = False,
    progress: bool = True,
) -> dict:
    """Train one ``model`` per action with ``mode``; returns ``{action: test metrics}`` (best epoch on validation).

    ``config`` (a :class:`~flexaqa.train.RunConfig`) seeds the split, its validation carving and training.
    Arguments, splits and the run folder (:func:`check_run_folder`) are checked first; only then is ``out``
    locked (:func:`flexaqa._io.output_dir`), so a refused command leaves an earlier run in it as it was. Under
    ``torchrun`` rank 0 alone checks the run folder, holds its lock and writes the files; the other ranks wait
    for it (:func:`~flexaqa.train.distributed.on_rank_zero`) and only train.
    """
    keys = check_model(model, variant)
    out = check_output_dir(out)
    config = config or RunConfig()
    rank, _ = init_distributed()
    source = open_dataset(data)
    protocol, splits, split_seed = resolve_split(source, split, seed=config.seed)
    actions = action_list(source, action)
    mode.check(source, keys)
    random_init = mode.random_init(keys)
    doc = {
        "format": RUN_FORMAT,
        "mode": mode.name,
        "data": str(Path(data).resolve()),
        "layout": source.layout,
        "model": model,
        "variant": variant,
        "split": protocol,
        "split_seed": split_seed,
        **mode.settings(),
        "actions": actions,
        "config": config.to_dict(),
        "random_init": random_init,
    }
    split_ids = {}  # every action's split before the folder is touched: an empty one is refused now
    for act in actions:
        split_ids[act] = action_split(source, splits, act, seed=config.seed, protocol=protocol)
        if not split_ids[act]["test"]:
            raise AQAError(f"action {act}: the {protocol} split has no test samples")
    # Only rank 0 reads and writes the folder (it holds its lock): another rank that checked it could find the
    # run.json rank 0 has just written and be refused as a reader of a folder being written. The folder is
    # checked before its lock is taken, so a refused command leaves a finished run in it finished.
    with contextlib.ExitStack() as hold:  # rank 0 holds the folder's lock in it
        on_rank_zero(_open_run, hold, out, doc, resume=resume, force=force)
        _warn_random_init(random_init)
        results = {}
        for act, ids in split_ids.items():
            ad = mode.prepare(source, ids, act, model=model, keys=keys, progress=progress)
            arrays, meta = fit_transform(ad, normalize=not needs_slots(model))
            res, cfg = mode.fit(
                config,
                source,
                ad,
                arrays,
                meta,
                model=model,
                variant=variant,
                run_dir=out / act,
                resume=resume,
            )
            pred = mode.predict(res.model, source, ad, "test", arrays, meta, batch_size=cfg.batch_size)
            metrics = score_metrics(ad.scores["test"], pred["score"], meta["score_range"])
            metrics.update(best_epoch=res.best_epoch, val=res.best, **mode.fit_metrics(res))
            results[act] = metrics
            if rank == 0:
                extra = {"mode": mode.name} if mode.name != "frozen" else {}
                write_json(
                    out / act / "meta.json",
                    {
                        **meta,
                        **extra,
                        "variant": variant,
                        "model": model,
                        "split": protocol,
                        "ids": ids,
                        "keys": list(ad.keys),
                        "test": metrics,
                    },
                )
        if rank == 0:
            summary = {"per_action": results, "summary": summarize(results), "random_init": random_init}
            write_json(out / "train_results.json", summary)
        return results


def _open(doc: dict, data):
    return open_dataset(data or doc["data"])


def eval_actions(
    mode: Mode, run: str | Path, *, data=None, split: str = "test", progress: bool = True
) -> dict:
    """Per-action ρ and R-ℓ2 (x100, training range) on ``split``, their Fisher-z / mean summary and, for
    error-aware models, per-error-type precision/recall/F1. Writes ``eval.json`` in the run."""
    doc = read_run(run)
    run = Path(run)
    source = _open(doc, data)
    per_action, truth, probs, acts = {}, [], [], []
    for act in doc["actions"]:
        model, meta = mode.load(run, act)
        ids = meta["ids"][split]
        if not ids:
            raise AQAError(f"action {act}: the run's {split} split is empty")
        ad = mode.load_split(source, ids, act, meta, require_scores=True, progress=progress)
        pred = mode.predict(model, source, ad, "test", None, meta, batch_size=8, progress=progress)
        per_action[act] = score_metrics(ad.scores["test"], pred["score"], meta["score_range"])
        if "slot_probs" in pred and getattr(source, "annotation", None) is not None:
            slots = slot_matrix(source, ids, act)
            truth.append(slots)
            probs.append(pred["slot_probs"][:, : slots.shape[1]])
            acts.append(act)
    result = {"run": str(run), "split": split}
    if mode.name != "frozen":
        result["mode"] = mode.name
    result.update(
        per_action=per_action, summary=summarize(per_action), random_init=doc.get("random_init", [])
    )
    if acts:
        result["errors"] = et_reports(truth, probs, acts)
    write_json(run / "eval.json", result)
    return result


def predict_actions(
    mode: Mode, run: str | Path, samples: Sequence[str], *, data=None, threshold: float = 0.5
):
    """Score of each sample id with the run's model for its action; error-aware runs add the predicted
    (keystep, error) slots with their feedback (:meth:`ErrorAwareAQA.explain`)."""
    doc = read_run(run)
    source = _open(doc, data)
    models: dict[str, tuple] = {}
    out = []
    for sid in samples:
        rec = source.record(sid)
        if rec.action not in doc["actions"]:
            raise AQAError(
                f"sample {sid} is a {rec.action}; the run has models for {', '.join(doc['actions'])}"
            )
        if rec.action not in models:
            models[rec.action] = mode.load(Path(run), rec.action)
        model, meta = models[rec.action]
        ad = mode.load_split(source, [sid], rec.action, meta, require_scores=False, progress=False)
        pred = mode.predict(model, source, ad, "test", None, meta, batch_size=1)
        item = prediction_item(rec, pred, mode.head(model), threshold)
        if not math.isfinite(item["score"]):
            raise AQAError(f"sample {sid}: the model gave a non-finite score")
        out.append(item)
    return out
