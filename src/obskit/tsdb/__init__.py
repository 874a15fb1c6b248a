"""The columnar, crash-safe time-series store: ``db = obskit.tsdb.open(path, Options())``."""

from obskit.tsdb.block import BlockMeta
from obskit.tsdb.db import DB, open_db
from obskit.tsdb.options import Options

open = open_db

__all__ = ["DB", "BlockMeta", "Options", "open", "open_db"]
