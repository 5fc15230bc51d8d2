"""Answerers of FLEX-VideoQA: anything that turns reference questions into predicted answers.

- :class:`ChatEndpointAnswerer`: any OpenAI-compatible ``/chat/completions`` endpoint serving a video-capable
  model (e.g. vLLM serving Qwen2.5-VL), in the paper's three modes (section 4.2): ``plain`` (off-the-shelf),
  ``rules`` (the action's keysteps put into the evaluation and scoring prompts) and ``finetuned`` (a checkpoint
  trained on the export; prompted exactly like the training data).
- :class:`KGCoachAnswerer`: renders a trained flexaqa model's predictions (recognised action, predicted slots,
  predicted score) through the FKG, with the same templates as the references: a cheap offline baseline.

Both return ``{qa_id: answer}``; :func:`write_predictions` writes the JSONL that ``flexaqa vqa eval`` reads.
"""

from __future__ import annotations

import base64
import json
import os
import tempfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import urllib3

from flexaqa._io import json_text
from flexaqa.kg import KnowledgeGraph, load_kg
from flexaqa.vqa._records import QA, VQAError, iter_jsonl, write_jsonl
from flexaqa.vqa.dialogue import render_answers, sample_rng
from flexaqa.vqa.export import _cut_clip, _safe

MODES = ("plain", "rules", "finetuned")
NO_ANSWER = "no answer"  # stands in for an empty model reply, so it is scored (as wrong) rather than rejected
SYSTEM_PROMPT = (
    "You are an expert fitness coach. Watch the exercise video and answer the questions about the person's form "
    "precisely and concisely."
)


def dialogues(refs: Iterable[QA]) -> list[list[QA]]:
    """Group QA pairs into per-sample dialogues, turns in order, samples in first-seen order."""
    by_sample: dict[str, list[QA]] = {}
    for qa in refs:
        by_sample.setdefault(qa.sample_id, []).append(qa)
    return [sorted(turns, key=lambda q: q.turn) for turns in by_sample.values()]


def write_predictions(path: str | Path, answers: Mapping[str, str]) -> Path:
    """Write ``{"id", "answer"}`` lines, the format ``flexaqa vqa eval --preds`` reads."""
    return write_jsonl(path, ({"id": k, "answer": v} for k, v in answers.items()))


def read_partial_predictions(path: str | Path, ids: Iterable[str]) -> dict[str, str]:
    """The answers an earlier, unfinished run appended to ``path`` (none when it does not exist), limited to
    ``ids``; a last line cut short by a crash is dropped. The file is rewritten without it."""
    path = Path(path)
    if not path.exists():
        return {}
    lines = path.read_text(encoding="utf-8").splitlines()
    rows = []
    for k, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
            rows.append((str(obj["id"]), str(obj["answer"])))
        except (ValueError, KeyError, TypeError):
            if k == len(lines):  # the line being written when the run stopped
                break
            raise VQAError(
                f"{path}:{k}: not a prediction line {{id, answer}}; move the file away to answer from scratch"
            ) from None
    wanted = set(ids)
    done = {i: a for i, a in rows if i in wanted}
    write_predictions(path, dict(rows))
    return done


class PredictionAppender:
    """Append each finished dialogue's answers to a predictions JSONL file as they arrive (flushed and synced),
    so an interrupted or failing run keeps what it has."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._fh = self.path.open("a", encoding="utf-8")

    def __call__(self, turns: Sequence[QA], answers: Sequence[str]) -> None:
        for qa, a in zip(turns, answers, strict=True):
            self._fh.write(json_text({"id": qa.id, "answer": a}, ensure_ascii=False, indent=None) + "\n")
        self._fh.flush()
        os.fsync(self._fh.fileno())

    def close(self) -> None:
        self._fh.close()


# ----------------------------------------------------------------------------------------------- KG coach


@dataclass(frozen=True)
class ModelPrediction:
    """What a trained AQA model says about one sample."""

    sample_id: str
    action: str
    slots: tuple[str, ...] = ()
    score: float | None = None  # None: the FKG score of ``slots``


def read_model_predictions(path: str | Path) -> dict[str, ModelPrediction]:
    """Read JSONL lines ``{"sample_id", "action", "slots": [...], "score": optional}``."""
    out: dict[str, ModelPrediction] = {}
    for lineno, obj in iter_jsonl(path):
        missing = [k for k in ("sample_id", "action") if k not in obj]
        if missing:
            raise VQAError(f"{path}:{lineno}: missing field(s) {', '.join(missing)}")
        slots = obj.get("slots") or []
        if isinstance(slots, str) or not all(isinstance(s, str) for s in slots):
            raise VQAError(f"{path}:{lineno}: 'slots' must be a list of strings like 'AK04:ET005'")
        sid = str(obj["sample_id"])
        if sid in out:
            raise VQAError(f"{path}:{lineno}: sample {sid!r} is predicted twice")
        value = obj.get("score")
        out[sid] = ModelPrediction(
            sid, str(obj["action"]), tuple(slots), None if value is None else float(value)
        )
    if not out:
        raise VQAError(f"{path}: no predictions")
    return out


class KGCoachAnswerer:
    """Answers from model predictions rendered through the FKG.

    Args:
        predictions: sample id -> :class:`ModelPrediction` (or a dict with the same fields).
        kg: the knowledge graph (default: the shipped FKG).
        seed: template choice; offset from the reference seed so the coach does not copy reference wording.
    """

    def __init__(
        self, predictions: Mapping[str, ModelPrediction | Mapping[str, Any]], *, kg=None, seed: int = 1
    ) -> None:
        self.predictions = {
            k: v
            if isinstance(v, ModelPrediction)
            else ModelPrediction(**{**v, "slots": tuple(v.get("slots", ()))})
            for k, v in predictions.items()
        }
        self.kg: KnowledgeGraph = kg or load_kg()
        self.seed = seed

    def answer(self, refs: Sequence[QA]) -> dict[str, str]:
        missing = sorted({q.sample_id for q in refs} - set(self.predictions))
        if missing:
            raise VQAError(
                f"no model prediction for {len(missing)} sample(s) of the reference set, e.g. {', '.join(missing[:3])}"
            )
        out: dict[str, str] = {}
        for turns in dialogues(refs):
            pred = self.predictions[turns[0].sample_id]
            try:
                answers = render_answers(
                    pred.action,
                    pred.slots,
                    kg=self.kg,
                    rng=sample_rng(self.seed, pred.sample_id),
                    stated_score=pred.score,
                )
            except ValueError as exc:  # KGError: unknown action or a slot the predicted action lacks
                raise VQAError(f"prediction for sample {pred.sample_id!r}: {exc}") from None
            out.update({qa.id: answers[qa.qtype] for qa in turns})
        return out


# ----------------------------------------------------------------------------------------- chat endpoint


class ChatEndpointAnswerer:
    """A VLM behind an OpenAI-compatible chat endpoint; asks the four questions as one conversation.

    Args:
        url: base URL (``http://localhost:8000/v1``) or the full ``.../chat/completions`` URL.
        model: model name as served (for ``finetuned``, the fine-tuned checkpoint or LoRA adapter name).
        mode: ``plain``, ``rules`` or ``finetuned``.
        api_key: sent as a bearer token when given.
        media: ``file`` sends ``file://`` URLs (vLLM needs ``--allowed-local-media-path``); ``base64`` inlines
            the video bytes as a data URL.
        views: which views to send (default: every view, sorted by name).
        clip_dir: where clips of windowed samples (a repetition inside a longer video) are cut to with PyAV;
            default a folder in the system's temporary directory.
        retries: how often a request is retried on HTTP 429/5xx, a timeout or a dropped connection, waiting
            ``backoff`` x 2^k seconds (or the server's ``Retry-After``) between tries (urllib3's ``Retry``).
    """

    def __init__(
        self,
        url: str,
        model: str,
        *,
        mode: str = "plain",
        api_key: str | None = None,
        media: str = "file",
        views: Sequence[str] | None = None,
        max_tokens: int = 512,
        temperature: float = 0.0,
        timeout: float = 120.0,
        clip_dir: str | Path | None = None,
        kg: KnowledgeGraph | None = None,
        retries: int = 4,
        backoff: float = 1.0,
    ) -> None:
        if mode not in MODES:
            raise VQAError(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
        if media not in ("file", "base64"):
            raise VQAError(f"media must be 'file' or 'base64', got {media!r}")
        if not url.startswith(("http://", "https://")):
            raise VQAError(f"endpoint URL must start with http:// or https://, got {url!r}")
        url = url.rstrip("/")
        self.url = url if url.endswith("/chat/completions") else url + "/chat/completions"
        self.model, self.mode, self.api_key, self.media = model, mode, api_key, media
        self.views = tuple(views) if views else None
        self.max_tokens, self.temperature, self.timeout = max_tokens, temperature, timeout
        self.clip_dir = Path(clip_dir) if clip_dir else Path(tempfile.gettempdir()) / "flexaqa-vqa-clips"
        self.kg = kg or load_kg()
        if retries < 0 or backoff < 0:
            raise VQAError(f"retries and backoff must be >= 0, got {retries} and {backoff}")
        self.retries, self.backoff = retries, backoff
        self._http = None

    def guidelines(self, action: str) -> str:
        """The rules-mode prompt: the action's keysteps, phase by phase."""
        act = self.kg.action(action)
        lines = [f"Standards of correct form for the {act.name}:"]
        for phase in act.phases:
            for ke in phase.keysteps:
                lines.append(f"- {phase.name} ({ke.keystep}): {self.kg.keysteps[ke.keystep].text}")
        return "\n".join(lines)

    def _video_parts(self, qa: QA) -> list[dict]:
        views = self.views or tuple(sorted(qa.videos))
        parts = []
        for view in views:
            if view not in qa.videos:
                raise VQAError(f"sample {qa.sample_id!r} has no view {view!r}")
            path = Path(qa.videos[view]).resolve()
            if qa.start is not None or qa.end is not None:
                end = qa.end if qa.end is not None else float("inf")
                dest = self.clip_dir / _safe(qa.sample_id) / f"{_safe(view)}.mp4"
                path = _cut_clip(path, qa.start or 0.0, end, dest)
            if self.media == "file":
                url = path.as_uri()
            else:
                if not path.is_file():
                    raise VQAError(f"{path}: base64 media needs a video file")
                url = "data:video/mp4;base64," + base64.b64encode(path.read_bytes()).decode("ascii")
            parts.append({"type": "video_url", "video_url": {"url": url}})
        return parts

    def _post(self, messages: list[dict]) -> str:
        body = {
            "model": self.model,
            "messages": messages,
            "max_tokens": self.max_tokens,
            "temperature": self.temperature,
        }
        headers = {"Content-Type": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"

        if self._http is None:
            self._http = urllib3.PoolManager(maxsize=16)
        retry = urllib3.Retry(
            total=self.retries,
            backoff_factor=self.backoff,
            status_forcelist=(429, 500, 502, 503, 504),
            allowed_methods=None,
            raise_on_status=False,
            respect_retry_after_header=True,
        )
        tries = f" (after {self.retries + 1} tries)" if self.retries else ""
        try:
            resp = self._http.request(
                "POST",
                self.url,
                body=json.dumps(body).encode("utf-8"),
                headers=headers,
                timeout=urllib3.Timeout(total=self.timeout),
                retries=retry,
            )
        except urllib3.exceptions.HTTPError as exc:
            reason = getattr(exc, "reason", None) or exc
            raise VQAError(f"{self.url}: cannot reach the endpoint{tries} ({reason})") from None
        payload = resp.data
        if resp.status >= 400:
            detail = payload[:300].decode("utf-8", "replace")
            raise VQAError(f"{self.url}: HTTP {resp.status} from the endpoint{tries}: {detail}")
        try:
            content = json.loads(payload)["choices"][0]["message"]["content"]
        except (ValueError, KeyError, IndexError, TypeError):
            raise VQAError(f"{self.url}: not an OpenAI chat completion: {payload[:200]!r}") from None
        if isinstance(content, list):  # content parts
            content = "".join(p.get("text", "") for p in content if isinstance(p, dict))
        return str(content or "").strip()

    def answer_dialogue(self, turns: Sequence[QA]) -> list[str]:
        """Ask the turns of one sample in order; the model sees its own earlier answers."""
        messages: list[dict] = [{"role": "system", "content": SYSTEM_PROMPT}]
        answers = []
        for k, qa in enumerate(turns):
            text = qa.question
            if self.mode == "rules" and qa.qtype in ("evaluation", "scoring"):
                text = f"{self.guidelines(qa.action)}\n\n{text}"
            content: Any = [*self._video_parts(qa), {"type": "text", "text": text}] if k == 0 else text
            messages.append({"role": "user", "content": content})
            answer = self._post(messages) or NO_ANSWER
            messages.append({"role": "assistant", "content": answer})
            answers.append(answer)
        return answers

    def answer(
        self,
        refs: Sequence[QA],
        *,
        workers: int = 1,
        progress: bool = False,
        done: Mapping[str, str] | None = None,
        sink: Callable[[Sequence[QA], Sequence[str]], None] | None = None,
    ) -> dict[str, str]:
        """Answers of every dialogue in ``refs``; ``workers`` dialogues are in flight at once (servers such as
        vLLM batch concurrent requests).

        ``done`` holds answers of an earlier run: dialogues it answers completely are not asked again. ``sink``
        receives each finished dialogue as it arrives (:class:`PredictionAppender` keeps it on disk). A dialogue
        that still fails after the retries does not stop the others; at the end :class:`VQAError` says how many
        are missing and why (the first error).
        """

        from tqdm import tqdm

        done = dict(done or {})
        groups = dialogues(refs)
        out = {qa.id: done[qa.id] for turns in groups if all(q.id in done for q in turns) for qa in turns}
        todo = [turns for turns in groups if not all(q.id in done for q in turns)]
        failed: list[tuple[list[QA], Exception]] = []
        pool = ThreadPoolExecutor(max_workers=max(1, workers))
        futures = {pool.submit(self.answer_dialogue, turns): turns for turns in todo}
        try:
            for fut in tqdm(
                as_completed(futures),
                total=len(todo),
                desc=f"asking {self.model}",
                disable=not progress,
                unit="sample",
            ):
                turns = futures[fut]
                try:
                    answers = fut.result()
                except VQAError as exc:
                    failed.append((turns, exc))
                    continue
                out.update({qa.id: a for qa, a in zip(turns, answers, strict=True)})
                if sink is not None:
                    sink(turns, answers)
        except BaseException:  # Ctrl-C: drop the dialogues not started; what the sink got is kept
            pool.shutdown(wait=False, cancel_futures=True)
            raise
        pool.shutdown()
        if failed:
            raise VQAError(
                f"{len(failed)} of {len(groups)} dialogue(s) have no answer ({len(groups) - len(failed)} answered"
                f"{', kept' if sink is not None else ''}); the first failure: {failed[0][1]}"
            )
        return {qa.id: out[qa.id] for turns in groups for qa in turns}


REPHRASE_PROMPT = (
    "Rewrite this fitness coach's feedback so it reads naturally and varies in wording. Keep every error, every "
    "correction and every phase it mentions; add nothing new. Reply with the rewritten feedback only.\n\n{answer}"
)


def chat_rephraser(
    url: str, model: str, *, api_key: str | None = None, prompt: str = REPHRASE_PROMPT, timeout: float = 120.0
) -> Callable[[QA], str]:
    """A ``rephrase`` hook for :func:`flexaqa.vqa.build_dialogue` that sends each evaluation answer through an
    OpenAI-compatible chat endpoint (text only; the paper used DeepSeek-V3 for this step)."""
    client = ChatEndpointAnswerer(url, model, api_key=api_key, timeout=timeout)

    def rephrase(qa: QA) -> str:
        return client._post([{"role": "user", "content": prompt.format(answer=qa.answer)}])

    return rephrase
