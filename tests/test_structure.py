"""The house rules of lib/swaplab and the notebooks, checked on the source (issues 13 and 26):

- the folders follow the pipeline: a shared base (``core`` < ``face`` < ``model``), the stages over it as
  siblings (``collect``, ``align``, ``train``, ``swap``, ``judge``: notebooks 01-06), and the drivers on top
  (``notebook``, ``demo``); a module imports only from its own package and the layers below it, never from a
  sibling stage and never up;
- no import circle: no module imports one that imports it back, directly or through others, lazy imports
  inside functions included;
- each package's ``__init__`` is its three-line description and nothing else;
- no module is over 500 lines, no config class (a ``Parameters``, or a class named ``*Config``) over 80, no function
  over 60: each room is readable in one sitting;
- each notebook checks its parameters in one call, ``<Config>.from_parameters(globals()).validate()``,
  in the cell right after the parameters cell, and raises nothing there itself;
- every parameter does something: it is read by a later cell, or it is a field of the config
  the notebook builds from its parameters.
"""

import ast
import dataclasses
import importlib
import json
import re
import typing
from dataclasses import fields
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LIB = ROOT / "lib" / "swaplab"
BASE = ("core", "face", "model")  # each may import the ones before it
STAGES = ("collect", "align", "train", "swap", "judge")  # siblings over the base
DRIVERS = ("notebook", "demo")  # on top: may import the stages
LAYER = {**{p: i for i, p in enumerate(BASE)}, **dict.fromkeys(STAGES, len(BASE)), **dict.fromkeys(DRIVERS, len(BASE) + 1)}
MAX_LINES = 60
MAX_MODULE_LINES = 500
MAX_CONFIG_LINES = 80
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
CONFIG_CALL = re.compile(r"\b(\w+)\.(\w+)\.from_parameters\(globals\(\)\)\.validate\(\)")
MODULES = sorted(LIB.rglob("*.py"))


def _name(path: Path) -> str:
    """lib/swaplab/train/loop.py -> "train.loop"; lib/swaplab/demo.py -> "demo"; a package's __init__ -> the package."""
    parts = path.relative_to(LIB).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imported_modules(path: Path) -> set[str]:
    """The swaplab modules a file imports ("train.loop", "core"), at any depth (lazy imports inside functions count)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("swaplab") and not node.level:
            module = node.module.removeprefix("swaplab").lstrip(".")
            for alias in node.names:  # from swaplab.core import files -> core.files; from swaplab.core.files import x -> core.files
                sub = f"{module}.{alias.name}" if module else alias.name
                found.add(sub if (LIB / (sub.replace(".", "/") + ".py")).exists() else module)
        elif isinstance(node, ast.ImportFrom) and node.level:
            raise AssertionError(f"{path}: relative import; write it as from swaplab.<package> import ...")
        elif isinstance(node, ast.Import):
            found |= {a.name.removeprefix("swaplab.") for a in node.names if a.name.startswith("swaplab.")}
    return found - {""}


def _package(module: str) -> str:
    return module.split(".")[0]


def test_every_module_sits_in_a_layer():
    strays = [_name(p) for p in MODULES if _package(_name(p)) not in LAYER and p != LIB / "__init__.py"]
    assert not strays, f"modules outside the layout {sorted(LAYER)}: {strays}; put each in the package of its stage"


@pytest.mark.parametrize("path", [p for p in MODULES if p != LIB / "__init__.py"], ids=_name)
def test_imports_go_down_or_sideways_within_a_package(path):
    me = _package(_name(path))
    wrong = []
    for other in sorted(_imported_modules(path)):
        them = _package(other)
        if them == me or them not in LAYER:
            continue
        if LAYER[them] > LAYER[me] or (LAYER[them] == LAYER[me] and them in BASE + STAGES):
            wrong.append(other)
    kind = "a sibling stage or a layer above" if me in STAGES else "a layer above or beside it"
    assert not wrong, f"swaplab.{_name(path)} imports {wrong}, {kind}: move what it needs into the shared base " \
                      f"({' < '.join(BASE)})"


@pytest.mark.parametrize("package", BASE + STAGES + ("notebook",))
def test_each_package_says_what_it_is_for(package):
    init = LIB / package / "__init__.py"
    tree = ast.parse(init.read_text())
    doc = ast.get_docstring(tree) or ""
    assert len(tree.body) == 1 and doc, f"{init}: only a docstring, please (imports here would load every module)"
    assert len([line for line in doc.splitlines() if line.strip()]) == 3, f"{init}: say what the package is for in three lines"


def _import_graph() -> dict[str, set[str]]:
    """{module: the other swaplab modules it imports} over lib/swaplab."""
    modules = {_name(p) for p in MODULES}
    return {_name(p): _imported_modules(p) & modules - {_name(p)} for p in MODULES}


def _circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Each import circle once, as the modules along it, starting at its first name: ["a", "b"] = a -> b -> a."""
    found = set()

    def walk(path: list[str]) -> None:
        for nxt in sorted(graph.get(path[-1], ())):
            if nxt == path[0]:
                found.add(tuple(path))
            elif nxt > path[0] and nxt not in path:  # a circle is found from its smallest name only
                walk(path + [nxt])

    for start in graph:
        walk([start])
    return sorted(map(list, found))


def test_the_circle_finder_finds_circles():
    graph = {"a": {"b"}, "b": {"a", "c"}, "c": {"d"}, "d": {"b"}, "e": {"a"}}
    assert _circles(graph) == [["a", "b"], ["b", "c", "d"]]


def test_no_two_modules_import_each_other():
    circles = [" -> ".join(c + c[:1]) for c in _circles(_import_graph())]
    assert not circles, f"import circles in lib/swaplab (lazy imports count): {circles}; move what both need " \
                        "into a shared module, or let only the module above import the one below"


def test_no_function_is_over_60_lines():
    long = []
    for path in MODULES:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                n = node.end_lineno - node.lineno + 1
                if n > MAX_LINES:
                    long.append(f"{_name(path)}:{node.lineno} {node.name} ({n} lines)")
    assert not long, f"functions over {MAX_LINES} lines: {long}"


def test_no_module_is_over_500_lines():
    long = {_name(p): n for p in MODULES if (n := len(p.read_text().splitlines())) > MAX_MODULE_LINES}
    assert not long, f"modules over {MAX_MODULE_LINES} lines: {long}; split each along its seams"


def _is_config(node: ast.ClassDef) -> bool:
    bases = {b.id if isinstance(b, ast.Name) else getattr(b, "attr", "") for b in node.bases}
    return "Parameters" in bases or node.name.endswith("Config")


def test_no_config_class_is_over_80_lines():
    long = [f"{_name(p)}:{node.lineno} {node.name} ({node.end_lineno - node.lineno + 1} lines)"
            for p in MODULES for node in ast.walk(ast.parse(p.read_text()))
            if isinstance(node, ast.ClassDef) and _is_config(node) and node.end_lineno - node.lineno + 1 > MAX_CONFIG_LINES]
    assert not long, f"config classes over {MAX_CONFIG_LINES} lines: {long}; move their checks into functions"


def _cells(path: Path) -> tuple[str, list[str]]:
    """(the parameters cell's source, the sources of the code cells after it)."""
    nb = json.loads(path.read_text())
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    i = next(i for i, c in enumerate(code) if "parameters" in c.get("metadata", {}).get("tags", []))
    return "".join(code[i]["source"]), ["".join(c["source"]) for c in code[i + 1:]]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_validation_is_one_call(path):
    _, after = _cells(path)
    check = after[0]
    calls = CONFIG_CALL.findall(check)
    assert len(calls) == 1, f"{path.name}: the cell after the parameters should check them with ONE " \
                            f"<Config>.from_parameters(globals()).validate() call, found {len(calls)}"
    assert "raise " not in check, f"{path.name}: the checking cell raises by itself; move the check into validate()"


def _notebook_imports(path: Path) -> dict[str, str]:
    """{name in the notebook: the swaplab module it is}, from its ``from swaplab.x import y [as z]`` lines."""
    found = {}
    for source in (c for c in json.loads(path.read_text())["cells"] if c["cell_type"] == "code"):
        for line in "".join(source["source"]).splitlines():
            m = re.match(r"\s*from (swaplab[\w.]*) import ([\w, ]+?)\s*(#.*)?$", line)
            for name in m.group(2).split(",") if m else ():
                module, _, alias = name.strip().partition(" as ")
                found[alias or module] = f"{m.group(1)}.{module}"
    return found


def _consumed(config) -> set[str]:
    """The parameters a config takes: its init fields, and those of a config it holds (``SwapJob.options``)."""
    hints = typing.get_type_hints(config)
    names = set()
    for f in fields(config):
        if f.init:
            names.add(f.name.upper())
            if dataclasses.is_dataclass(hints.get(f.name)):
                names |= _consumed(hints[f.name])
    return names


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_no_idle_parameter(path):
    params, after = _cells(path)
    names = [node.target.id for node in ast.parse(params).body]
    later = "\n".join(after)
    name, cls = CONFIG_CALL.search(after[0]).groups()
    config = getattr(importlib.import_module(_notebook_imports(path)[name]), cls)
    consumed = _consumed(config)
    idle = [n for n in names if n not in consumed and not re.search(rf"\b{n}\b", later)]
    assert not idle, f"{path.name}: parameters {idle} are never used: wire them up or drop them"
