"""The pages must work on a classroom LAN with no internet, under the box's strict CSP.

Why these checks: one stray CDN link or web font and the page hangs or breaks in a classroom with
no internet; one inline script or style attribute and the Content-Security-Policy blocks it. Both
are easy to add by accident and invisible when testing on a laptop that *is* online, so they are
checked here on the files themselves, with no server needed.
"""

from __future__ import annotations

import json
import re
import shutil
import struct
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
STATIC = ROOT / "static"
VENDOR = STATIC / "vendor"
TEXT_SUFFIXES = {".html", ".js", ".mjs", ".css", ".webmanifest", ".json", ".svg", ".map"}

# A URL that leaves the box: http(s)://, ws(s)://, or protocol-relative //host.
_EXT = r"""(?:(?:https?|wss?):)?//[^\s"'`)>]"""
_Q = r"""["'`]?\s*"""

#: Ways a browser would *load* something from a URL, per kind of file.
LOAD_PATTERNS: list[re.Pattern[str]] = [
    # HTML / SVG attributes
    re.compile(
        r"""\b(?:src|href|xlink:href|action|formaction|poster|data|srcset|manifest|background)"""
        rf"""\s*=\s*{_Q}{_EXT}""",
        re.I,
    ),
    re.compile(rf"""<meta[^>]+http-equiv\s*=\s*["']?refresh[^>]*url\s*=\s*{_EXT}""", re.I),
    # CSS
    re.compile(rf"""url\(\s*{_Q}{_EXT}""", re.I),
    re.compile(rf"""@import\s+(?:url\()?\s*{_Q}{_EXT}""", re.I),
    # JS: static and dynamic imports, fetch, workers, sockets, script loaders
    re.compile(rf"""\bimport\s*\(\s*{_Q}{_EXT}"""),
    re.compile(rf"""\b(?:import|export)\b[^;'"`]*?\bfrom\s*{_Q}{_EXT}"""),
    re.compile(rf"""\bimport\s*{_Q}{_EXT}"""),
    re.compile(rf"""\bfetch\s*\(\s*{_Q}{_EXT}"""),
    re.compile(rf"""\bimportScripts\s*\(\s*{_Q}{_EXT}"""),
    re.compile(rf"""\bnew\s+(?:WebSocket|EventSource|Worker|SharedWorker)\s*\(\s*{_Q}{_EXT}"""),
    re.compile(rf"""\bio\s*\(\s*{_Q}{_EXT}"""),
    re.compile(rf"""\.(?:open|sendBeacon|register)\s*\(\s*(?:["'][A-Z]+["']\s*,\s*)?{_Q}{_EXT}"""),
    # source maps are fetched by devtools from wherever they point
    re.compile(rf"""sourceMappingURL\s*=\s*{_EXT}"""),
    # web manifest members that are URLs
    re.compile(rf""""(?:src|start_url|scope|id|url|action)"\s*:\s*"{_EXT}"""),
]

#: Absolute URLs allowed to appear as plain text (never loaded): XML namespaces.
NAMESPACE_URLS = {"http://www.w3.org/2000/svg", "http://www.w3.org/1999/xlink"}
ANY_URL = re.compile(r"""(?:https?|wss?)://[^\s"'`)<>]+""", re.I)


def static_files() -> list[Path]:
    return sorted(p for p in STATIC.rglob("*") if p.is_file() and p.suffix in TEXT_SUFFIXES)


def own_files() -> list[Path]:
    """Our files (not vendored third-party builds): held to the stricter 'no URL at all' rule."""
    return [p for p in static_files() if VENDOR not in p.parents and p.suffix != ".map"]


def external_loads(text: str) -> list[str]:
    hits = []
    for pat in LOAD_PATTERNS:
        hits += [m.group(0) for m in pat.finditer(text)]
    return hits


def rel(p: Path) -> str:
    return str(p.relative_to(ROOT))


# ---------------------------------------------------------------- the detector itself


@pytest.mark.parametrize(
    "snippet",
    [
        '<script src="https://cdn.example.org/socket.io.js"></script>',
        "<link rel=stylesheet href=//fonts.example.com/css>",
        '<form action="http://example.org/x">',
        "body { background: url('https://example.org/a.png') }",
        '@import "https://fonts.example.com/css2?family=Inter";',
        "@import url(//fonts.example.com/x.css);",
        'import { io } from "https://cdn.example.org/socket.io.esm.min.js";',
        'const m = await import("https://example.org/m.js");',
        'fetch("https://example.org/api")',
        "fetch(`//example.org/api`)",
        'new WebSocket("wss://example.org/socket")',
        'io("https://example.org")',
        "//# sourceMappingURL=https://example.org/x.map",
        '{"src": "https://example.org/icon.png"}',
        '<img srcset="https://example.org/a.png 2x">',
        '<use xlink:href="https://example.org/sprite.svg#a"/>',
    ],
)
def test_detector_flags_external_loads(snippet: str) -> None:
    assert external_loads(snippet), f"detector missed: {snippet}"


@pytest.mark.parametrize(
    "snippet",
    [
        '<script type="module" src="/static/js/student.js"></script>',
        '<link rel="stylesheet" href="/static/css/app.css">',
        'import { io } from "/static/vendor/socket.io-client/socket.io.esm.min.js";',
        'fetch("/api/me")',
        "//# sourceMappingURL=socket.io.esm.min.js.map",
        '<svg xmlns="http://www.w3.org/2000/svg">',
        't=void 0!==i?i.protocol+"//"+t:"https://"+t',  # URL parsing inside socket.io-client
        "// a comment that mentions //example and https://example.org",
    ],
)
def test_detector_allows_local_references(snippet: str) -> None:
    assert not external_loads(snippet), f"false positive: {snippet}"


# ---------------------------------------------------------------- the files


def test_static_tree_is_there() -> None:
    names = {rel(p) for p in static_files()}
    for required in [
        "static/index.html",
        "static/student.html",
        "static/teacher.html",
        "static/setup.html",
        "static/manifest.webmanifest",
        "static/sw.js",
        "static/css/app.css",
        "static/js/stream.js",
        "static/vendor/socket.io-client/socket.io.esm.min.js",
    ]:
        assert required in names, f"{required} is missing"


@pytest.mark.parametrize("path", static_files(), ids=rel)
def test_no_file_loads_an_external_url(path: Path) -> None:
    hits = external_loads(path.read_text(encoding="utf-8", errors="replace"))
    assert not hits, f"{rel(path)} would load from outside the box: {hits[:5]}"


@pytest.mark.parametrize("path", own_files(), ids=rel)
def test_own_files_mention_no_absolute_url(path: Path) -> None:
    """Stricter for our own code: no absolute URL at all (a link to the internet is dead offline)."""
    urls = [u for u in ANY_URL.findall(path.read_text(encoding="utf-8")) if u not in NAMESPACE_URLS]
    assert not urls, f"{rel(path)} mentions {urls[:5]}"


# ---------------------------------------------------------------- HTML: references and CSP


class _Refs(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.refs: list[str] = []
        self.inline_scripts = 0
        self.style_blocks = 0
        self.style_attrs: list[str] = []
        self.handler_attrs: list[str] = []
        self._in_script_without_src = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        for name, value in attrs:
            if name == "style":
                self.style_attrs.append(f"<{tag} style={value!r}>")
            if name.startswith("on"):
                self.handler_attrs.append(f"<{tag} {name}=...>")
            if value and value.strip().lower().startswith("javascript:"):
                self.handler_attrs.append(f"<{tag} {name}={value!r}>")
        if tag == "script":
            if a.get("src"):
                self.refs.append(a["src"] or "")
            else:
                self._in_script_without_src = True
        elif tag == "style":
            self.style_blocks += 1
        elif tag in ("link", "a", "area") and a.get("href"):
            if tag == "link" or not a.get("href", "").startswith(("/", "#", "?")):
                self.refs.append(a["href"] or "")
        elif tag in ("img", "source", "iframe", "embed", "audio", "video") and a.get("src"):
            self.refs.append(a["src"] or "")

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._in_script_without_src = False

    def handle_data(self, data: str) -> None:
        if self._in_script_without_src and data.strip():
            self.inline_scripts += 1


PAGES = sorted(STATIC.glob("*.html"))
#: URLs the box serves from something other than a file under static/ (see contract.md).
ROUTES = {"/", "/student", "/teacher", "/setup"}


def static_path_for(url: str) -> Path | None:
    """Map a same-origin URL the pages use to the file under static/ that backs it."""
    path = url.split("#", 1)[0].split("?", 1)[0]
    if path.startswith("/static/"):
        return STATIC / path[len("/static/") :]
    if path in ("/manifest.webmanifest", "/sw.js"):
        return STATIC / path.lstrip("/")
    return None


def parse(page: Path) -> _Refs:
    p = _Refs()
    p.feed(page.read_text(encoding="utf-8"))
    return p


@pytest.mark.parametrize("page", PAGES, ids=rel)
def test_page_references_exist(page: Path) -> None:
    refs = parse(page).refs
    assert refs, f"{rel(page)} references nothing? parser broken"
    missing = []
    for url in refs:
        if url in ROUTES or url.startswith(("/join/", "/api/")):
            continue
        target = static_path_for(url)
        assert target is not None, f"{rel(page)} references {url!r}, which no static file backs"
        if not target.is_file():
            missing.append(url)
    assert not missing, f"{rel(page)} references missing files: {missing}"


@pytest.mark.parametrize("page", PAGES, ids=rel)
def test_page_is_csp_compatible(page: Path) -> None:
    p = parse(page)
    assert p.inline_scripts == 0, f"{rel(page)} has inline <script> (blocked by script-src 'self')"
    assert p.style_blocks == 0, f"{rel(page)} has a <style> block (blocked by style-src 'self')"
    assert not p.style_attrs, f"{rel(page)} has style attributes: {p.style_attrs}"
    assert not p.handler_attrs, f"{rel(page)} has inline handlers: {p.handler_attrs}"


JS_FILES = sorted((STATIC / "js").glob("*.js")) + [STATIC / "sw.js"]
IMPORT_RE = re.compile(r"""\bfrom\s*["']([^"']+)["']|\bimport\s*\(\s*["']([^"']+)["']""")


@pytest.mark.parametrize("path", JS_FILES, ids=rel)
def test_js_imports_resolve_and_avoid_unsafe_apis(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    for m in IMPORT_RE.finditer(text):
        spec = m.group(1) or m.group(2)
        assert spec.startswith("/static/"), f"{rel(path)} imports {spec!r}: use absolute /static/ paths"
        target = static_path_for(spec)
        assert target is not None and target.is_file(), f"{rel(path)} imports missing {spec}"
    # CSP has no 'unsafe-eval'; and teacher-typed text must never be parsed as HTML.
    for bad in ("eval(", "new Function(", ".innerHTML", ".outerHTML", "insertAdjacentHTML",
                "document.write(", ".setAttribute(\"style\"", ".setAttribute('style'"):
        assert bad not in text, f"{rel(path)} uses {bad}"


def test_service_worker_shell_files_exist() -> None:
    text = (STATIC / "sw.js").read_text(encoding="utf-8")
    listed = re.findall(r'"(/static/[^"]+|/manifest\.webmanifest)"', text)
    assert listed, "sw.js lists no shell assets"
    for url in listed:
        target = static_path_for(url)
        assert target is not None and target.is_file(), f"sw.js caches missing {url}"
    # Every page's own script is in the shell, or a reload offline would be a blank page.
    for page in ("index", "student", "teacher"):
        assert f'"/static/js/{page}.js"' in text


def _imports_of(url: str, seen: set[str]) -> set[str]:
    """Every /static/ module `url` imports, directly or not (itself included)."""
    if url in seen:
        return seen
    seen.add(url)
    target = static_path_for(url)
    assert target is not None and target.is_file(), f"missing module {url}"
    for m in IMPORT_RE.finditer(target.read_text(encoding="utf-8")):
        _imports_of(m.group(1) or m.group(2), seen)
    return seen


def test_service_worker_shell_lists_every_module_the_cached_pages_import() -> None:
    """A module left out of the shell breaks the whole page offline (an import that fails fails
    the page's script), so the list must follow every split of a page's script into modules."""
    text = (STATIC / "sw.js").read_text(encoding="utf-8")
    listed = set(re.findall(r'"(/static/[^"]+)"', text))
    needed: set[str] = set()
    for page in ("index", "student", "teacher"):
        needed |= _imports_of(f"/static/js/{page}.js", set())
    assert needed - listed == set(), f"sw.js does not cache {sorted(needed - listed)}"


def _png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{rel(path)} is not a PNG"
    w, h = struct.unpack(">II", data[16:24])
    return w, h


def test_manifest_icons_exist_with_their_declared_sizes() -> None:
    manifest = json.loads((STATIC / "manifest.webmanifest").read_text(encoding="utf-8"))
    assert manifest["start_url"].startswith("/")
    purposes = set()
    sizes = set()
    for icon in manifest["icons"]:
        target = static_path_for(icon["src"])
        assert target is not None and target.is_file(), f"manifest icon missing: {icon['src']}"
        purposes.add(icon.get("purpose", "any"))
        if icon["type"] == "image/png":
            w, h = _png_size(target)
            assert f"{w}x{h}" == icon["sizes"], f"{icon['src']} is {w}x{h}, says {icon['sizes']}"
            sizes.add(w)
    assert {192, 512} <= sizes
    assert {"any", "maskable"} <= purposes


def test_vendored_socketio_client_is_recorded() -> None:
    d = VENDOR / "socket.io-client"
    version = (d / "VERSION").read_text(encoding="utf-8").strip()
    assert re.fullmatch(r"4\.8\.\d+", version), version
    js = (d / "socket.io.esm.min.js").read_text(encoding="utf-8")
    assert f"Socket.IO v{version}" in js, "VERSION does not match the vendored build"
    assert re.search(r"\bas io\b", js), "the ESM build should export io"
    assert (d / "LICENSE").is_file()


# ---------------------------------------------------------------- JS syntax


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
@pytest.mark.parametrize(
    "path",
    JS_FILES + [VENDOR / "socket.io-client" / "socket.io.esm.min.js"],
    ids=rel,
)
def test_js_parses_as_an_es_module(path: Path) -> None:
    node = shutil.which("node")
    assert node is not None
    res = subprocess.run(
        [node, "--input-type=module", "--check"],
        input=path.read_bytes(),
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert res.returncode == 0, f"{rel(path)}: {res.stderr.decode(errors='replace')[-800:]}"


def css_nesting_slips(text: str) -> list[str]:
    """Rules that start inside another style rule: what an unclosed `{` left by a merge does.

    The stylesheet uses no CSS nesting, so a selector at the start of a line is only ever inside
    an at-rule (`@media` ...). Browsers read one inside a style rule as a nested rule and apply
    it to the wrong elements, or not at all, without an error anywhere.
    """
    slips: list[str] = []
    open_blocks: list[str] = []
    for number, line in enumerate(text.splitlines(), 1):
        code = re.sub(r"/\*.*?\*/", "", line)
        starts_rule = bool(line) and not line[0].isspace() and line[0] not in "}/"
        if starts_rule and open_blocks and not open_blocks[-1].startswith("@"):
            slips.append(f"line {number}: {line.strip()!r} inside {open_blocks[-1]!r}")
        for char in code:
            if char == "{":
                open_blocks.append(line.strip())
            elif char == "}" and open_blocks:
                open_blocks.pop()
    return slips + [f"never closed: {block!r}" for block in open_blocks]


@pytest.mark.parametrize("path", sorted((STATIC / "css").glob("*.css")), ids=lambda p: p.name)
def test_stylesheet_rules_are_closed(path: Path) -> None:
    assert css_nesting_slips(path.read_text(encoding="utf-8")) == []


def test_nesting_slip_detector_finds_an_unclosed_rule() -> None:
    broken = ".a {\n  color: red;\n.b {\n  color: blue;\n}\n@media (x) {\n.c { margin: 0; }\n}\n"
    assert css_nesting_slips(broken) == ["line 3: '.b {' inside '.a {'",
                                         "line 6: '@media (x) {' inside '.a {'",
                                         "never closed: '.a {'"]
    assert css_nesting_slips(".a {\n  color: red;\n}\n@media (x) {\n.c { margin: 0; }\n}\n") == []
