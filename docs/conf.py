"""Sphinx configuration: the guides in docs/*.md (MyST) and an API reference from the docstrings.

Build: ``python -m sphinx -W --keep-going -b html docs <out>`` (tests/test_docs_build.py runs
exactly that, so a warning or a broken reference fails the test suite).
"""

from __future__ import annotations

import re
from pathlib import Path

import ensel

ROOT = Path(__file__).resolve().parents[1]

project = "ensel"
author = "the ensel developers"
copyright = "2026, the ensel developers"
version = release = ensel.__version__

extensions = [
    "myst_parser",
    "numpydoc",
    "sphinx.ext.autodoc",
    "sphinx.ext.mathjax",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build"]

# Broken references fail the build: every cross-reference must resolve ...
nitpicky = True
default_role = "py:obj"
# ... except to libraries whose inventories cannot be fetched offline (no intersphinx here).
nitpick_ignore_regex = [
    (r"py:.*", r"(numpy|np|torch|sklearn|scipy|pandas|ray|matplotlib|typer|safetensors)(\..*)?"),
    (r"py:.*", r"(pathlib|os|typing|collections|sqlite3|json|dataclasses|enum)(\..*)?"),
    (r"py:.*", r"(functools|itertools|contextlib|importlib|io|re|sys|types|abc)(\..*)?"),
]

autodoc_default_options = {"members": True, "inherited-members": True, "member-order": "bysource"}
autodoc_typehints = "none"  # numpydoc's Parameters sections carry the types and shapes
numpydoc_show_class_members = False
numpydoc_xref_param_type = False
numpydoc_validation_checks: set[str] = set()

myst_enable_extensions = ["dollarmath"]
myst_heading_anchors = 3

html_theme = "alabaster"
html_title = f"ensel {release}"
html_static_path: list[str] = []


def _docstring_owner(obj) -> str:
    """The module of the class whose docstring a method without its own would show."""
    import importlib

    qualname = getattr(obj, "__qualname__", "")
    if getattr(obj, "__doc__", None) is not None or "." not in qualname:
        return getattr(obj, "__module__", None) or ""
    cls = importlib.import_module(obj.__module__)
    for part in qualname.split(".")[:-1]:
        cls = getattr(cls, part, None)
    name = qualname.rsplit(".", 1)[-1]
    for base in getattr(cls, "__mro__", ())[1:]:
        if getattr(base.__dict__.get(name), "__doc__", None):
            return base.__module__
    return obj.__module__


def _skip_member(app, what, name, obj, skip, options):
    """Leave out what ensel inherits from scikit-learn or torch, docstrings included.

    A method ensel defines without a docstring of its own (``ConvNet.forward``) would show
    torch's ("Should be overridden by all subclasses"), so it is left out as well.
    """
    if what == "class" and callable(obj) and not _docstring_owner(obj).startswith("ensel"):
        return True
    return None


def _same_object(a: str, b: str) -> bool:
    from pkgutil import resolve_name

    try:
        return resolve_name(a) is resolve_name(b)
    except (ImportError, AttributeError, ValueError):
        return False


def _resolve_by_short_name(app, env, node, contnode):
    """Resolve `PredictionTable` to ``ensel.PredictionTable`` when one documented object ends so.

    Docstrings name ensel's classes without their package, as scikit-learn's do, or by
    another path to the same object (`ensel.DifferentiableSelector`). A fitted
    attribute (`classes_`, listed in its class's Attributes section, which gives it no link
    target) is shown as code. Any other name that matches no documented object, or several
    (`fit`), stays unresolved and fails the build.
    """
    from docutils import nodes
    from sphinx.util.nodes import make_refnode

    if node.get("refdomain") != "py":
        return None
    target = node["reftarget"].lstrip("~.")
    if re.fullmatch(r"[a-z][a-z0-9_]*[a-z0-9]_", target):
        return nodes.literal(target, target)
    objects = [(entry.docname, name) for name, entry in env.get_domain("py").objects.items()
               if not entry.aliased]
    matches = [(doc, name) for doc, name in objects
               if name == target or name.endswith("." + target)]
    if not matches and "." in target:  # `ensel.DifferentiableSelector`: documented elsewhere
        last = target.rsplit(".", 1)[-1]
        matches = [(doc, name) for doc, name in objects
                   if name.rsplit(".", 1)[-1] == last and _same_object(name, target)]
    if len(matches) != 1:
        return None
    ((docname, name),) = matches
    return make_refnode(app.builder, node["refdoc"], docname, name, contnode, name)


def _repository_links(app, relative_path, parent_docname, content):
    """Fit the links of an included top-level file (README.md, CHANGELOG.md) to the site.

    ``docs/ops.md`` becomes the page ``ops.md``; a link to another file of the repository
    (``src/ensel/data/SOURCES.md``), which is not part of the site, keeps its text without the
    link. A link to a file that does not exist is left alone, so the build reports it.
    """
    if (Path(app.srcdir) / relative_path).resolve().parent != ROOT:
        return

    def fit(match: re.Match) -> str:
        text, target = match.group(1), match.group(2)
        path = target.split("#", 1)[0]
        if re.match(r"[a-z]+:", target) or target.startswith("#") or not path:
            return match.group(0)
        if path.startswith("docs/"):
            return f"[{text}]({target.removeprefix('docs/')})"
        return text if (ROOT / path).exists() else match.group(0)

    content[0] = re.sub(r"(?<!!)\[([^\]]+)\]\(([^)\s]+)\)", fit, content[0])


def _fitted_attribute_names():
    """A transform: ``n_features_`` written bare in a docstring is a fitted attribute's name.

    reStructuredText reads a word ending in ``_`` as a link to a target of that name; in a
    numpydoc docstring (``ndarray of shape (n_features_,)``) it is scikit-learn's name of a
    fitted attribute. A link of that form with no target becomes the word again; a real
    target of the name still links.
    """
    from docutils import nodes
    from sphinx.transforms import SphinxTransform

    class FittedAttributeNames(SphinxTransform):
        default_priority = 845  # after docutils resolves the links it can, before it reports

        def apply(self, **kwargs):
            for ref in list(self.document.findall(nodes.reference)):
                name = ref.get("refname")
                if name and not ref.resolved and re.fullmatch(r"[a-z][a-z0-9_]*", name) \
                        and ref.astext() == name:
                    refs = self.document.refnames.get(name, [])
                    if ref in refs:
                        refs.remove(ref)
                    ref.replace_self(nodes.Text(name + "_"))

    return FittedAttributeNames


def setup(app):
    app.add_transform(_fitted_attribute_names())
    app.connect("include-read", _repository_links)
    app.connect("autodoc-skip-member", _skip_member)
    app.connect("missing-reference", _resolve_by_short_name)
