"""Train, evaluate and predict with one model per action (paper section 4.1 protocol) on cached features.

A run folder holds ``run.json`` (data, model, variant, split, feature spec, config) and one folder per action
with the trainer's files (``config.yaml``, ``best.pt``, ``last.pt``, ``history.json``) and ``meta.json``: the
split ids, the training split's score range (used to normalise scores to 0-100 for CoRe/USDL and as the R-ℓ2
range), and the per-feature mean/std of the training split that standardises every input. ``run.json`` also
says the run's ``mode``: ``frozen`` here; ``end_to_end`` runs (:mod:`flexaqa.aqa.endtoend`) share the layout,
and :func:`eval_run` / :func:`predict_samples` hand them over to that module.
"""

from __future__ import annotations

import inspect
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from flexaqa._io import atomic_write_text, json_text, require_complete
from flexaqa.aqa import AQAError
from flexaqa.aqa.features import FeatureSpec, extract_features
from flexaqa.data import open_dataset
from flexaqa.kg import load_kg
from flexaqa.metrics import fisher_z_mean, precision_recall_f1, relative_l2_error, spearman_score
from flexaqa.train import RunConfig, config_from_dict
from flexaqa.train.checkpoint import model_from_checkpoint
from flexaqa.train.distributed import init_distributed

RUN_FORMAT = "flexaqa-aqa-run/1"
VAL_FRACTION = 0.1  # carved from train when a protocol has no validation split (official Split_4)


def needs_slots(model: str) -> bool:
    """Whether ``model`` trains on (keystep, error) slot labels (the error-aware family)."""
    return model.startswith("error_aware")


def check_model(model: str, variant: str) -> tuple[str, ...]:
    """Validate a scoring-head name and a Table-4 variant; returns the feature keys the variant reads."""
    from flexaqa.models import VARIANTS, model_entry

    entry = model_entry(model)  # unknown names raise ModelError with suggestions
    if entry.kind != "aqa":
        raise AQAError(
            f"model {model!r} is a {entry.kind} encoder, not a scoring head; use one of the 'aqa' models"
        )
    if variant not in VARIANTS:
        raise AQAError(f"unknown variant {variant!r}; choose one of {', '.join(VARIANTS)}")
    return VARIANTS[variant]


# ----------------------------------------------------------------------------------------------- data


def resolve_split(source, split: str = "auto", *, seed: int = 0) -> tuple[str, dict[str, list[str]]]:
    """``(protocol, {"train", "val", "test"} ids)``; ``auto`` is ``official`` on the release layout, else ``random``."""
    if split == "auto":
        split = (
            "official"
            if source.layout == "release" and (Path(source.root) / "Split_4").is_dir()
            else "random"
        )
    return split, source.splits(split, seed=seed)


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
        n = len(ids["train"])
        k = max(1, round(VAL_FRACTION * n)) if n >= 3 else 0
        rng = np.random.default_rng([seed, sum(map(ord, action))])
        pick = set(rng.permutation(n)[:k].tolist())
        ids["val"] = [i for j, i in enumerate(ids["train"]) if j in pick]
        ids["train"] = [i for j, i in enumerate(ids["train"]) if j not in pick] if k else ids["train"]
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


def load_action_data(
    source, ids: dict[str, list[str]], action: str, spec: FeatureSpec, *, keys: Sequence[str],
    cache_root=None, with_slots: bool = False, progress: bool = True, require_scores: bool = True,
) -> ActionData:  # fmt: skip
    """Features of ``keys`` for every split of one action (extracting what the cache lacks)."""
    allids = [i for k in ("train", "val", "test") for i in ids[k]]
    feats = extract_features(source, allids, spec, keys=keys, cache_root=cache_root, progress=progress)
    scores = np.array([np.nan if source.record(i).score is None else source.record(i).score for i in allids])
    if require_scores and not np.isfinite(scores).all():
        bad = allids[int(np.flatnonzero(~np.isfinite(scores))[0])]
        raise AQAError(f"sample {bad} has no score; AQA training needs a score for every sample")
    slots = slot_matrix(source, allids, action) if with_slots else None
    out = ActionData(action, ids, {}, {}, {} if with_slots else None, tuple(keys))
    start = 0
    for k in ("train", "val", "test"):
        sl = slice(start, start + len(ids[k]))
        out.features[k] = {key: v[sl] for key, v in feats.items()}
        out.scores[k] = scores[sl].astype(np.float32)
        if slots is not None:
            out.slots[k] = slots[sl]
        start += len(ids[k])
    return out


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
    from flexaqa.models import model_entry

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


def predict_arrays(model, arrays: dict, meta: dict) -> dict[str, np.ndarray]:
    """``{"score": original scale, ["slot_probs"]}`` of the model on one split's arrays."""
    from flexaqa.train.trainer import predict

    out = predict(model, {k: v for k, v in arrays.items() if k != "slots"})
    res = {"score": from_model_scale(out["score"], meta)}
    if "slot_logits" in out:
        from scipy.special import expit  # a sigmoid that does not overflow on large logits

        res["slot_probs"] = expit(out["slot_logits"])
    return res


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


# ----------------------------------------------------------------------------------------------- train


def _write_json(path: Path, doc) -> None:
    atomic_write_text(path, json_text(doc, indent=1) + "\n")


def train_run(
    data: str | Path,
    *,
    out: str | Path,
    model: str = "core_gart",
    variant: str = "mv+pose+emg",
    action: str = "all",
    split: str = "auto",
    config=None,
    spec: FeatureSpec | None = None,
    cache_root: str | Path | None = None,
    resume: bool = False,
    progress: bool = True,
) -> dict:
    """Train one ``model`` per action on frozen cached features; returns ``{action: test metrics}``.

    ``config`` is a :class:`~flexaqa.train.RunConfig` (model name and arguments are filled in here); its seed
    also seeds the split. Under ``torchrun`` rank 0 extracts the features first and writes the files.
    """
    keys = check_model(model, variant)
    config = config or RunConfig()
    spec = spec or FeatureSpec(seed=config.seed)
    rank, world = init_distributed()
    source = open_dataset(data)
    protocol, splits = resolve_split(source, split, seed=config.seed)
    actions = action_list(source, action)
    out = Path(out)
    if resume:
        check_resume_mode(out, "frozen")
    if rank == 0:
        _write_json(out / "run.json", {
            "format": RUN_FORMAT, "mode": "frozen", "data": str(Path(data).resolve()), "layout": source.layout,
            "model": model, "variant": variant, "split": protocol, "split_seed": config.seed, "features": spec.to_dict(),
            "cache_root": None if cache_root is None else str(Path(cache_root).resolve()), "actions": actions,
            "config": config.to_dict(),
        })  # fmt: skip
    results = {}
    for act in actions:
        ids = action_split(source, splits, act, seed=config.seed, protocol=protocol)
        if not ids["test"]:
            raise AQAError(f"action {act}: the {protocol} split has no test samples")
        load = dict(keys=keys, cache_root=cache_root, with_slots=needs_slots(model), progress=progress)
        if rank == 0:
            ad = load_action_data(source, ids, act, spec, **load)
        if world > 1:
            import torch.distributed as dist

            dist.barrier()  # rank 0 has filled the cache
        if rank != 0:
            ad = load_action_data(source, ids, act, spec, **{**load, "progress": False})
        arrays, meta = fit_transform(ad, normalize=not needs_slots(model))
        cfg_dict = config.to_dict()
        cfg_dict.update(model=model, model_args=model_args_for(model, variant, ad, config.model_args))
        cfg_dict["score_range"] = [0.0, 100.0] if meta["normalized"] else meta["score_range"]
        cfg = config_from_dict(cfg_dict)
        from flexaqa.train.trainer import fit

        res = fit(cfg, arrays["train"], arrays["val"], run_dir=out / act, resume=resume)
        pred = predict_arrays(res.model, arrays["test"], meta)
        metrics = score_metrics(ad.scores["test"], pred["score"], meta["score_range"])
        metrics.update(best_epoch=res.best_epoch, val=res.best)
        results[act] = metrics
        if rank == 0:
            _write_json(out / act / "meta.json", {**meta, "variant": variant, "model": model, "split": protocol,
                                                 "ids": ids, "keys": list(keys), "test": metrics})  # fmt: skip
    if rank == 0:
        _write_json(out / "train_results.json", {"per_action": results, "summary": summarize(results)})
    return results


# ----------------------------------------------------------------------------------------------- eval/predict


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


def load_action_model(run: str | Path, action: str):
    """``(model, meta)`` of one trained action of a run (best validation weights)."""
    d = Path(run) / action
    if not (d / "best.pt").is_file() or not (d / "meta.json").is_file():
        raise AQAError(f"{d}: action {action} has no trained model (best.pt and meta.json)")
    return model_from_checkpoint(d / "best.pt"), load_action_meta(run, action)


def run_split_ids(run: str | Path, split: str) -> list[str]:
    """Every sample id of ``split`` (train, val, test or all) over the run's actions, as the run saw them."""
    doc = read_run(run)
    names = ("train", "val", "test") if split == "all" else (split,)
    if not set(names) <= {"train", "val", "test"}:
        raise AQAError(f"split must be train, val, test or all, got {split!r}")
    ids: list[str] = []
    for action in doc["actions"]:
        meta = load_action_meta(run, action)
        ids += [i for name in names for i in meta["ids"][name]]
    return ids


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


def _open(run_doc: dict, data):
    return open_dataset(data or run_doc["data"])


def eval_run(run: str | Path, *, data=None, split: str = "test", progress: bool = True) -> dict:
    """Per-action ρ and R-ℓ2 (x100, training range) on ``split``, their Fisher-z / mean summary and, for
    error-aware models, per-error-type precision/recall/F1. Writes ``eval.json`` in the run."""
    doc = read_run(run)
    if run_mode(doc) == "end_to_end":
        from flexaqa.aqa.endtoend import eval_end_to_end

        return eval_end_to_end(run, data=data, split=split, progress=progress)
    source = _open(doc, data)
    spec = FeatureSpec.from_dict(doc["features"])
    per_action, truth, probs, acts = {}, [], [], []
    for act in doc["actions"]:
        model, meta = load_action_model(run, act)
        ids = {k: meta["ids"][k] if k == split else [] for k in ("train", "val", "test")}
        if not ids[split]:
            raise AQAError(f"action {act}: the run's {split} split is empty")
        ad = load_action_data(
            source, ids, act, spec, keys=meta["keys"], cache_root=doc.get("cache_root"),
            with_slots=needs_slots(doc["model"]) and getattr(source, "annotation", None) is not None,
            progress=progress,
        )  # fmt: skip
        pred = predict_arrays(model, transform(ad, split, meta), meta)
        per_action[act] = score_metrics(ad.scores[split], pred["score"], meta["score_range"])
        if "slot_probs" in pred and ad.slots is not None:
            truth.append(ad.slots[split])
            probs.append(pred["slot_probs"][:, : ad.slots[split].shape[1]])
            acts.append(act)
    result = {"run": str(run), "split": split, "per_action": per_action, "summary": summarize(per_action)}
    if acts:
        result["errors"] = et_reports(truth, probs, acts)
    _write_json(Path(run) / "eval.json", result)
    return result


def predict_samples(
    run: str | Path, samples: Sequence[str], *, data=None, threshold: float = 0.5
) -> list[dict]:
    """Score of each sample id with the run's model for its action; error-aware runs add the predicted
    (keystep, error) slots with their feedback (:meth:`ErrorAwareAQA.explain`)."""
    doc = read_run(run)
    if run_mode(doc) == "end_to_end":
        from flexaqa.aqa.endtoend import predict_end_to_end

        return predict_end_to_end(run, samples, data=data, threshold=threshold)
    source = _open(doc, data)
    spec = FeatureSpec.from_dict(doc["features"])
    out = []
    for sid in samples:
        rec = source.record(sid)
        if rec.action not in doc["actions"]:
            raise AQAError(
                f"sample {sid} is a {rec.action}; the run has models for {', '.join(doc['actions'])}"
            )
        model, meta = load_action_model(run, rec.action)
        ids = {"train": [], "val": [], "test": [sid]}
        ad = load_action_data(source, ids, rec.action, spec, keys=meta["keys"], cache_root=doc.get("cache_root"),
                              progress=False, require_scores=False)  # fmt: skip
        pred = predict_arrays(model, {**transform(ad, "test", meta), "score": np.zeros(1, np.float32)}, meta)
        out.append(prediction_item(rec, pred, model, threshold))
    return out


def prediction_item(rec, pred: dict, head, threshold: float) -> dict:
    """One sample's prediction: score, true score and, from an error-aware ``head``, its errors with feedback."""
    item = {"sample": rec.id, "action": rec.action, "score": float(pred["score"][0]), "true_score": rec.score}
    if "slot_probs" in pred:
        why = head.explain(pred["slot_probs"][0], 0, threshold=threshold)
        item.update(fkg_score_of_errors=why["score"], errors=why["errors"])
    return item
