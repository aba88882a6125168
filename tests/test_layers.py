"""The layer rule, checked on the source: a forbidden import fails here, not in a code review.

domain imports only domain; live and web never import each other (they meet in the domain and the
event log); appliance imports none of domain, live or web; no layer imports the wiring on top
(app, server, cli, client); nothing imports the CLI but `__main__`. `config` (a leaf: it imports
nothing of ours) may be read by live, web and appliance, never by the domain.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "classroom_box"
TOP = {"app", "server", "cli", "client", "__main__"}
ALLOWED = {
    "domain": {"domain"},
    "live": {"domain", "live", "config"},
    "web": {"domain", "web", "appliance", "config"},
    "appliance": {"appliance", "config"},
}


def imports(path: Path) -> set[str]:
    """Every `classroom_box.*` module this file imports (also inside functions and TYPE_CHECKING)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found.update(f"{node.module}.{a.name}" for a in node.names)
    return {name for name in found if name.startswith("classroom_box.")}


def part(module: str) -> str:
    """'classroom_box.live.fanout' -> 'live'; 'classroom_box.config' -> 'config'."""
    return module.split(".")[1]


def test_layers_import_only_what_they_may() -> None:
    broken = []
    for layer, allowed in ALLOWED.items():
        assert (PACKAGE / layer / "__init__.py").is_file(), f"missing layer {layer}"
        for path in sorted((PACKAGE / layer).rglob("*.py")):
            for module in imports(path):
                if part(module) in allowed or part(module) == "__version__":
                    continue
                broken.append(f"{path.relative_to(PACKAGE)} imports {module}")
    assert not broken, "layer rule broken:\n" + "\n".join(broken)


def test_nothing_imports_the_cli() -> None:
    for path in sorted(PACKAGE.rglob("*.py")):
        if path.name != "__main__.py":
            assert "classroom_box.cli" not in imports(path), f"{path.name} imports the CLI"


def test_every_module_sits_in_a_layer_or_is_wiring() -> None:
    loose = {p.stem for p in PACKAGE.glob("*.py")} - TOP - {"__init__", "config"}
    assert not loose, f"modules outside the layers: {sorted(loose)} (domain, live, web, appliance?)"


def test_every_module_says_what_it_owns_and_must_never_do() -> None:
    """Each module docstring opens with a summary line and a paragraph: its contract."""
    vague = []
    for path in sorted(PACKAGE.rglob("*.py")):
        doc = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) or ""
        if "never" not in " ".join(doc.split("\n\n")[:2]):  # summary line, then the contract
            vague.append(str(path.relative_to(PACKAGE)))
    assert not vague, f"say in the first docstring paragraph what it must never do: {vague}"
