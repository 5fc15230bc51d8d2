"""Export the FKG as plain JSON, JSON-LD (valid RDF) or GraphML (nodes typed action/phase/keystep/error/
feedback/muscle). Writes are atomic."""

from __future__ import annotations

import copy
from pathlib import Path
from xml.etree import ElementTree as ET

from flexaqa._io import atomic_write_text, json_text
from flexaqa.errors import KGError
from flexaqa.kg._schema import KnowledgeGraph

FORMATS = ("json", "jsonld", "graphml")
BASE_IRI = "https://w3id.org/flexaqa/fkg/"
VOCAB_IRI = BASE_IRI + "vocab#"


def to_json(kg: KnowledgeGraph) -> dict:
    """Everything in the graph, with derived slots and totals, as plain JSON-able data."""
    return {
        "version": kg.version,
        "schema_version": kg.schema_version,
        "provenance": dict(kg.provenance),
        "severity_classes": {
            n: {"description": c.description, "min_weight": c.min_weight, "max_weight": c.max_weight}
            for n, c in kg.severity_classes.items()
        },
        "muscles": list(kg.muscles),
        "emg_muscles": dict(kg.emg_muscles),
        "errors": {
            c: {
                "text": e.text,
                "weight": e.weight,
                "severity": e.severity,
                "feedback": e.feedback,
                "note": e.note,
            }
            for c, e in kg.errors.items()
        },
        "keysteps": {c: {"text": k.text, "feedback": dict(k.feedback)} for c, k in kg.keysteps.items()},
        "actions": [
            {
                "index": a.index,
                "class_id": a.class_id,
                "slug": a.slug,
                "name": a.name,
                "aliases": list(a.aliases),
                "equipment": a.equipment,
                "target_muscles": list(a.target_muscles),
                "emg_channels": [
                    {"index": c.index, "side": c.side, "muscle": c.muscle, "label": c.label}
                    for c in a.emg_channels
                ],
                "phases": [
                    {
                        "name": p.name,
                        "keysteps": [{"keystep": k.keystep, "errors": list(k.errors)} for k in p.keysteps],
                    }
                    for p in a.phases
                ],
                "slots": [
                    {"keystep": s.keystep, "error": s.error, "phase": s.phase, "weight": s.weight}
                    for s in a.slots
                ],
                "total_weight": a.total_weight,
            }
            for a in kg.actions
        ],
    }


def _iri(kind: str, *parts: str) -> str:
    return BASE_IRI + kind + "/" + "/".join(p.replace(" ", "_") for p in parts)


# the JSON-LD context of :func:`to_jsonld`: our vocabulary (``fkg:``) plus schema.org names
JSONLD_CONTEXT = {
    "@vocab": VOCAB_IRI,
    "fkg": VOCAB_IRI,
    "schema": "https://schema.org/",
    "name": "schema:name",
    "text": "schema:description",
    "license": {"@id": "schema:license"},
    "weight": {"@id": "fkg:weight", "@type": "http://www.w3.org/2001/XMLSchema#integer"},
    "order": {"@id": "fkg:order", "@type": "http://www.w3.org/2001/XMLSchema#integer"},
    "hasPhase": {"@id": "fkg:hasPhase", "@type": "@id"},
    "hasKeystep": {"@id": "fkg:hasKeystep", "@type": "@id"},
    "hasSlot": {"@id": "fkg:hasSlot", "@type": "@id"},
    "keystep": {"@id": "fkg:keystep", "@type": "@id"},
    "errorType": {"@id": "fkg:errorType", "@type": "@id"},
    "targetsMuscle": {"@id": "fkg:targetsMuscle", "@type": "@id"},
    "severity": {"@id": "fkg:severity", "@type": "@id"},
    "muscle": {"@id": "fkg:muscle", "@type": "@id"},
}


def to_jsonld(kg: KnowledgeGraph) -> dict:
    """JSON-LD with a vocabulary of our own (``fkg:``) plus schema.org names; parses as RDF."""
    graph: list[dict] = [
        {
            "@id": BASE_IRI,
            "@type": "schema:Dataset",
            "name": "FLEX Fitness Knowledge Graph",
            "schema:version": kg.version,
            "license": "https://creativecommons.org/licenses/by-nc/4.0/",
            "schema:citation": kg.provenance.get("title", ""),
        }
    ]
    for n, c in kg.severity_classes.items():
        graph.append({"@id": _iri("severity", n), "@type": "SeverityClass", "name": n, "text": c.description})
    for m in kg.muscles:
        graph.append({"@id": _iri("muscle", m), "@type": "Muscle", "name": m})
    graph += [_error_node(code, e) for code, e in kg.errors.items()]
    graph += [_keystep_node(code, k) for code, k in kg.keysteps.items()]
    graph += [_action_node(kg, a) for a in kg.actions]
    return {"@context": copy.deepcopy(JSONLD_CONTEXT), "@graph": graph}


def _error_node(code: str, e) -> dict:
    return {
        "@id": _iri("error", code),
        "@type": "ErrorType",
        "name": code,
        "text": e.text,
        "weight": e.weight,
        "severity": _iri("severity", e.severity),
        "feedback": {"@id": _iri("feedback", code), "@type": "Feedback", "text": e.feedback},
    }


def _keystep_node(code: str, k) -> dict:
    node = {"@id": _iri("keystep", code), "@type": "Keystep", "name": code, "text": k.text}
    if k.feedback:
        node["feedbackOverride"] = [
            {
                "@id": _iri("feedback", code, err),
                "@type": "Feedback",
                "errorType": _iri("error", err),
                "text": cue,
            }
            for err, cue in k.feedback.items()
        ]
    return node


def _action_node(kg: KnowledgeGraph, a) -> dict:
    """An action with its EMG channels, phases (and their keysteps) and (keystep, error) slots."""
    return {
        "@id": _iri("action", a.class_id),
        "@type": "Action",
        "name": a.name,
        "fkg:slug": a.slug,
        "fkg:classId": a.class_id,
        "order": a.index,
        "fkg:equipment": a.equipment,
        "fkg:totalWeight": a.total_weight,
        "targetsMuscle": [_iri("muscle", m) for m in a.target_muscles],
        "fkg:emgChannel": [
            {
                "@id": _iri("action", a.class_id, "emg", str(c.index)),
                "@type": "EmgChannel",
                "order": c.index,
                "fkg:side": c.side,
                "name": c.label,
                "muscle": _iri("muscle", kg.emg_muscles[c.muscle]),
            }
            for c in a.emg_channels
        ],
        "hasPhase": [
            {
                "@id": _iri("action", a.class_id, p.name),
                "@type": "Phase",
                "name": p.name,
                "order": i,
                "hasKeystep": [_iri("keystep", k.keystep) for k in p.keysteps],
            }
            for i, p in enumerate(a.phases)
        ],
        "hasSlot": [
            {
                "@id": _iri("action", a.class_id, "slot", s.id.replace(":", "-")),
                "@type": "Slot",
                "keystep": _iri("keystep", s.keystep),
                "errorType": _iri("error", s.error),
                "weight": s.weight,
            }
            for s in a.slots
        ],
    }


def to_graphml(kg: KnowledgeGraph) -> str:
    """GraphML with a ``type`` attribute on every node and a ``relation`` attribute on every edge."""
    nodes: dict[str, dict[str, str]] = {}
    edges: list[tuple[str, str, dict[str, str]]] = []

    def node(nid: str, type_: str, label: str, **attrs: object) -> str:
        nodes.setdefault(nid, {"type": type_, "label": label, **{k: str(v) for k, v in attrs.items()}})
        return nid

    for m in kg.muscles:
        node(f"muscle:{m}", "muscle", m)
    for code, e in kg.errors.items():
        node(f"error:{code}", "error", e.text, weight=e.weight, severity=e.severity)
        fid = node(f"feedback:{code}", "feedback", e.feedback)
        edges.append((f"error:{code}", fid, {"relation": "has_feedback"}))
    for code, k in kg.keysteps.items():
        node(f"keystep:{code}", "keystep", k.text)
        for err, cue in k.feedback.items():
            fid = node(f"feedback:{code}:{err}", "feedback", cue)
            edges.append((f"error:{err}", fid, {"relation": "has_feedback", "keystep": code}))
    for a in kg.actions:
        aid = node(f"action:{a.class_id}", "action", a.name, slug=a.slug, equipment=a.equipment)
        for m in a.target_muscles:
            edges.append((aid, f"muscle:{m}", {"relation": "targets"}))
        for c in a.emg_channels:
            edges.append(
                (
                    aid,
                    f"muscle:{kg.emg_muscles[c.muscle]}",
                    {"relation": "emg_channel", "channel": str(c.index), "label": c.label},
                )
            )
        for i, p in enumerate(a.phases):
            pid = node(f"phase:{a.class_id}:{p.name}", "phase", p.name, order=i)
            edges.append((aid, pid, {"relation": "has_phase", "order": str(i)}))
            for j, ke in enumerate(p.keysteps):
                kid = f"keystep:{ke.keystep}"
                edges.append((pid, kid, {"relation": "has_keystep", "order": str(j)}))
                for err in ke.errors:
                    edges.append((kid, f"error:{err}", {"relation": "has_error", "action": a.class_id}))

    root = ET.Element("graphml", xmlns="http://graphml.graphdrawing.org/xmlns")
    node_keys = sorted({k for attrs in nodes.values() for k in attrs})
    edge_keys = sorted({k for _, _, attrs in edges for k in attrs})
    for k in node_keys:
        ET.SubElement(root, "key", id=f"n_{k}", attrib={"for": "node", "attr.name": k, "attr.type": "string"})
    for k in edge_keys:
        ET.SubElement(root, "key", id=f"e_{k}", attrib={"for": "edge", "attr.name": k, "attr.type": "string"})
    g = ET.SubElement(root, "graph", id="FKG", edgedefault="directed")
    for nid, attrs in nodes.items():
        el = ET.SubElement(g, "node", id=nid)
        for k, v in attrs.items():
            ET.SubElement(el, "data", key=f"n_{k}").text = v
    for i, (src, dst, attrs) in enumerate(edges):
        el = ET.SubElement(g, "edge", id=f"e{i}", source=src, target=dst)
        for k, v in attrs.items():
            ET.SubElement(el, "data", key=f"e_{k}").text = v
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def write_export(kg: KnowledgeGraph, fmt: str, out: str | Path) -> Path:
    if fmt == "json":
        text = json_text(to_json(kg), indent=2, ensure_ascii=False) + "\n"
    elif fmt == "jsonld":
        text = json_text(to_jsonld(kg), indent=2, ensure_ascii=False) + "\n"
    elif fmt == "graphml":
        text = to_graphml(kg)
    else:
        raise KGError(f"unknown export format {fmt!r}; choose one of {', '.join(FORMATS)}")
    return atomic_write_text(out, text)
