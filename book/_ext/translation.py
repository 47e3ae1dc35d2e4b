"""What the Japanese edition needs of Sphinx, as a local extension (_config.yml).

Sphinx extracts and translates only the units that know their source file: a paragraph
inside a directive's body (the notation tables, inside ``:::{div} notation-table``) is
parsed without one, so it would be neither extracted by the gettext builder nor translated.
This transform gives every such unit the source and line of the nearest enclosing node that
has them, before Sphinx's own i18n transform (priority 20) runs.
"""

from __future__ import annotations

from docutils import nodes
from sphinx.transforms import SphinxTransform


class SourceForEveryUnit(SphinxTransform):
    """Give each text unit without a source that of its nearest ancestor with one."""

    default_priority = 5

    def apply(self, **kwargs) -> None:
        for node in self.document.findall(nodes.TextElement):
            if node.source:
                continue
            parent = node.parent
            while parent is not None and not parent.source:
                parent = parent.parent
            if parent is not None:
                node.source = parent.source
                node.line = node.line or parent.line


def setup(app):
    app.add_transform(SourceForEveryUnit)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
