"""The FLEX-VideoQA dialogue (paper section 3.4, Figure 9): four turns per sample,
"action recognition -> action standards -> action evaluation -> action scoring".

Questions and reference answers come only from the annotations and the FKG, so they always agree with the
labels. Answers are phrased from a few templates chosen by a seeded generator, so they are not all identical.

>>> from flexaqa.vqa import QASource, build_dialogue
>>> qas = build_dialogue(QASource("s1", "squat", "test", ("AK43:ET006",)), seed=0)
>>> [qa.qtype for qa in qas]
['recognition', 'standards', 'evaluation', 'scoring']
>>> qas[3].score
95.4545
"""

from __future__ import annotations

import zlib
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import numpy as np

from flexaqa._io import atomic_write_text, json_text, require_complete
from flexaqa.kg import Action, KnowledgeGraph, load_kg, resolve_slots, score
from flexaqa.vqa._records import (
    QA,
    QUESTION_TYPES,
    MissingVQAFileError,
    QASource,
    VQAError,
    iter_jsonl,
    write_jsonl,
)
from flexaqa.vqa.metrics import parse_score

QUESTIONS = {
    "recognition": "What exercise is the person performing in this video?",
    "standards": "What are the standards of correct form for this exercise?",
    "evaluation": "What did the person do wrong, and how can they fix it?",
    "scoring": "What score out of 100 does this performance earn?",
}

_NUMBERS = ("no", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten")

_RECOGNITION = (
    "The person is performing a {name}.",
    "This is a {name}, a {equipment} exercise that mainly works the {muscles}.",
    "The exercise in this video is the {name}.",
    "It's a {name}: a {equipment} movement targeting the {muscles}.",
)
_STANDARDS_INTRO = (
    "A correct {name} goes through three phases.",
    "Good form in the {name} follows these standards, phase by phase.",
    "Here is what correct form looks like for the {name}.",
)
_PHASE_LEAD = ("In the {phase} phase: {text}", "{Phase} phase: {text}", "During the {phase} phase: {text}")
_EVAL_INTRO = (
    "I noticed {count} problem{s} in this {name}.",
    "This {name} has {count} form error{s} to work on.",
    "Here is what went wrong in this {name}, and how to fix it.",
    "Your {name} needs attention in {count} place{s}.",
)
_EVAL_ITEM = (
    "In the {phase} phase I noticed: {error} To fix it, {fix}",
    "During the {phase} phase: {error} {Fix}",
    "{Phase} phase: {error} How to correct it: {fix}",
    "Watch the {phase} phase, where I saw this: {error} Try this: {fix}",
)
_EVAL_PRIORITY = (
    "Fix the {error_short} first, since it {why}",
    "The most important correction is the {error_short}: it {why}",
    "Start with the {error_short}, because it {why}",
)
_FLAWLESS = (
    "Well done! This {name} meets every standard: no errors in the preparation, concentric or eccentric phase.",
    "Excellent form. I found no errors in this {name}; keep training exactly like this.",
    "Great job: this {name} is clean in every phase, with no form errors to correct.",
)
_SCORING = (
    "This performance scores {score} out of 100.",
    "The score is {score}/100.",
    "It earns a score of {score} out of 100.",
)
_SCORING_DETAIL = (
    " The observed errors cost {penalty} of the {total} penalty points of the {name}.",
    " {count_cap} error{s} cost {penalty} of {total} penalty points.",
)
_SCORING_FLAWLESS_DETAIL = (
    " No penalty points were lost.",
    " Every standard was met, so no points were deducted.",
)

# Why an error matters, from its FKG severity class (paper section 7.4).
_SEVERITY_WHY = {
    "joint_safety": "puts your joints at risk.",
    "stability_trajectory_force": "undermines stability and the path of the movement.",
    "posture_amplitude": "sets up the whole movement.",
    "fine_control": "costs you control of the movement.",
    "breathing": "affects your breathing rhythm and bracing.",
}


def _lower_first(text: str) -> str:
    """``'Open grip.'`` -> ``'open grip.'``; leaves acronyms (``'ROM ...'``) alone."""
    if len(text) > 1 and text[0].isupper() and not text[1].isupper():
        return text[0].lower() + text[1:]
    return text


def _upper_first(text: str) -> str:
    return text[:1].upper() + text[1:]


def _pick(rng: np.random.Generator, options: Sequence[str]) -> str:
    return options[int(rng.integers(len(options)))]


def _number(n: int) -> str:
    return _NUMBERS[n] if n < len(_NUMBERS) else str(n)


def format_score(value: float) -> str:
    """How answers write a score: two decimals (``94.30``); :func:`flexaqa.vqa.parse_score` reads it back."""
    return f"{value:.2f}"


def answer_recognition(action: Action, rng: np.random.Generator) -> str:
    muscles = list(action.target_muscles[:3])
    muscle_text = ", ".join(muscles[:-1]) + f" and {muscles[-1]}" if len(muscles) > 1 else "".join(muscles)
    return _pick(rng, _RECOGNITION).format(name=action.name, equipment=action.equipment, muscles=muscle_text)


def answer_standards(action: Action, kg: KnowledgeGraph, rng: np.random.Generator) -> str:
    parts = [_pick(rng, _STANDARDS_INTRO).format(name=action.name)]
    lead = _pick(rng, _PHASE_LEAD)
    for phase in action.phases:
        text = " ".join(kg.keysteps[ke.keystep].text for ke in phase.keysteps)
        parts.append(lead.format(phase=phase.name, Phase=phase.name.capitalize(), text=text))
    return " ".join(parts)


def answer_evaluation(
    action: Action, slots: Sequence[str], kg: KnowledgeGraph, rng: np.random.Generator
) -> str:
    """Natural-language errors and fixes of ``slots`` (resolved ``AKxx:ETyyy``), or praise when there are none."""
    result = score(action, slots, kg=kg)
    if not result.errors:
        return _pick(rng, _FLAWLESS).format(name=action.name)
    n = len(result.errors)
    parts = [_pick(rng, _EVAL_INTRO).format(count=_number(n), s="" if n == 1 else "s", name=action.name)]
    for e in result.errors:
        item = _pick(rng, _EVAL_ITEM)
        fix = _lower_first(e.feedback)
        error = _lower_first(e.text)
        if e.severity == "breathing":  # "Inhalation." alone reads oddly: say what is wrong with it
            error = error.rstrip(".") + " at the wrong moment of the movement."
        parts.append(
            item.format(
                phase=e.phase, Phase=e.phase.capitalize(), error=error, fix=fix, Fix=_upper_first(fix)
            )
        )
    if n > 1:
        worst = max(result.errors, key=lambda e: e.weight)  # first of the heaviest, in slot order
        short = _lower_first(worst.text).rstrip(".")
        why = _SEVERITY_WHY.get(worst.severity, "weighs most on the score.")
        parts.append(_pick(rng, _EVAL_PRIORITY).format(error_short=short, why=why))
    return " ".join(parts)


def answer_scoring(
    action: Action,
    slots: Sequence[str],
    kg: KnowledgeGraph,
    rng: np.random.Generator,
    *,
    stated_score: float | None = None,
) -> str:
    """The FKG score of ``slots`` with its penalty breakdown; ``stated_score`` (e.g. a regressor's output)
    replaces the FKG score and drops the breakdown."""
    result = score(action, slots, kg=kg)
    value = result.score if stated_score is None else float(stated_score)
    text = _pick(rng, _SCORING).format(score=format_score(value))
    if stated_score is not None:
        return text
    if not result.errors:
        return text + _pick(rng, _SCORING_FLAWLESS_DETAIL)
    n = len(result.errors)
    detail = _pick(rng, _SCORING_DETAIL).format(
        penalty=result.penalty,
        total=result.total,
        name=action.name,
        count_cap=_number(n).capitalize(),
        s="" if n == 1 else "s",
    )
    return text + detail


def render_answers(
    action: str | Action,
    slots: Iterable[str],
    *,
    kg: KnowledgeGraph | None = None,
    rng: np.random.Generator,
    stated_score: float | None = None,
) -> dict[str, str]:
    """The four answers for ``action`` with observed ``slots``, keyed by question type.

    Used for the reference answers and by the KG-coach answerer (with predicted action, slots and score).
    """
    kg = kg or load_kg()
    act = kg.action(action)
    resolved = [s.id for s in _resolved(act, slots, kg)]
    return {
        "recognition": answer_recognition(act, rng),
        "standards": answer_standards(act, kg, rng),
        "evaluation": answer_evaluation(act, resolved, kg, rng),
        "scoring": answer_scoring(act, resolved, kg, rng, stated_score=stated_score),
    }


def answer_problems(qa: QA, answer: str | None = None, *, kg: KnowledgeGraph | None = None) -> list[str]:
    """Ways ``answer`` (default: ``qa.answer``) disagrees with the labels of ``qa``; empty when consistent.

    Recognition must name the action, standards must state every keystep, evaluation must state every
    annotated error and its fix (and none when the sample is flawless), scoring must state the FKG score.
    """
    kg = kg or load_kg()
    act = kg.action(qa.action)
    answer = qa.answer if answer is None else answer
    low = answer.casefold()
    problems = []
    if qa.qtype == "recognition" and act.name.casefold() not in low:
        problems.append(f"does not name the action {act.name!r}")
    elif qa.qtype == "standards":
        problems += [f"misses keystep {k}" for k in act.keystep_codes if kg.keysteps[k].text not in answer]
    elif qa.qtype == "evaluation":
        observed = score(act, qa.slots, kg=kg).errors
        for e in observed:
            if e.text.rstrip(".").casefold() not in low:
                problems.append(f"misses error {e.keystep}:{e.error}")
            if e.feedback.rstrip(".").casefold() not in low:
                problems.append(f"misses the fix of {e.keystep}:{e.error}")
        if not observed:
            problems += [
                f"names error {s.id} of a flawless sample"
                for s in act.slots
                if kg.errors[s.error].text.rstrip(".").casefold() in low
            ]
    elif qa.qtype == "scoring":
        stated = parse_score(answer)
        if stated is None or abs(stated - qa.score) > 0.005 + 1e-9:
            problems.append(f"states score {stated}, expected {format_score(qa.score)}")
    return problems


def _resolved(action: Action, slots: Iterable[str], kg: KnowledgeGraph):
    return resolve_slots(action, list(slots), kg=kg)


def sample_rng(seed: int, sample_id: str) -> np.random.Generator:
    """The generator of one sample: depends on the seed and the id only, not on the order of samples."""
    return np.random.default_rng([int(seed), zlib.crc32(sample_id.encode("utf-8"))])


def build_dialogue(
    source: QASource,
    *,
    kg: KnowledgeGraph | None = None,
    rng: np.random.Generator | None = None,
    seed: int = 0,
    rephrase: Callable[[QA], str] | None = None,
) -> list[QA]:
    """The four QA pairs of one sample, in dialogue order.

    Args:
        source: the annotated sample.
        kg: the knowledge graph (default: the shipped FKG).
        rng: template chooser; default ``sample_rng(seed, source.sample_id)``.
        seed: used only when ``rng`` is None.
        rephrase: optional hook ``rephrase(qa) -> str`` applied to the evaluation answer (e.g. an LLM pass).
            Off by default; what it returns is no longer guaranteed to match the labels.
    """
    kg = kg or load_kg()
    rng = rng if rng is not None else sample_rng(seed, source.sample_id)
    try:
        act = kg.action(source.action)
        slots = tuple(s.id for s in _resolved(act, source.slots, kg))
        answers = render_answers(act, slots, kg=kg, rng=rng)
        fkg_score = score(act, slots, kg=kg).score
    except VQAError:
        raise
    except ValueError as exc:  # KGError: unknown action, slot not of this action, ...
        raise VQAError(f"sample {source.sample_id!r}: {exc}") from None
    qas = []
    for turn, qtype in enumerate(QUESTION_TYPES):
        qas.append(
            QA(
                id=f"{source.sample_id}:{qtype}",
                sample_id=source.sample_id,
                turn=turn,
                qtype=qtype,
                question=QUESTIONS[qtype],
                answer=answers[qtype],
                action=act.slug,
                split=source.split,
                slots=slots,
                score=round(fkg_score, 4),
                videos=dict(source.videos),
                fps=source.fps,
                n_frames=source.n_frames,
                start=source.start,
                end=source.end,
                view_fps=dict(source.view_fps),
                view_frames=dict(source.view_frames),
            )
        )
    if rephrase is not None:
        qa = qas[2]
        new = rephrase(qa)
        if not isinstance(new, str) or not new.strip():
            raise VQAError(
                f"sample {source.sample_id!r}: the rephrase hook returned {new!r}; expected a non-empty string"
            )
        qas[2] = QA(**{**qa.__dict__, "answer": new.strip()})
    return qas


def build_qa_set(
    sources: Iterable[QASource],
    out_dir: str | Path,
    *,
    kg: KnowledgeGraph | None = None,
    seed: int = 0,
    rephrase: Callable[[QA], str] | None = None,
    progress: bool = False,
) -> dict[str, int]:
    """Build the dialogues of ``sources`` and write ``qa_<split>.jsonl`` per split plus ``manifest.json``.

    Returns the number of QA pairs per split. Sample ids must be unique.
    """
    from tqdm import tqdm

    kg = kg or load_kg()
    sources = list(sources)
    if not sources:
        raise VQAError("no samples to build QA pairs from")
    dup = [k for k, n in Counter(s.sample_id for s in sources).items() if n > 1]
    if dup:
        raise VQAError(f"sample ids must be unique; repeated: {', '.join(dup[:5])}")
    by_split: dict[str, list[dict]] = {}
    for src in tqdm(sources, desc="building QA", disable=not progress, unit="sample"):
        for qa in build_dialogue(src, kg=kg, seed=seed, rephrase=rephrase):
            by_split.setdefault(src.split, []).append(qa.to_dict())
    out_dir = Path(out_dir)
    counts = {}
    for split, rows in sorted(by_split.items()):
        write_jsonl(out_dir / f"qa_{split}.jsonl", rows)
        counts[split] = len(rows)
    manifest = {
        "format": "flexaqa-videoqa",
        "version": 1,
        "fkg_version": kg.version,
        "seed": seed,
        "rephrased": rephrase is not None,
        "question_types": list(QUESTION_TYPES),
        "splits": counts,
        "samples": len(sources),
    }
    atomic_write_text(out_dir / "manifest.json", json_text(manifest, indent=2) + "\n")
    return counts


def qa_files(qa_dir: str | Path) -> dict[str, Path]:
    """Split name -> QA file of a folder written by :func:`build_qa_set`."""
    qa_dir = Path(qa_dir)
    if not qa_dir.is_dir():
        what = "is a file" if qa_dir.exists() else "no such folder"
        raise MissingVQAFileError(
            f"{qa_dir}: {what}; expected a folder of QA files (`flexaqa vqa build` writes one)"
        )
    require_complete(qa_dir, "QA folder")
    files = {p.stem[len("qa_") :]: p for p in sorted(qa_dir.glob("qa_*.jsonl"))}
    if not files:
        raise VQAError(f"{qa_dir}: no qa_<split>.jsonl files (build them with `flexaqa vqa build`)")
    return files


def load_qa_set(qa_dir: str | Path, split: str | None = None) -> list[QA]:
    """Read the QA pairs of one split (or all splits) back from ``qa_dir``."""
    files = qa_files(qa_dir)
    if split is not None:
        if split not in files:
            raise VQAError(f"{qa_dir}: no split {split!r}; it has {', '.join(files)}")
        files = {split: files[split]}
    qas = [QA.from_dict(obj, f"{path}:{n}") for path in files.values() for n, obj in iter_jsonl(path)]
    dup = [k for k, n in Counter(q.id for q in qas).items() if n > 1]
    if dup:
        raise VQAError(f"{qa_dir}: QA ids must be unique; repeated: {', '.join(dup[:5])}")
    return qas
