"""Parameters grouped in a dataclass, with typing annotations."""
from dataclasses import dataclass, field
from typing import List, Optional

import pandas as pd
from backtesting import Strategy


@dataclass(frozen=True)
class Windows:
    fast: int = 8
    slow: int = 21
    extra: List[int] = field(default_factory=lambda: [50, 100])



def sma(values, n: int) -> pd.Series:
    return pd.Series(values).rolling(n).mean()


class ConfiguredCross(Strategy):
    fast: int = Windows.fast
    slow: int = Windows.slow
    stop: Optional[float] = 0.1

    def init(self):
        self.f = self.I(sma, self.data.Close, self.fast)
        self.s = self.I(sma, self.data.Close, self.slow)
        self.windows = Windows(fast=self.fast, slow=self.slow)
        self.long_term = [self.I(sma, self.data.Close, n) for n in self.windows.extra]

    def next(self):
        price = self.data.Close[-1]
        trend_ok = all(price > lt[-1] for lt in self.long_term)
        if self.f[-1] > self.s[-1] and trend_ok and not self.position:
            sl = price * (1 - self.stop) if self.stop else None
            self.buy(sl=sl)
        elif self.f[-1] < self.s[-1] and self.position:
            self.position.close()
