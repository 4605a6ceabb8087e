"""Bollinger band mean reversion with numpy-returning indicator functions."""
import numpy as np
import pandas as pd
from backtesting import Strategy


def bollinger(values, n=20, k=2.0):
    """Return (middle, upper, lower) bands as a 3-row array."""
    s = pd.Series(values)
    mid = s.rolling(n).mean()
    std = s.rolling(n).std(ddof=0)
    return np.vstack([mid, mid + k * std, mid - k * std])


class BollingerReversion(Strategy):
    n = 20
    k = 2.0

    def init(self):
        self.mid, self.upper, self.lower = self.I(bollinger, self.data.Close, self.n, self.k)

    def next(self):
        price = self.data.Close[-1]
        if np.isnan(self.lower[-1]):
            return
        if price < self.lower[-1] and not self.position:
            self.buy(tp=self.mid[-1] * 1.02 if self.mid[-1] > price else None)
        elif price > self.upper[-1] and self.position.is_long:
            self.position.close()
