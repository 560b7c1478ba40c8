"""The block catalogue: every block type installed, from the ``medialoom.blocks`` entry point
group. medialoom's own blocks register there the same way a third-party package's do:

    [project.entry-points."medialoom.blocks"]
    "my.block" = "my_package.blocks:BLOCK"

An entry point's name is its block type's name, and it points at a ``BlockType``. A broken
third-party entry point (it does not import, is not a BlockType, has a mismatched name or a
Params model without a JSON Schema) is skipped with a logged warning, so one bad plugin cannot
take the engine down; a broken built-in one is a bug and raises. Two entry points claiming one
name are an error naming both, whoever they come from: which would win is not ours to guess.
"""

from __future__ import annotations

import functools
import logging
import re
from importlib.metadata import EntryPoint, entry_points
from typing import Any

from pydantic import BaseModel

from medialoom.flows.blocks.base import BlockType
from medialoom.flows.definition import ERROR_PORT

log = logging.getLogger("medialoom.flows")

GROUP = "medialoom.blocks"
OWN_DISTRIBUTION = "medialoom"
CATEGORIES = ("logic", "asset", "integration", "notification")  # the builder's order; others sort after
_NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}(\.[a-z][a-z0-9_]{0,62}){0,3}$")
_PORT = re.compile(r"^[a-z][a-z0-9_]{0,62}$")


class CatalogError(Exception):
    """The installed blocks cannot make one catalogue (two claim the same name, a built-in is broken)."""


def load_blocks() -> dict[str, BlockType]:
    """Block type name -> BlockType, for every block installed (read once per process)."""
    return dict(_catalog())


def describe_catalog() -> list[dict[str, Any]]:
    """What the API and the builder show: one entry per block type (``BlockType.describe``:
    type, title, category, description, version, ports with ``error``, and the parameters'
    JSON Schema), by category, then title."""
    order = {category: index for index, category in enumerate(CATEGORIES)}
    blocks = sorted(_catalog().values(),
                    key=lambda block: (order.get(block.category, len(order)), block.category, block.title, block.name))
    return [block.describe() for block in blocks]


def clear_cache() -> None:
    """Read the entry points again on the next call (tests, or after installing a plugin)."""
    _catalog.cache_clear()


@functools.cache
def _catalog() -> dict[str, BlockType]:
    found: dict[str, tuple[BlockType, EntryPoint]] = {}
    for entry in entry_points(group=GROUP):
        try:
            block = _load(entry)
        except Exception as error:
            if _distribution(entry) == OWN_DISTRIBUTION:
                raise CatalogError(f"built-in block {entry.name!r} ({entry.value}) is broken: {error}") from error
            log.warning("skipping block %r from %s (%s): %s", entry.name, _distribution(entry) or "an unknown package",
                        entry.value, error)
            continue
        if block.name in found:
            other, other_entry = found[block.name]
            if other is block:  # the same package seen twice on the path
                continue
            raise CatalogError(f"two blocks are named {block.name!r}: {_where(other_entry)} and {_where(entry)}")
        found[block.name] = (block, entry)
    return {name: block for name, (block, _) in found.items()}


def _load(entry: EntryPoint) -> BlockType:
    block = entry.load()
    if not isinstance(block, BlockType):
        raise TypeError(f"it is a {type(block).__name__}, not a BlockType")
    if block.name != entry.name:
        raise ValueError(f"the entry point is named {entry.name!r} but the block {block.name!r}")
    if not _NAME.match(block.name):
        raise ValueError(f"{block.name!r} is not a block type name (lower-case words joined by dots)")
    if not (isinstance(block.Params, type) and issubclass(block.Params, BaseModel)):
        raise TypeError("its Params is not a pydantic model")
    if not isinstance(block.ports, tuple) or not all(isinstance(port, str) and _PORT.match(port)
                                                     for port in block.ports):
        raise ValueError(f"its ports {block.ports!r} are not a tuple of port names")
    if ERROR_PORT in block.ports or len(set(block.ports)) != len(block.ports):
        raise ValueError(f"its ports {block.ports!r} repeat one or name {ERROR_PORT!r}, which every block has")
    if not callable(block.run):
        raise TypeError("its run is not callable")
    block.describe()  # the catalogue must be able to show it: a Params model without a JSON Schema fails here
    return block


def _distribution(entry: EntryPoint) -> str | None:
    dist = entry.dist
    return dist.name if dist is not None else None


def _where(entry: EntryPoint) -> str:
    return f"{entry.value} (from {_distribution(entry) or 'an unknown package'})"
