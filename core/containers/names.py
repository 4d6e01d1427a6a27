"""Container names: Docker's validation and its adjective_surname generator."""

from __future__ import annotations

import random
import re

from berth.errors import InvalidArgument

VALID_NAME = re.compile(r"^/?[a-zA-Z0-9][a-zA-Z0-9_.-]+$")

_LEFT = ("admiring", "bold", "brave", "clever", "eager", "epic", "festive", "focused", "gallant", "happy",
         "jolly", "keen", "kind", "lucid", "modest", "nifty", "optimistic", "quirky", "serene", "sharp",
         "stoic", "tender", "upbeat", "vibrant", "wizardly", "zealous")
_RIGHT = ("babbage", "curie", "darwin", "einstein", "fermi", "galileo", "hopper", "hypatia", "kepler",
          "lamport", "lovelace", "meitner", "noether", "pascal", "ritchie", "shannon", "thompson", "turing",
          "wozniak", "yonath")


def validate(name: str) -> str:
    """Return the name without Docker's leading "/", or raise Docker's 400."""
    if not VALID_NAME.match(name):
        raise InvalidArgument(f"Invalid container name ({name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed")
    return name.lstrip("/")


def generate(taken: set[str]) -> str:
    for attempt in range(100):
        name = f"{random.choice(_LEFT)}_{random.choice(_RIGHT)}"
        if attempt > 10:
            name += str(random.randint(1, 99))
        if name not in taken:
            return name
    raise InvalidArgument("could not generate a unique container name")
