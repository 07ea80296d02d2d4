"""The import graph of the package, read from the source with `ast` (imports inside functions
included): no module circle, and no module imports one of a higher layer of the pipeline."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("saliency", "discovery")

# The pipeline's layers, lowest first: a module may import its own layer and those below it. A
# module belongs to the entry with the longest prefix of its name.
LAYERS = (
    (
        "foundation",
        (
            "saliency.errors",
            "saliency.files",
            "saliency.paths",
            "saliency.images",
            "saliency.device",
            "saliency.distributed",
            "saliency.resume",
            "saliency.training",
            "saliency.ema",
            "saliency.metrics",
            "saliency.viz",
            "saliency.weights",
            "saliency.cutout",
            "saliency.grabcut",
            "saliency.masks",
            "saliency.filters",
            "saliency.pairs",
            "saliency.batches",
        ),
    ),
    ("generators", ("saliency.generators", "saliency.gan")),
    ("discover", ("discovery",)),
    ("select and synthesise", ("saliency.selection", "saliency.synthesis")),
    ("train", ("saliency.unet",)),
    ("classical methods, benchmark and predictors", ("saliency.classical", "saliency.bench", "saliency.predictors")),
    ("real photos", ("saliency.real_photos",)),
    ("API", ("saliency.api",)),
    (
        "interfaces: commands and the HTTP service",
        ("saliency.commands", "saliency.server", "saliency.cli", "saliency.__main__", "saliency"),
    ),
)


def project_modules() -> dict[str, Path]:
    modules = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            modules[".".join(parts)] = path
    return modules


def imports_of(name: str, path: Path, modules: dict[str, Path], named: bool = False) -> set[str]:
    """Project modules that `name` imports anywhere in its file; with `named`, also those it names
    in a string ("package.module" or "package.module:attribute", as registries name them for
    importlib), which it imports when that entry is used."""
    is_package = path.name == "__init__.py"
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = name.split(".") if is_package else name.split(".")[:-1]
                anchor = anchor[: len(anchor) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base for alias in node.names]
        elif named and isinstance(node, ast.Constant) and isinstance(node.value, str) and "." in node.value.split(":")[0]:
            targets = [node.value.split(":")[0]]
        else:
            continue
        found |= {t for t in targets if t in modules and t != name}
    return found


def import_graph(named: bool = False) -> dict[str, set[str]]:
    """Who imports whom; with `named`, registries' string entries count as imports."""
    modules = project_modules()
    return {name: imports_of(name, path, modules, named) for name, path in modules.items()}


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
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
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_the_graph_reader_sees_a_circle_and_a_lazy_import():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert circles(graph) == [["a", "b", "c"]]
    modules = project_modules()
    # imports inside functions count: the CLI imports each command module only when it runs
    assert "saliency.cli" in modules and "saliency.generators.registry" in imports_of(
        "saliency.generators", modules["saliency.generators"], modules
    )
    assert "saliency.unet.model" in import_graph()["saliency.predictors"]  # imported inside UNetPredictor
    # named in a string for importlib: the CLI's stage list, the predictors' classical methods
    assert "saliency.commands.demo" in import_graph(named=True)["saliency.cli"]
    assert "saliency.classical.wctr" in import_graph(named=True)["saliency.predictors"]
    assert "saliency.commands.demo" not in import_graph()["saliency.cli"]


def test_no_import_circle_in_the_package():
    """Registries' string entries included: the demo once imported saliency.cli back, which names
    the demo in its stage list (a circle only the strings show)."""
    assert circles(import_graph(named=True)) == []


def test_backends_are_listed_lazily_and_never_import_the_registry():
    from saliency.generators.registry import BACKENDS, available

    graph = import_graph()
    backend_modules = {target.partition(":")[0] for target in BACKENDS.values()}
    assert not any("saliency.generators.registry" in graph[m] for m in backend_modules)
    assert not backend_modules & graph["saliency.generators.registry"]
    # every table entry resolves to the spec of that name
    assert {name: s.name for name, s in available().items()} == {name: name for name in BACKENDS}


def test_classical_methods_are_listed_lazily_and_each_entry_resolves():
    import numpy as np

    from saliency.predictors import CLASSICAL, make_predictor

    graph = import_graph()
    assert not {target.partition(":")[0] for target in CLASSICAL.values()} & graph["saliency.predictors"]
    for name in CLASSICAL:
        predictor = make_predictor(name, "cpu")
        assert predictor.name == name and predictor(np.zeros((48, 48, 3), np.uint8)).shape == (48, 48)


def layer_of(module: str) -> int:
    best = max(
        (
            (len(prefix), rank)
            for rank, (_, prefixes) in enumerate(LAYERS)
            for prefix in prefixes
            if module == prefix or module.startswith(prefix + ".")
        ),
        default=None,
    )
    assert best is not None, f"{module} is in no layer of LAYERS: add it"
    return best[1]


def upward_imports(graph: dict[str, set[str]]) -> list[str]:
    return sorted(
        f"{a} ({LAYERS[layer_of(a)][0]}) imports {b} ({LAYERS[layer_of(b)][0]})"
        for a, targets in graph.items()
        for b in targets
        if layer_of(b) > layer_of(a)
    )


def test_the_layer_check_sees_an_upward_import():
    assert upward_imports({"saliency.gan.train": {"saliency.unet.data"}, "saliency.unet.train": {"saliency.gan.models"}}) == [
        "saliency.gan.train (generators) imports saliency.unet.data (train)"
    ]
    assert layer_of("saliency") == len(LAYERS) - 1 and layer_of("saliency.predictors") == 5


def test_no_module_imports_a_higher_layer():
    assert upward_imports(import_graph()) == []
