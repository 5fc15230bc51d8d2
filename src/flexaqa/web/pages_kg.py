"""The knowledge graph in the browser: actions -> phases -> keysteps -> error types, search, the graph drawn."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse

from flexaqa.kg import load_kg
from flexaqa.kg.draw import draw_action
from flexaqa.web.deps import render

router = APIRouter()


def action_tree(action) -> list[dict]:
    """Phases, their keysteps and each keystep's error types with weights and cues, for the templates."""
    kg = load_kg()
    weight = {(s.keystep, s.error): s.weight for s in action.slots}
    return [
        {
            "name": phase.name,
            "keysteps": [
                {
                    "code": ke.keystep,
                    "text": kg.keystep(ke.keystep).text,
                    "errors": [
                        {
                            "slot": f"{ke.keystep}:{e}",
                            "code": e,
                            "text": kg.error(e).text,
                            "weight": weight[(ke.keystep, e)],
                            "severity": kg.error(e).severity,
                            "cue": kg.feedback(e, ke.keystep),
                        }
                        for e in ke.errors
                    ],
                }
                for ke in phase.keysteps
            ],
        }
        for phase in action.phases
    ]


def search(query: str) -> list[dict]:
    """Actions, keysteps and error types whose code, name or text contains every word of ``query``."""
    kg = load_kg()
    words = query.casefold().split()
    if not words:
        return []

    def hit(*texts: str) -> bool:
        blob = " ".join(texts).casefold()
        return all(w in blob for w in words)

    found = []
    for a in kg.actions:
        if hit(a.slug, a.name, a.class_id, a.equipment, " ".join(a.target_muscles)):
            found.append({"kind": "action", "code": a.class_id, "text": a.name, "href": f"/kg/{a.slug}"})
        for p in a.phases:
            for ke in p.keysteps:
                k = kg.keystep(ke.keystep)
                if hit(k.code, k.text):
                    found.append(
                        {
                            "kind": "keystep",
                            "code": k.code,
                            "text": f"{a.name}: {k.text}",
                            "href": f"/kg/{a.slug}",
                        }
                    )
    for e in kg.errors.values():
        if hit(e.code, e.text, e.feedback):
            users = [a for a in kg.actions if e.code in a.error_codes]
            href = f"/kg/{users[0].slug}#{e.code}" if users else "/kg"
            found.append(
                {"kind": "error type", "code": e.code, "text": f"{e.text} (weight {e.weight})", "href": href}
            )
    return found


@router.get("/kg")
def kg_index(request: Request, q: str = ""):
    kg = load_kg()
    return render(request, "kg.html", title="Knowledge graph", kg=kg, q=q, hits=search(q) if q else None)


@router.get("/kg/{action}")
def kg_action(request: Request, action: str):
    act = load_kg().action(action)
    return render(request, "kg_action.html", title=act.name, action=act, tree=action_tree(act))


@router.get("/kg/{action}/graph.svg")
def kg_graph(request: Request, action: str):
    """The action's subgraph drawn by :func:`flexaqa.kg.draw.draw_action`, cached under the jobs folder."""
    kg = load_kg()
    act = kg.action(action)
    path = request.app.state.settings.jobs / ".kg" / f"{act.slug}-{kg.version}.svg"
    if not path.is_file():
        draw_action(kg, act, path)
    return FileResponse(path, media_type="image/svg+xml")
