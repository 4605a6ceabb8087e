"""Keltner channel breakout using an ATR helper with type hints."""
from typing import Tuple

import numpy as np
import pandas as pd
from backtesting import Strategy


def atr(high, low, close, n: int = 14) -> np.ndarray:
    h, lo, c = pd.Series(high), pd.Series(low), pd.Series(close)
    tr = pd.concat([h - lo, (h - c.shift()).abs(), (lo - c.shift()).abs()], axis=1).max(axis=1)
    return tr.rolling(n).mean().to_numpy()


def keltner(high, low, close, n: int = 20, mult: float = 2.0) -> Tuple[np.ndarray, np.ndarray]:
    mid = pd.Series(close).ewm(span=n, adjust=False).mean().to_numpy()
    width = mult * atr(high, low, close, n)
    return mid + width, mid - width


class KeltnerBreakout(Strategy):
    n = 20
    mult = 2.0

    def init(self):
        d = self.data
        self.upper, self.lower = self.I(keltner, d.High, d.Low, d.Close, self.n, self.mult)

    def next(self):
        close = self.data.Close[-1]
        if close > self.upper[-1] and not self.position.is_long:
            self.position.close()
            self.buy()
        elif close < self.lower[-1] and not self.position.is_short:
            self.position.close()
            self.sell()
