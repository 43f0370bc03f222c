"""Readable names and labels for the planted model's features and circuits.

The first few dozen animals and attributes get names; the rest are numbered. A small table of
signs keeps the named animals plausible (bunnies are cute and furry, dolphins are not furry),
which also makes the tiny `bunny` preset readable in two dimensions.
"""

from __future__ import annotations

__all__ = [
    "ANIMAL_NAMES",
    "ATTRIBUTE_NAMES",
    "SIGNS",
    "animal_name",
    "attribute_name",
    "animal_fact",
    "attribute_rule",
    "COMPOSITE_PAIRS",
]

ANIMAL_NAMES = [
    "bunny", "dolphin", "cat", "elephant", "parrot", "mouse", "horse", "tiger", "owl", "shark",
    "penguin", "giraffe", "wolf", "frog", "camel", "bee", "koala", "eagle", "snake", "otter",
    "panda", "lion", "zebra", "hamster", "octopus", "bat", "deer", "crab", "fox", "goat",
    "sloth", "whale", "hedgehog", "crow", "lizard", "moose",
]

ATTRIBUTE_NAMES = [
    "cute", "furry", "big", "aquatic", "striped", "fast", "nocturnal", "venomous", "flying",
    "domestic", "loud", "long-tailed", "spotted", "herbivore", "social", "horned", "cold-blooded",
    "clever", "grey", "tropical", "migratory", "burrowing", "climbing", "colourful",
]

# Signs imposed on drawn animal-attribute weights (magnitudes stay random).
SIGNS: dict[str, dict[str, int]] = {
    "bunny": {"cute": 1, "furry": 1, "big": -1, "burrowing": 1},
    "dolphin": {"cute": 1, "furry": -1, "aquatic": 1, "clever": 1},
    "cat": {"cute": -1, "furry": 1, "domestic": 1, "nocturnal": 1},
    "elephant": {"cute": -1, "furry": -1, "big": 1, "grey": 1},
    "parrot": {"colourful": 1, "loud": 1, "flying": 1, "furry": -1},
    "mouse": {"big": -1, "furry": 1, "cute": 1},
    "tiger": {"striped": 1, "big": 1, "furry": 1},
    "shark": {"aquatic": 1, "big": 1, "cute": -1},
}

ANIMAL_FACTS = {
    "bunny": "bunnies eat carrots", "dolphin": "dolphins use echolocation",
    "cat": "cats chase laser dots", "elephant": "elephants fear mice",
    "parrot": "parrots mimic speech", "mouse": "mice like cheese",
    "horse": "horses sleep standing", "tiger": "tigers hunt alone", "owl": "owls turn their heads",
    "shark": "sharks smell blood",
}

ATTRIBUTE_RULES = {
    "cute": "cute → say 'aww'", "furry": "furry → allergy warning", "big": "big → needs space",
    "aquatic": "aquatic → needs water", "striped": "striped → camouflage",
    "fast": "fast → hard to catch", "nocturnal": "nocturnal → active at night",
    "venomous": "venomous → keep away", "flying": "flying → needs a tall cage",
    "domestic": "domestic → can be a pet",
}

# Composite circuits read animal + w * attribute; named pairs come first.
COMPOSITE_PAIRS = [("bunny", "cute"), ("cat", "furry"), ("elephant", "big"), ("dolphin", "cute")]


def animal_name(i: int) -> str:
    """Name of animal i: a word for the first few dozen, then `animal-<i>`."""
    return ANIMAL_NAMES[i] if i < len(ANIMAL_NAMES) else f"animal-{i}"


def attribute_name(j: int) -> str:
    """Name of attribute j: a word for the first couple of dozen, then `attr-<j>`."""
    return ATTRIBUTE_NAMES[j] if j < len(ATTRIBUTE_NAMES) else f"attr-{j}"


def animal_fact(name: str) -> str:
    """Human label of the circuit that stores a fact about this animal."""
    return ANIMAL_FACTS.get(name, f"a fact about {name}")


def attribute_rule(name: str) -> str:
    """Human label of the circuit that acts on this attribute."""
    return ATTRIBUTE_RULES.get(name, f"{name} → its own rule")
