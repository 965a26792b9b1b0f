"""The layers of chalicelib, checked over the import graph (AST only: nothing is imported).

    edges (api/, events/, labelstudio/server.py) -> services/ -> domain/, labeling/, ml/
    store/ only from services/ and events/; domain/ imports nothing of ours but labeling/ and errors;
    PynamoDB only inside store/ (which returns plain records);
    no edge imports another edge; no import cycles;
    our own modules are imported at module top; an import inside a function is allowed only for
    the heavy libraries (numpy, scipy, scikit-learn, joblib, Pillow, threadpoolctl (~20 ms, training
    only); boto3, which costs ~0.1 s that /ls/health must not pay), and the module or its package
    docstring says why.

`violations(root)` returns one line per breach (empty when the tree follows the layers);
tests/unit/test_import_layers.py runs it on this repository and on a tree with deliberate breaches.
"""
from __future__ import annotations

import ast
import re
from pathlib import Path

PACKAGE = "chalicelib"
# The first matching prefix names a module's layer (module names without the "chalicelib." prefix).
LAYERS = [
    ("local", "local"),  # the embedded local stack: a harness that may import anything, imported by nothing
    ("api", "api"),
    ("console", "api"),  # the web console's static files, served by routes of app.py
    ("events", "events"),
    ("labelstudio.server", "ls_edge"),
    ("services", "services"),
    ("store.aws", "base"),
    ("store.secrets", "base"),
    ("store", "store"),
    ("labelstudio.crypto", "base"),
    ("labelstudio.protocol", "labeling"),  # Label Studio's request/answer shapes: pure parsing
    ("labelstudio", "clients"),  # client.py (custom backends), lsapi.py (Label Studio's API), net.py, auth.py
    ("domain", "domain"),
    ("labeling", "labeling"),
    ("ml", "ml"),
    ("errors", "errors"),
    ("config", "base"),
    ("hops", "base"),
    ("", "base"),  # the package itself
]
CORE = {"domain", "labeling", "ml", "errors", "base"}
ALLOWED = {
    "app": {"api", "events", "ls_edge", "clients"} | CORE,
    "api": {"api", "services"} | CORE,
    "events": {"events", "services", "store"} | CORE,
    "ls_edge": {"services", "clients"} | CORE,
    "services": {"services", "store", "clients"} | CORE,
    "clients": {"clients", "domain", "labeling", "errors", "base"},
    "store": {"store", "domain", "errors", "base"},
    "ml": {"ml", "domain", "labeling", "errors"},
    "domain": {"domain", "labeling", "errors"},
    "labeling": {"labeling", "errors"},
    "errors": {"errors"},
    "base": {"base", "errors"},
}
# Named exceptions to ALLOWED, each with its reason.
EXCEPTIONS = {
    ("ml.image_classifier", "store.media"): "the image kind reads its images (S3 or URL) while featurising",
}
HEAVY = {"numpy", "scipy", "sklearn", "joblib", "PIL", "threadpoolctl", "boto3"}
WHY = re.compile(r"import\w*\s+(lazily|inside|only when)|imported here only|cold start", re.IGNORECASE)


def layer(module: str) -> str:
    if module == "app":
        return "app"
    name = module[len(PACKAGE) + 1:] if module.startswith(PACKAGE + ".") else ""
    for prefix, group in LAYERS:
        if name == prefix or name.startswith(prefix + ".") or prefix == "":
            return group
    raise AssertionError(module)


def _short(module: str) -> str:
    return module.removeprefix(PACKAGE + ".")


def _modules(root: Path) -> dict[str, Path]:
    found = {}
    for path in sorted((root / PACKAGE).rglob("*.py")):
        parts = list(path.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    if (root / "app.py").exists():
        found["app"] = root / "app.py"
    return found


def _targets(node, module: str, known: set[str]) -> list[str]:
    """The modules of ours an import statement loads (a `from x import y` of a submodule y counts as y)."""
    if isinstance(node, ast.Import):
        names = [alias.name for alias in node.names]
    else:
        base = node.module or ""
        if node.level:
            package = module.split(".")[:-node.level] if not module.endswith("__init__") else module.split(".")
            base = ".".join(package + ([base] if base else []))
        names = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base for alias in node.names]
    return sorted({n for n in names if n == PACKAGE or n.startswith(PACKAGE + ".")})


def _top_level_imports(tree) -> set[int]:
    """Imports that run when the module is imported (module body, incl. if/try blocks at top)."""
    top, stack = set(), list(tree.body)
    while stack:
        node = stack.pop()
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            top.add(id(node))
        elif isinstance(node, (ast.If, ast.Try)):
            stack += node.body + node.orelse + getattr(node, "finalbody", []) + \
                [n for h in getattr(node, "handlers", []) for n in h.body]
    return top


def _heavy(modules: dict[str, Path]) -> set[str]:
    """Our modules that import a heavy library at module top (so importing them lazily is right)."""
    heavy = set()
    for name, path in modules.items():
        tree = ast.parse(path.read_text())
        top = _top_level_imports(tree)
        for node in ast.walk(tree):
            if id(node) in top:
                mod = node.module if isinstance(node, ast.ImportFrom) else node.names[0].name
                if (mod or "").split(".")[0] in HEAVY:
                    heavy.add(name)
    return heavy


def _says_why(name: str, modules: dict[str, Path]) -> bool:
    parts = name.split(".")
    candidates = [name] + [".".join(parts[:i]) for i in range(len(parts) - 1, 1, -1)]
    return any(c in modules and WHY.search(modules[c].read_text()) for c in candidates)


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan), or self-imports."""
    index, low, on_stack, stack, out, counter = {}, {}, set(), [], [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1 or v in graph.get(v, ()):
                out.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def violations(root: Path) -> list[str]:
    modules = _modules(Path(root))
    known = set(modules)
    heavy = _heavy(modules)
    found, graph = [], {}
    for name, path in modules.items():
        tree = ast.parse(path.read_text())
        top = _top_level_imports(tree)
        source = layer(name)
        for node in ast.walk(tree):
            if not isinstance(node, (ast.Import, ast.ImportFrom)):
                continue
            where = f"{path.relative_to(root)}:{node.lineno}"
            ours = _targets(node, name, known)
            imported = (node.module if isinstance(node, ast.ImportFrom) else node.names[0].name) or ""
            if imported.split(".")[0] == "pynamodb" and source not in ("store", "local"):
                found.append(f"{where}: {name} imports {imported} (PynamoDB stays inside store/, "
                             "which returns the records of domain/records.py)")
            if id(node) in top:
                graph.setdefault(name, set()).update(t for t in ours if t != name)
            else:
                lazy_ours = [t for t in ours if t not in heavy]
                if lazy_ours and source != "local":
                    found.append(f"{where}: {name} imports {', '.join(lazy_ours)} inside a function "
                                 "(our modules are imported at module top)")
                external = (node.module if isinstance(node, ast.ImportFrom) else node.names[0].name) or ""
                if not ours and external.split(".")[0] not in HEAVY and source != "local":
                    found.append(f"{where}: {name} imports {external} inside a function "
                                 f"(only {', '.join(sorted(HEAVY))} may be imported lazily)")
                elif (not ours or not lazy_ours) and source != "local" and not _says_why(name, modules):
                    found.append(f"{where}: {name} imports a heavy library lazily without saying why "
                                 "(in its docstring or its package's)")
            for target in ours:
                allowed = ALLOWED.get(source)
                if allowed is None or (_short(name), _short(target)) in EXCEPTIONS:
                    continue
                if layer(target) not in allowed:
                    found.append(f"{where}: {name} ({source}) imports {target} ({layer(target)}); "
                                 f"{source} may import {', '.join(sorted(allowed))}")
    for cycle in _cycles(graph):
        found.append(f"import cycle: {' <-> '.join(cycle)}")
    return found
