"""Postponed annotations, string annotations and a NamedTuple signal record."""
from __future__ import annotations

from typing import NamedTuple

import numpy as np
import pandas as pd
from backtesting import Strategy


class Signal(NamedTuple):
    long: bool
    strength: float


def momentum(values: "np.ndarray", n: int = 10) -> "pd.Series":
    s = pd.Series(values)
    return s.pct_change(n)


class AnnotatedMomentum(Strategy):
    n: int = 10
    min_strength: float = 0.02

    def init(self) -> None:
        self.mom = self.I(momentum, self.data.Close, self.n)

    def signal(self) -> Signal:
        value = float(self.mom[-1])
        return Signal(long=value > 0, strength=abs(value))

    def next(self) -> None:
        sig = self.signal()
        if sig.long and sig.strength > self.min_strength and not self.position:
            self.buy()
        elif not sig.long and self.position:
            self.position.close()
