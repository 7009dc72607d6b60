"""ensel.protocol.cached_tables: the benchmark scripts' one table cache."""

from __future__ import annotations

import numpy as np

from ensel.protocol import cached_tables


def test_second_call_reads_the_cache_and_no_temporary_folder_is_left(tmp_path, monkeypatch):
    sel, test = cached_tables("digits", "natural", 0, tmp_path, max_rows=300)
    folder = tmp_path / "digits-natural-0-300"
    assert sorted(p.name for p in tmp_path.iterdir()) == [folder.name]   # renamed in whole
    assert (folder / "sel" / "table.json").is_file() and (folder / "test" / "table.json").is_file()

    import ensel.protocol as protocol

    def no_rebuild(*args, **kwargs):
        raise AssertionError("the cached tables were rebuilt")

    monkeypatch.setattr(protocol, "make_tables", no_rebuild)
    again_sel, again_test = cached_tables("digits", "natural", 0, tmp_path, max_rows=300)
    np.testing.assert_array_equal(again_sel.P, sel.P)
    np.testing.assert_array_equal(again_test.y, test.y)


def test_without_a_cache_nothing_is_written(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    sel, test = cached_tables("digits", "natural", 1, None, max_rows=300)
    assert sel.n_samples + test.n_samples == 150 and list(tmp_path.iterdir()) == []
