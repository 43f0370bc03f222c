"""Uncertainty across seeds: each cell's median and range contain the single-seed values."""

from __future__ import annotations

import pytest

from basisgraph.config import ConfigError, parse_config
from basisgraph.core.counts import table
from basisgraph.core.seeds import KEYS, MAX_SEEDS, check_seeds, table_across_seeds

SMALL = parse_config({"animals": 120, "attributes": 12, "samples": 300, "seed": 4})


def test_ranges_contain_every_single_seed_value():
    t = table_across_seeds(SMALL, 3)
    assert t["seeds"] == [4, 5, 6]
    singles = [table(SMALL.model_copy(update={"seed": s})) for s in t["seeds"]]
    base = {k: v for k, v in t.items() if k not in ("seeds", "cells")}
    assert base == {k: v for k, v in singles[0].items() if k != "cells"}
    for i, cell in enumerate(t["cells"]):
        assert {k: v for k, v in cell.items() if k != "across_seeds"} == singles[0]["cells"][i]
        for key, name in KEYS.items():
            spread = cell["across_seeds"][key]
            vals = [s["cells"][i][name] for s in singles if s["cells"][i][name] is not None]
            if not vals:
                assert spread is None
                continue
            assert spread["min"] == min(vals) and spread["max"] == max(vals)
            assert spread["min"] <= spread["median"] <= spread["max"]
            assert all(spread["min"] <= v <= spread["max"] for v in vals)


def test_one_seed_is_the_plain_table():
    assert table_across_seeds(SMALL, 1) == table(SMALL)


@pytest.mark.parametrize("bad", [0, MAX_SEEDS + 1, "x", "2.5"])
def test_bad_seeds_name_the_field(bad):
    with pytest.raises(ConfigError) as info:
        check_seeds(bad)
    assert info.value.field == "seeds" and "1 to 9" in info.value.allowed
