"""Config: ranges, presets, overrides, cross-field rules and hashability."""

from __future__ import annotations

import pydantic
import pytest

from basisgraph.config import OPTIONAL, PRESETS, Config, ConfigError, describe_range, parse_config

# field -> (smallest allowed, largest allowed, just below, just above)
RANGES = {
    "animals": (2, 100_000, 1, 100_001),
    "attributes": (1, 1024, 0, 1025),
    "random_dims": (0, 1024, -1, 1025),
    "active": (1, 16, 0, 17),
    "samples": (1, 20_000, 0, 20_001),
    "seed": (0, 2**32 - 1, -1, 2**32),
    "coverage": (1e-9, 1.0, 0.0, 1.0 + 1e-9),
    "alpha": (0.0, 1.0, -1e-9, 1.0 + 1e-9),
    "circuits": (1, 64, 0, 65),
    "overlay": (0.0, 1.0, -0.01, 1.01),
    "composite_weight": (1e-9, 1.0, 0.0, 1.01),
    "attributes_on": (1, 64, 0, 65),
}


# field -> its allowed choices (the keys added with link version 2)
CHOICES = {"residual": ("minnorm", "sparse", "error"), "overlay_sampling": ("topup", "stratified"),
           "attribute_law": ("gaussian", "binary")}


def test_every_numeric_field_has_a_range_here():
    assert set(RANGES) == set(Config.model_fields) - {"preset"} - set(CHOICES)


@pytest.mark.parametrize("field", sorted(CHOICES))
def test_choice_fields_accept_each_choice_and_name_themselves_otherwise(field):
    for value in CHOICES[field]:
        assert getattr(parse_config({field: value}), field) == value
    with pytest.raises(ConfigError) as info:
        parse_config({field: "dense"})
    assert info.value.field == field
    assert describe_range(field) == "one of " + ", ".join(CHOICES[field])
    assert str(info.value) == f"{field}: 'dense' is not allowed; expected {describe_range(field)}"


def test_version_1_configs_leave_the_new_keys_out_of_json_bodies():
    legacy = Config(residual="minnorm", overlay_sampling="topup")
    assert "residual" not in legacy.as_json() and "overlay_sampling" not in legacy.as_json()
    everything = Config().model_dump()
    assert Config().as_json() == {k: v for k, v in everything.items() if k not in OPTIONAL}
    assert Config(residual="minnorm").as_json()["overlay_sampling"] == "stratified"
    # residual never changes what is trained; the version-1 draw keeps old cache keys
    assert "residual" not in Config().training_json()
    assert "overlay_sampling" not in legacy.training_json()


def test_optional_keys_are_left_out_at_their_defaults_only():
    # Later keys whose default changes no number: absent from bodies and cache keys at the
    # default (so every earlier body and cached SAE stays valid), present otherwise.
    assert OPTIONAL == {"attribute_law": "gaussian", "attributes_on": 3}
    for cfg in (Config(), Config(residual="minnorm", overlay_sampling="topup"), Config(preset="bunny")):
        assert not set(OPTIONAL) & set(cfg.as_json()) and not set(OPTIONAL) & set(cfg.training_json())
    binary = Config(attribute_law="binary")
    assert binary.as_json()["attribute_law"] == "binary" and "attributes_on" not in binary.as_json()
    assert binary.training_json()["attribute_law"] == "binary"
    assert Config(attributes_on=5).as_json()["attributes_on"] == 5


@pytest.mark.parametrize("field", sorted(RANGES))
@pytest.mark.parametrize("side", [2, 3])
def test_out_of_range_names_the_field(field, side):
    bad = RANGES[field][side]
    with pytest.raises(ConfigError) as info:
        parse_config({field: bad})
    err = info.value
    assert err.field == field
    assert err.value == bad
    assert err.allowed == describe_range(field)
    text = str(err)
    assert text.startswith(f"{field}: ") and "\n" not in text
    assert "expected" in text


@pytest.mark.parametrize("field", sorted(RANGES))
@pytest.mark.parametrize("side", [0, 1])
def test_range_ends_are_accepted(field, side):
    value = RANGES[field][side]
    cfg = parse_config({field: value})
    assert getattr(cfg, field) == value


@pytest.mark.parametrize("field, text", [("animals", "abc"), ("animals", "1e3"), ("animals", "3.5"),
                                         ("alpha", "nan"), ("coverage", "inf"), ("seed", ""),
                                         ("animals", True)])
def test_non_numbers_name_the_field(field, text):
    with pytest.raises(ConfigError) as info:
        parse_config({field: text})
    assert info.value.field == field


def test_strings_from_flags_and_query_strings_are_coerced():
    cfg = parse_config({"animals": "300", "alpha": "0.25", "coverage": "0.75", "seed": "7"})
    assert (cfg.animals, cfg.alpha, cfg.coverage, cfg.seed) == (300, 0.25, 0.75, 7)


def test_describe_range_wording():
    assert describe_range("animals") == "an integer from 2 to 100000"
    assert describe_range("alpha") == "a number from 0.0 to 1.0"
    assert describe_range("coverage") == "a number greater than 0.0 to 1.0"
    assert describe_range("preset") == "one of post, bunny, wide, small"


def test_unknown_preset_names_preset():
    with pytest.raises(ConfigError) as info:
        parse_config({"preset": "nope"})
    assert info.value.field == "preset"
    assert "post" in info.value.allowed and "bunny" in info.value.allowed


def test_active_above_animals_names_active():
    with pytest.raises(ConfigError) as info:
        parse_config({"animals": 4, "active": 5})
    assert info.value.field == "active"
    assert info.value.value == 5
    assert "at most animals (4)" in str(info.value)
    assert parse_config({"animals": 4, "active": 4}).active == 4


def test_active_above_a_preset_animal_count_names_active():
    with pytest.raises(ConfigError) as info:
        parse_config({"preset": "bunny", "active": 5})
    assert info.value.field == "active"


def test_total_work_guard_names_samples():
    with pytest.raises(ConfigError) as info:
        parse_config({"samples": 20_000, "attributes": 1024})
    assert info.value.field == "samples"
    assert "20000000" in info.value.allowed


def test_encoder_size_guard_names_animals():
    with pytest.raises(ConfigError) as info:
        parse_config({"animals": 100_000, "attributes": 300})
    assert info.value.field == "animals"
    assert parse_config({"animals": 100_000, "attributes": 256}).animals == 100_000


def test_defaults_are_the_post():
    cfg = Config()
    assert (cfg.preset, cfg.animals, cfg.attributes, cfg.random_dims, cfg.active) == ("post", 1000, 50, 0, 1)
    assert (cfg.samples, cfg.seed, cfg.coverage, cfg.alpha) == (2000, 0, 0.9, 0.5)
    assert cfg.d_model == 50
    assert parse_config({}) == cfg == parse_config({"preset": "post"})


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_presets_fill_their_fields(name):
    cfg = Config(preset=name)
    for field, value in PRESETS[name].items():
        assert getattr(cfg, field) == value
    untouched = set(Config.model_fields) - set(PRESETS[name]) - {"preset"}
    for field in untouched:
        assert getattr(cfg, field) == Config.model_fields[field].default


def test_bunny_and_wide_presets():
    bunny = Config(preset="bunny")
    assert (bunny.animals, bunny.attributes) == (4, 2)
    wide = Config(preset="wide")
    assert (wide.attributes, wide.random_dims, wide.d_model) == (50, 50, 100)


def test_explicit_values_override_the_preset():
    cfg = parse_config({"preset": "bunny", "samples": 100, "animals": 6})
    assert (cfg.samples, cfg.animals, cfg.attributes) == (100, 6, 2)
    assert parse_config({"preset": "wide", "random_dims": 10}).d_model == 60
    # None means "not given": the preset value stays.
    assert parse_config({"preset": "bunny", "animals": None}).animals == 4


def test_unknown_keys_are_dropped_by_parse_config_only():
    assert parse_config({"animals": 300, "colour": "red"}).animals == 300
    with pytest.raises(pydantic.ValidationError):
        Config(colour="red")


def test_overrides_omit_defaults():
    assert Config().overrides() == {}
    assert parse_config({"animals": 1000, "alpha": 0.5}).overrides() == {}
    assert parse_config({"animals": 300, "seed": 3}).overrides() == {"animals": 300, "seed": 3}


def test_overrides_are_relative_to_the_preset():
    assert Config(preset="bunny").overrides() == {"preset": "bunny"}
    assert parse_config({"preset": "bunny", "animals": 4}).overrides() == {"preset": "bunny"}
    assert parse_config({"preset": "bunny", "animals": 1000}).overrides() == {"preset": "bunny",
                                                                              "animals": 1000}
    assert parse_config({"preset": "wide", "alpha": 0.3}).overrides() == {"preset": "wide", "alpha": 0.3}


@pytest.mark.parametrize("values", [{}, {"preset": "bunny"}, {"preset": "wide", "seed": 4},
                                    {"animals": 300, "attributes": 20, "coverage": 0.5},
                                    {"preset": "bunny", "animals": 50, "overlay": 0.0}])
def test_overrides_round_trip(values):
    cfg = parse_config(values)
    assert parse_config(cfg.overrides()) == cfg
    assert Config.model_validate(cfg.model_dump()) == cfg


def test_frozen():
    cfg = Config()
    with pytest.raises(pydantic.ValidationError):
        cfg.animals = 5  # type: ignore[misc]
    assert cfg.animals == 1000


def test_hashable_and_equal_by_value():
    a = parse_config({"animals": "300"})
    b = Config(animals=300)
    assert a == b and hash(a) == hash(b)
    assert len({a, b, Config()}) == 2
    assert {a: 1}[b] == 1
    assert a.key() == b.key() and a.key() != Config().key()
