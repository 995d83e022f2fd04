"""Every notebook is committed clean: valid JSON, no outputs, exactly one well-formed ``parameters`` cell."""

import ast
import json
from pathlib import Path

import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))
REQUIRED = {"PROJECT", "DATA_DIR", "INTERACTIVE"}  # and each notebook only the others it uses (test_no_idle_parameter)


def test_there_are_notebooks():
    assert NOTEBOOKS, "notebooks/ holds no .ipynb"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_is_clean(path):
    nb = json.loads(path.read_text())
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    assert not [c for c in code if c.get("outputs")], f"{path.name}: strip outputs before commit (nbstripout)"
    assert not [c for c in code if c.get("execution_count")], f"{path.name}: execution counts left in"
    tagged = [c for c in nb["cells"] if "parameters" in c.get("metadata", {}).get("tags", [])]
    assert len(tagged) == 1, f"{path.name}: {len(tagged)} cells tagged 'parameters', want exactly 1"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_parameters_cell_shape(path):
    """Literals only, UPPER_CASE, a type hint and a comment on every line (papermill --help-notebook reads them)."""
    nb = json.loads(path.read_text())
    (cell,) = [c for c in nb["cells"] if "parameters" in c.get("metadata", {}).get("tags", [])]
    src = "".join(cell["source"])
    names = set()
    for node in ast.parse(src).body:
        assert isinstance(node, ast.AnnAssign), f"{path.name}: parameters must be annotated assignments, got {ast.dump(node)[:60]}"
        name = node.target.id
        assert name.isupper(), f"{path.name}: parameter {name} must be UPPER_CASE"
        ast.literal_eval(node.value)  # literals only, so papermill can override them
        names.add(name)
    for line in src.splitlines():
        if line.strip():
            assert "#" in line, f"{path.name}: parameter line without a comment: {line!r}"
    assert REQUIRED <= names, f"{path.name}: missing parameters {sorted(REQUIRED - names)}"
    assert nb["cells"][0]["cell_type"] == "markdown" and nb["cells"][0]["source"][0].startswith("# "), f"{path.name}: first cell must be the '# NN · Title' markdown"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_papermill_documents_every_parameter(path):
    """`papermill --help-notebook` must parse every line (it gives up on a line whose comment holds '=')."""
    import papermill as pm

    nb = json.loads(path.read_text())
    (cell,) = [c for c in nb["cells"] if "parameters" in c.get("metadata", {}).get("tags", [])]
    names = {node.target.id for node in ast.parse("".join(cell["source"])).body}
    found = pm.inspect_notebook(str(path))
    assert set(found) == names, f"{path.name}: papermill could not read {sorted(names - set(found))}"
    assert all(p["help"] for p in found.values()), f"{path.name}: a parameter without help text"


def test_nbstripout_keeps_tags():
    """nbstripout is configured through .gitattributes and must not drop cell tags."""
    root = Path(__file__).resolve().parents[1]
    attrs = (root / ".gitattributes").read_text()
    assert "*.ipynb filter=nbstripout" in attrs
    import nbformat
    from nbstripout import strip_output

    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("X: int = 1  # x", metadata={"tags": ["parameters"]}, outputs=[nbformat.v4.new_output("stream", text="hi")])])
    stripped = strip_output(nb, keep_output=False, keep_count=False, keep_id=True)
    assert stripped.cells[0].metadata["tags"] == ["parameters"] and stripped.cells[0].outputs == []
