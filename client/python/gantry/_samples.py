"""Samples as NumPy arrays (points) or tables (pandas or dict of columns)."""
from typing import Any, Dict, List

from .v1 import gantry_pb2 as pb


class PointsBuffer:
    """Fills an [n, dim] float32 array from Sample/SampleStream chunks by offset."""

    def __init__(self, n: int):
        self.n, self.array = n, None

    def add(self, r: "pb.SampleResponse") -> None:
        import numpy as np
        dim = r.points.dim
        if self.array is None:
            self.array = np.empty((self.n, dim), dtype=np.float32)
        values = np.asarray(r.points.values, dtype=np.float32).reshape(-1, dim)
        self.array[r.offset:r.offset + len(values)] = values


def _column_values(c: "pb.Column") -> List[Any]:
    if c.type == pb.COLUMN_TYPE_CONTINUOUS:
        values = list(c.doubles)
    elif c.type == pb.COLUMN_TYPE_INTEGER:
        values = list(c.ints)
    elif c.type == pb.COLUMN_TYPE_BOOLEAN:
        values = list(c.bools)
    elif c.type == pb.COLUMN_TYPE_CATEGORICAL:
        values = list(c.ints) if len(c.ints) else list(c.strings)
    else:  # datetime, in the input's format
        values = list(c.strings)
    if len(c.missing):
        values = [None if m else v for v, m in zip(values, c.missing)]
    return values


class RowsBuffer:
    """Concatenates table chunks' columns, in order."""

    def __init__(self):
        self.names: List[str] = []
        self.columns: Dict[str, List[Any]] = {}

    def add(self, r: "pb.SampleResponse") -> None:
        for c in r.rows.columns:
            if c.name not in self.columns:
                self.names.append(c.name)
                self.columns[c.name] = []
            self.columns[c.name].extend(_column_values(c))

    def result(self, as_pandas):
        if as_pandas is not False:
            try:
                import pandas
            except ImportError:
                if as_pandas:
                    raise
            else:
                return pandas.DataFrame({n: self.columns[n] for n in self.names},
                                        columns=self.names)
        return {n: self.columns[n] for n in self.names}
