"""The house rules of lib/swaplab and the notebooks, checked on the source (issue 13):

- the stages (collect, faceset, train, swap, evaluate, tracking) sit side by side: none imports another,
  except to read a face set through ``faceset``;
- no import circle: no module imports one that imports it back, directly or through others, lazy imports
  inside functions included (a driver such as ``batch`` sits above what it drives);
- no function is over 60 lines;
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
STAGES = {"collect", "faceset", "train", "swap", "evaluate", "tracking"}  # 01..06
MAX_LINES = 60
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
CONFIG_CALL = re.compile(r"\b(\w+)\.(\w+)\.from_parameters\(globals\(\)\)\.validate\(\)")


def _imported_modules(path: Path) -> set[str]:
    """The swaplab modules a file imports, at any depth (lazy imports inside functions count too)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if node.level and not module or module == "swaplab":  # from . import a, b / from swaplab import a, b
                found |= {a.name for a in node.names}
            elif node.level or module.startswith("swaplab."):
                found.add(module.split(".")[-1])
        elif isinstance(node, ast.Import):
            found |= {a.name.split(".")[1] for a in node.names if a.name.startswith("swaplab.")}
    return found


@pytest.mark.parametrize("stage", sorted(STAGES))
def test_no_stage_imports_another(stage):
    others = _imported_modules(LIB / f"{stage}.py") & STAGES - {stage, "faceset"}
    assert not others, f"swaplab.{stage} imports the stage(s) {sorted(others)}: move what it needs into a shared module"


def _import_graph() -> dict[str, set[str]]:
    """{module: the other swaplab modules it imports} over lib/swaplab."""
    modules = {p.stem for p in LIB.glob("*.py")}
    return {m: _imported_modules(LIB / f"{m}.py") & modules - {m} for m in sorted(modules)}


def _circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Each import circle once, as the modules along it, starting at its first name: ["a", "b"] = a -> b -> a."""
    found = set()

    def walk(path: list[str]) -> None:
        for nxt in sorted(graph[path[-1]]):
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
    for path in sorted(LIB.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                n = node.end_lineno - node.lineno + 1
                if n > MAX_LINES:
                    long.append(f"{path.name}:{node.lineno} {node.name} ({n} lines)")
    assert not long, f"functions over {MAX_LINES} lines: {long}"


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
    module, cls = CONFIG_CALL.search(after[0]).groups()
    config = getattr(importlib.import_module(f"swaplab.{module}"), cls)
    consumed = _consumed(config)
    idle = [n for n in names if n not in consumed and not re.search(rf"\b{n}\b", later)]
    assert not idle, f"{path.name}: parameters {idle} are never used: wire them up or drop them"
