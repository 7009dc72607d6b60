"""The registry: lazy, complete, and `import ensel.combine` stays free of torch."""

from __future__ import annotations

import subprocess
import sys

import pytest

from ensel.combine import COMBINERS, Combiner, get_combiner

EXPECTED = {"best-single", "vote", "average", "weighted-average", "stacking", "greedy", "ola",
            "lca", "knora-e", "knora-u", "meta-des", "neural", "e2e-cel", "oracle", "qo-es",
            "qdo-es", "auto", "cascade"}


def test_registry_lists_every_method():
    assert set(COMBINERS) == EXPECTED
    assert COMBINERS.paths["e2e-cel"] == "ensel.combine.learned:DifferentiableSelector"


def test_import_ensel_combine_does_not_import_torch():
    code = ("import sys, ensel.combine; from ensel.combine import COMBINERS; "
            "list(COMBINERS); assert 'torch' not in sys.modules, 'torch was imported'")
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.parametrize("name", sorted(EXPECTED - {"e2e-cel"}))
def test_get_combiner_returns_a_combiner_class(name):
    cls = get_combiner(name)
    assert isinstance(cls, type) and issubclass(cls, Combiner)


def test_lazy_class_attributes():
    import ensel.combine

    assert ensel.combine.NeuralEnsembler is get_combiner("neural")
    with pytest.raises(AttributeError, match="has no attribute 'Nope'"):
        ensel.combine.Nope  # noqa: B018


def test_unknown_name():
    with pytest.raises(ValueError, match=r"Unknown combiner 'knora'; choose one of \["):
        get_combiner("knora")
    with pytest.raises(KeyError, match="Unknown combiner 'knora'"):
        COMBINERS["knora"]


def test_register_and_unimportable_module():
    COMBINERS.register("test-missing", "ensel.combine.does_not_exist:Thing")
    try:
        assert "test-missing" in COMBINERS
        with pytest.raises(ImportError, match="Combiner 'test-missing' lives in "
                                              "ensel.combine.does_not_exist"):
            get_combiner("test-missing")
    finally:
        del COMBINERS._paths["test-missing"]
    with pytest.raises(ValueError, match="must look like 'package.module:Class'"):
        COMBINERS.register("bad", "ensel.combine.static.Vote")
