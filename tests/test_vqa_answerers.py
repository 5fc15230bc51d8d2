"""Answerers: the OpenAI-compatible endpoint adapter against a local fake server, and the KG coach."""

from __future__ import annotations

import base64
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from flexaqa.kg import load_kg
from flexaqa.vqa import QASource, VQAError, answer_problems, build_dialogue, build_qa_set, load_qa_set
from flexaqa.vqa.answerers import (
    NO_ANSWER,
    ChatEndpointAnswerer,
    KGCoachAnswerer,
    read_model_predictions,
    write_predictions,
)
from flexaqa.vqa.synthetic import make_predictions, make_sources

KG = load_kg()


class FakeChat:
    """A stand-in for a vLLM server on 127.0.0.1: records requests, answers by question type."""

    def __init__(self, status: int = 200, raw: bytes | None = None, reply: str | None = None):
        self.requests: list[dict] = []
        self.headers: list[dict] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                fake.requests.append({"path": self.path, **body})
                fake.headers.append(dict(self.headers))
                last = body["messages"][-1]["content"]
                text = last if isinstance(last, str) else last[-1]["text"]
                answer = (
                    reply
                    if reply is not None
                    else ("The score is 80/100." if "score" in text else "A squat.")
                )
                payload = (
                    raw
                    or json.dumps(
                        {"choices": [{"message": {"role": "assistant", "content": answer}}]}
                    ).encode()
                )
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    def __enter__(self):
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture()
def refs(tmp_path):
    sources = make_sources(tmp_path / "media", 4, seed=0, splits=("test",))
    build_qa_set(sources, tmp_path / "qa", kg=KG)
    return load_qa_set(tmp_path / "qa", "test")


def test_endpoint_plain_mode_asks_one_conversation_per_sample(refs):
    with FakeChat() as fake:
        answers = ChatEndpointAnswerer(fake.url, "qwen2.5-vl-3b", api_key="k3y", kg=KG).answer(refs)
    assert set(answers) == {q.id for q in refs}
    assert all(answers[q.id] == "The score is 80/100." for q in refs if q.qtype == "scoring")
    assert len(fake.requests) == len(refs)
    assert all(r["path"] == "/v1/chat/completions" and r["model"] == "qwen2.5-vl-3b" for r in fake.requests)
    assert all(h["Authorization"] == "Bearer k3y" for h in fake.headers)
    last = fake.requests[3]["messages"]  # the fourth turn of the first sample sees the whole dialogue
    assert [m["role"] for m in last] == ["system"] + ["user", "assistant"] * 3 + ["user"]
    first = last[1]["content"]
    videos = [p for p in first if p["type"] == "video_url"]
    assert len(videos) == len(refs[0].videos) and all(
        v["video_url"]["url"].startswith("file:///") for v in videos
    )
    assert first[-1] == {"type": "text", "text": refs[0].question}
    assert all(isinstance(m["content"], str) for m in last[2:])
    assert "Standards of correct form" not in json.dumps(fake.requests)


def test_endpoint_concurrent_dialogues_give_the_same_answers(refs):
    with FakeChat() as fake:
        one = ChatEndpointAnswerer(fake.url, "m", kg=KG).answer(refs)
        many = ChatEndpointAnswerer(fake.url, "m", kg=KG).answer(refs, workers=4)
    assert many == one and list(many) == [q.id for q in refs]
    assert len(fake.requests) == 2 * len(refs)


def test_endpoint_rules_mode_puts_keysteps_into_evaluation_and_scoring(refs):
    with FakeChat() as fake:
        ChatEndpointAnswerer(fake.url + "/chat/completions", "m", mode="rules", kg=KG).answer(refs[:4])
    prompts = [r["messages"][-1]["content"] for r in fake.requests]
    action = KG.action(refs[0].action)
    assert all(isinstance(p, list) for p in prompts[:1])
    assert "Standards of correct form" not in json.dumps(prompts[:2])
    for p in prompts[2:]:
        assert p.startswith(f"Standards of correct form for the {action.name}:")
        assert all(KG.keysteps[k].text in p for k in action.keystep_codes)


def test_endpoint_base64_media_and_empty_reply(refs):
    with FakeChat(reply="") as fake:
        answers = ChatEndpointAnswerer(fake.url, "m", media="base64", kg=KG).answer(refs[:4])
    url = fake.requests[0]["messages"][1]["content"][0]["video_url"]["url"]
    path = sorted(refs[0].videos.items())[0][1]
    with open(path, "rb") as fh:
        assert url == "data:video/mp4;base64," + base64.b64encode(fh.read()).decode()
    assert set(answers.values()) == {NO_ANSWER}


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        (
            {"status": 500, "raw": b"model crashed"},
            r"HTTP 500 from the endpoint \(after 2 tries\): model crashed",
        ),
        ({"raw": b'{"result": "ok"}'}, "not an OpenAI chat completion"),
        ({"raw": b"<html>"}, "not an OpenAI chat completion"),
    ],
)
def test_endpoint_errors(refs, kwargs, match):
    with FakeChat(**kwargs) as fake, pytest.raises(VQAError, match=match):
        ChatEndpointAnswerer(fake.url, "m", kg=KG, retries=1, backoff=0.0).answer(refs[:4])


def test_endpoint_bad_configuration(refs):
    with pytest.raises(VQAError, match="mode must be one of"):
        ChatEndpointAnswerer("http://127.0.0.1:1/v1", "m", mode="zero-shot")
    with pytest.raises(VQAError, match="must start with http"):
        ChatEndpointAnswerer("localhost:8000", "m")
    with FakeChat() as fake:
        url = fake.url
    with pytest.raises(VQAError, match="cannot reach the endpoint"):
        ChatEndpointAnswerer(url, "m", timeout=2, kg=KG, retries=0).answer(refs[:4])


def test_kg_coach_with_perfect_predictions_matches_labels(tmp_path):
    sources = make_sources(tmp_path / "media", 10, seed=4, splits=("test",))
    build_qa_set(sources, tmp_path / "qa", kg=KG)
    refs = load_qa_set(tmp_path / "qa", "test")
    perfect = make_predictions(sources, action_accuracy=1.0, slot_flip=0.0)
    answers = KGCoachAnswerer({p["sample_id"]: p for p in perfect}, kg=KG).answer(refs)
    assert set(answers) == {q.id for q in refs}
    for qa in refs:
        assert answer_problems(qa, answers[qa.id], kg=KG) == [], qa.id
    # the coach words its answers with its own template choice, not the references' copy
    assert sum(answers[q.id] != q.answer for q in refs) > len(refs) // 4


def test_kg_coach_renders_wrong_predictions_and_stated_scores(tmp_path):
    src = QASource("s1", "squat", "test", ("AK43:ET006",))
    refs = build_dialogue(src, kg=KG)
    pred = {"s1": {"sample_id": "s1", "action": "deadlift", "slots": [], "score": 91.5}}
    answers = KGCoachAnswerer(pred, kg=KG).answer(refs)
    assert "Deadlift" in answers["s1:recognition"]
    assert answer_problems(refs[0], answers["s1:recognition"], kg=KG)  # wrong action is caught
    assert "91.50" in answers["s1:scoring"]


def test_kg_coach_missing_and_bad_predictions(tmp_path):
    refs = build_dialogue(QASource("s1", "squat", "test"), kg=KG)
    with pytest.raises(VQAError, match=r"no model prediction for 1 sample.*s1"):
        KGCoachAnswerer({}, kg=KG).answer(refs)
    with pytest.raises(VQAError, match=r"prediction for sample 's1'.*unknown action"):
        KGCoachAnswerer({"s1": {"sample_id": "s1", "action": "yoga"}}, kg=KG).answer(refs)
    path = tmp_path / "p.jsonl"
    path.write_text('{"sample_id": "s1"}\n')
    with pytest.raises(VQAError, match=r"p.jsonl:1: missing field\(s\) action"):
        read_model_predictions(path)
    path.write_text('{"sample_id": "s1", "action": "squat"}\n{"sample_id": "s1", "action": "squat"}\n')
    with pytest.raises(VQAError, match="predicted twice"):
        read_model_predictions(path)
    path.write_text('{"sample_id": "s1", "action": "squat", "slots": "AK43:ET006"}\n')
    with pytest.raises(VQAError, match="must be a list"):
        read_model_predictions(path)


def test_write_predictions_round_trip(tmp_path, refs):
    from flexaqa.vqa.evaluate import read_predictions

    answers = {q.id: q.answer for q in refs}
    path = write_predictions(tmp_path / "preds.jsonl", answers)
    assert read_predictions(path, refs) == answers


def test_chat_rephraser_hook_through_fake_endpoint():
    from flexaqa.vqa.answerers import chat_rephraser

    src = QASource("s1", "squat", "test", ("AK43:ET006",))
    with FakeChat(reply="Your grip was open: wrap your thumbs around the bar.") as fake:
        qas = build_dialogue(src, kg=KG, rephrase=chat_rephraser(fake.url, "deepseek-v3"))
    assert qas[2].answer == "Your grip was open: wrap your thumbs around the bar."
    (request,) = fake.requests
    assert request["model"] == "deepseek-v3"
    assert build_dialogue(src, kg=KG)[2].answer in request["messages"][0]["content"]
