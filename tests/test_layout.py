"""The layout holds: no import cycles, no private Keras or TensorFlow imports but the one module
that says why, and no code outside models/ that asks a model's class name instead of the model."""

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("models", "utils")


def modules():
    """{dotted module name: path} of the project's code."""
    found = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
            found[name[:-len(".__init__")] if name.endswith(".__init__") else name] = path
    return found


def imports(path):
    """Every module an import statement in ``path`` names, at any depth (lazy imports too)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def test_no_module_imports_itself_back():
    project = modules()
    graph = {name: {other for other in imports(path) if other in project and other != name}
             for name, path in project.items()}

    def reaches(start, goal, seen):
        for other in graph[start]:
            if other == goal or (other not in seen and reaches(other, goal, seen | {other})):
                return True
        return False

    cycles = sorted(name for name in graph if reaches(name, name, {name}))
    assert not cycles, f"import cycles through {cycles}"


def test_private_keras_and_tensorflow_stay_in_one_module():
    private = {str(path.relative_to(ROOT)) for path in modules().values()
               if any(name.startswith(("keras.src", "tensorflow.python")) for name in imports(path))}
    # Op determinism's switch (no public way to read or undo it) and the in-memory checkpoint (no
    # public way to save weights but to a path), each with a fallback should the private API move.
    assert private == {"utils/evaluation/determinism.py", "utils/runs/checkpoint.py"}


def test_nothing_outside_models_asks_a_class_name():
    asking = re.compile(r"__name__\s*(==|!=|in\b)|class_name\s*(==|!=|in\b)|isinstance\([^)]*\b(GAN|WGAN|WGANGP|CGAN|InfoGAN)\)")
    offenders = [f"{path.relative_to(ROOT)}:{number}" for path in (ROOT / "utils").rglob("*.py")
                 for number, line in enumerate(path.read_text().splitlines(), 1)
                 if asking.search(line) and "__main__" not in line]
    assert not offenders, offenders
