"""Rate-of-change momentum with volatility-scaled position size."""
import math
import statistics

import pandas as pd
from backtesting import Strategy


def roc(values, n=12):
    s = pd.Series(values)
    return (s / s.shift(n) - 1) * 100


class MomentumRoc(Strategy):
    n = 12
    threshold = 2.0
    vol_window = 20

    def init(self):
        self.roc = self.I(roc, self.data.Close, self.n)

    def size(self) -> float:
        closes = list(self.data.Close[-self.vol_window:])
        if len(closes) < 3:
            return 0.5
        rets = [math.log(b / a) for a, b in zip(closes, closes[1:])]
        vol = statistics.pstdev(rets) or 1e-9
        return max(0.1, min(0.95, 0.01 / vol))

    def next(self):
        if self.roc[-1] > self.threshold and not self.position:
            self.buy(size=round(self.size(), 2))
        elif self.roc[-1] < 0 and self.position:
            self.position.close()
