"""docs/your-own-model.md as a module, for tests/test_tutorial.py and mesa.batch_run's workers.

Imported, the module runs the tutorial's definitions only (imports, functions, classes,
constants), not its runs: that is what a worker process of the tutorial's batch run
(``spawn``) needs to unpickle the model class and chat model it is sent by reference.
The test then runs every ``python`` block in order in this module's namespace, so that
what they define belongs to ``tests.tutorial`` as well.
"""

import ast
import re
from dataclasses import dataclass
from pathlib import Path

DOC = Path(__file__).resolve().parents[1] / "docs" / "your-own-model.md"
RUN = "python"
NO_TEST = "python no-test"
OUTPUT = "text"

_FENCE = re.compile(r"^```([^\n`]*)\n(.*?)^```[ \t]*$", re.MULTILINE | re.DOTALL)


@dataclass(frozen=True)
class Block:
    """A fenced block of the tutorial: its info string, its text, and its first line in the file."""

    info: str
    text: str
    line: int
    output: str | None = None  # for a block that runs: the text block right after it, if any

    def code(self) -> object:
        """The block compiled, with the tutorial's line numbers in tracebacks."""
        return compile("\n" * (self.line - 1) + self.text, str(DOC), "exec")


def tutorial_blocks() -> list[Block]:
    """Every fenced block of the tutorial in order; a block that runs carries the output shown after it."""
    markdown = DOC.read_text(encoding="utf-8")
    fences = list(_FENCE.finditer(markdown))
    blocks = []
    for i, fence in enumerate(fences):
        info = fence.group(1).strip()
        line = markdown.count("\n", 0, fence.start(2)) + 1
        output = None
        if info == RUN and i + 1 < len(fences):
            following = fences[i + 1]
            between = markdown[fence.end() : following.start()]
            if following.group(1).strip() == OUTPUT and not between.strip():
                output = following.group(2)
        blocks.append(Block(info, fence.group(2), line, output))
    return blocks


def _definitions(tree: ast.Module, known: set[str]) -> list[ast.stmt]:
    """The statements of ``tree`` that only define: imports, functions, classes, and constants.

    A constant is an assignment without calls that reads only names defined before it (so
    ``Action = Literal[...]`` is one, ``frame = model.datacollector...`` is not). ``known``
    gains the names defined.
    """
    kept = []
    for node in tree.body:
        if isinstance(node, ast.Import | ast.ImportFrom):
            known.update((alias.asname or alias.name).split(".")[0] for alias in node.names)
        elif isinstance(node, ast.FunctionDef | ast.ClassDef):
            known.add(node.name)
        elif isinstance(node, ast.Assign) and _constant(node.value, known):
            known.update(target.id for target in node.targets if isinstance(target, ast.Name))
        else:
            continue
        kept.append(node)
    return kept


def _constant(value: ast.expr, known: set[str]) -> bool:
    nodes = list(ast.walk(value))
    return not any(isinstance(node, ast.Call) for node in nodes) and all(
        node.id in known for node in nodes if isinstance(node, ast.Name)
    )


_known: set[str] = set()
for _block in tutorial_blocks():
    if _block.info == RUN:
        _tree = ast.parse("\n" * (_block.line - 1) + _block.text, str(DOC))
        _tree.body = _definitions(_tree, _known)
        exec(compile(_tree, str(DOC), "exec"), globals())
