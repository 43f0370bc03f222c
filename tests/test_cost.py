"""The cost model: monotone in every size, admits the defaults, and over budget names a field
and a value that fits."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from basisgraph.config import Config, ConfigError
from basisgraph.core.cost import SIZE_FIELDS, Budget, admit, admit_count, predict


@pytest.mark.parametrize("field", SIZE_FIELDS)
def test_cost_grows_with_every_size(field):
    base = Config(animals=500, attributes=40, samples=1000, circuits=10, active=2)
    bigger = base.model_copy(update={field: getattr(base, field) * 2 + 1})
    a, b = predict(base), predict(bigger)
    assert b.seconds >= a.seconds and b.bytes >= a.bytes
    assert a.seconds > 0 and a.bytes > 0


def test_defaults_and_presets_are_admitted():
    for preset in ("post", "bunny", "wide"):
        admit(Config(preset=preset))
    assert predict(Config(), repeats=5).seconds == pytest.approx(5 * predict(Config()).seconds, abs=0.01)


@pytest.mark.parametrize("kw, field", [
    ({"animals": 100000, "attributes": 256}, "animals"),
    ({"attributes": 1000, "animals": 26000, "samples": 1, "circuits": 1}, "attributes"),
    ({"samples": 20000, "animals": 20000}, "animals"),
])
def test_over_budget_names_the_raised_field_and_a_value_that_fits(kw, field):
    cfg = Config(**kw)
    with pytest.raises(ConfigError) as err:
        admit(cfg)
    assert err.value.field == field
    largest = int(err.value.allowed.split(" to ")[1].split(" ")[0])
    admit(cfg.model_copy(update={field: largest}))
    with pytest.raises(ConfigError):
        admit(cfg.model_copy(update={field: largest + 1}))


def test_too_many_repeats_name_the_count_field_and_the_largest_that_fits():
    # A budget of 2.5 default tables: 2 seeds fit, 3 do not, and the error names `seeds`.
    budget = Budget(seconds=2.5 * predict(Config()).seconds)
    assert admit_count(Config(), budget, 2, "seeds", float).seconds <= budget.seconds
    with pytest.raises(ConfigError) as err:
        admit_count(Config(), budget, 5, "seeds", float)
    assert (err.value.field, err.value.value) == ("seeds", 5)
    assert err.value.allowed.startswith("an integer from 1 to 2 ")


def test_a_configuration_too_big_alone_keeps_the_size_error():
    with pytest.raises(ConfigError) as err:
        admit_count(Config(animals=100000, attributes=256), Budget(), 3, "seeds", float)
    assert err.value.field == "animals"


def test_a_tight_budget_refuses_the_defaults():
    with pytest.raises(ConfigError, match="predicted"):
        admit(Config(), Budget(seconds=0.01))


_PEAK = """
import json, sys
from basisgraph.config import Config
from basisgraph.core.counts import table
table(Config(**json.loads(sys.argv[1])))
# VmHWM, not ru_maxrss: the latter keeps the forking parent's peak across exec.
hwm = next(line for line in open("/proc/self/status") if line.startswith("VmHWM:"))
print(int(hwm.split()[1]) * 1024)
"""


@pytest.mark.slow
@pytest.mark.parametrize("kw", [{}, {"animals": 8000}, {"attributes": 400, "animals": 1500}])
def test_predicted_memory_is_not_below_the_measured_peak(kw):
    out = subprocess.run([sys.executable, "-c", _PEAK, json.dumps(kw)], capture_output=True, text=True,
                         check=True, timeout=300)
    assert predict(Config(**kw)).bytes >= int(out.stdout.strip())
