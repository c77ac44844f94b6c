"""Tree hashes stored as tiles: 256 consecutive hashes of one row, as transparency logs store them.

Row (level) 0 holds the leaf hashes; row L holds the roots of the perfect subtrees of height 8·L,
each the root of one full tile of row L-1. Any perfect subtree's hash is then at most 255 hash
combinations away from one stored tile, so proofs in a log of 10 million events read a handful of rows.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence

from ledger import merkle
from ledger.models import Tile

TILE_HEIGHT = 8
TILE_WIDTH = 1 << TILE_HEIGHT
HASH = merkle.HASH_SIZE


def _split(blob: bytes) -> list[bytes]:
    return [blob[i : i + HASH] for i in range(0, len(blob), HASH)]


class TileStore:
    """A merkle.NodeStore over the stored tiles of a tree of `size` leaves (read once per tile)."""

    def __init__(self, size: int, *, model: type[Tile] = Tile) -> None:
        self.size = size
        self._model = model
        # Both small and bounded: an export walks the leaves in order, so the proofs of neighbouring
        # leaves share tiles and inner nodes, and a bigger cache buys no speed, only memory (bench/ledger.py).
        self._tile = functools.lru_cache(maxsize=64)(self._load)
        self._node = functools.lru_cache(maxsize=1 << 12)(self._compute)

    def tile(self, level: int, index: int) -> list[bytes]:
        return self._tile(level, index)

    def _load(self, level: int, index: int) -> list[bytes]:
        rows = self._model.objects.filter(level=level, index=index)
        blob = rows.values_list("hashes", flat=True).first()
        return _split(bytes(blob)) if blob is not None else []

    def node(self, height: int, index: int) -> bytes:
        if (index + 1) << height > self.size:
            raise ValueError(f"node ({height}, {index}) is beyond the tree of size {self.size}")
        return self._node(height, index)

    def _compute(self, height: int, index: int) -> bytes:
        level, within = divmod(height, TILE_HEIGHT)
        if within:
            # Inside a tile: from the two children, each computed once (neighbouring proofs share them).
            return merkle.node_hash(self._node(height - 1, 2 * index), self._node(height - 1, 2 * index + 1))
        hashes = self.tile(level, index // TILE_WIDTH)
        if len(hashes) <= index % TILE_WIDTH:
            raise LookupError(
                f"tile {level}/{index // TILE_WIDTH} lacks hashes the tree of size {self.size} has"
            )
        return hashes[index % TILE_WIDTH]


def tiles_append(start: int, leaf_hashes: Sequence[bytes], *, model: type[Tile] = Tile) -> None:
    """Add leaf hashes at positions start… to the tiles, and every subtree root they complete.

    Runs under the sequencer's lock: `start` must be the number of leaves already in the tiles.
    `model` is the Tile model (a migration passes its historical one).
    """
    level, position, row = 0, start, list(leaf_hashes)
    while row:
        first_tile = position // TILE_WIDTH
        existing = TileStore(0, model=model).tile(level, first_tile)
        if len(existing) != position % TILE_WIDTH:
            raise RuntimeError(
                f"tile {level}/{first_tile} holds {len(existing)} hashes, not the {position % TILE_WIDTH} "
                "the tree's size implies: rebuild the tiles (ledger_verify --rebuild-tiles)"
            )
        merged = existing + row
        completed: list[bytes] = []
        tiles = []
        for offset in range(0, len(merged), TILE_WIDTH):
            chunk = merged[offset : offset + TILE_WIDTH]
            tiles.append(model(level=level, index=first_tile + offset // TILE_WIDTH, hashes=b"".join(chunk)))
            if len(chunk) == TILE_WIDTH:
                completed.append(merkle.perfect_root(chunk))
        model.objects.bulk_create(
            tiles, update_conflicts=True, unique_fields=["level", "index"], update_fields=["hashes"]
        )
        # Tile `first_tile` was not full before, so its root (and those of the tiles after it that
        # filled up) are the next row's new hashes, from position `first_tile` on.
        level, position, row = level + 1, first_tile, completed


def tiles_from_leaves(leaf_hashes: Iterable[bytes], *, batch: int = 65536, model: type[Tile] = Tile) -> int:
    """Rebuild every tile from the leaf hashes in order (after an import, or to repair): the count."""
    model.objects.all().delete()
    size, chunk = 0, []
    for value in leaf_hashes:
        chunk.append(value)
        if len(chunk) == batch:
            tiles_append(size, chunk, model=model)
            size, chunk = size + len(chunk), []
    if chunk:
        tiles_append(size, chunk, model=model)
        size += len(chunk)
    return size
