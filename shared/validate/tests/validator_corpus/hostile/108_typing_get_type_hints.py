# expect: forbidden-attribute
from backtesting import Strategy
from backtesting.lib import crossover
import numpy as np
import pandas as pd

def rolling_high(values, n):
    return pd.Series(values).rolling(n).max()


def rolling_low(values, n):
    return pd.Series(values).rolling(n).min()


import typing


def hints(fn):
    return typing.get_type_hints(fn)


class TrendFollow(Strategy):
    lookback = 20
    stop_pct = 0.05

    def init(self):
        self.high = self.I(rolling_high, self.data.High, self.lookback)
        self.low = self.I(rolling_low, self.data.Low, self.lookback)

    def next(self):
        price = self.data.Close[-1]
        if price >= self.high[-2] and not self.position:
            self.buy(sl=price * (1 - self.stop_pct))
        elif price <= self.low[-2] and self.position:
            self.position.close()
