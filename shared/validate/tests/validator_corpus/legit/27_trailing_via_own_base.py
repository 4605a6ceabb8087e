"""A TrailingStrategy extended through a base class of the same file."""
from backtesting.lib import TrailingStrategy, crossover
import pandas as pd


def EMA(values, n):
    return pd.Series(values).ewm(span=n, adjust=False).mean()


class TrendBase(TrailingStrategy):
    fast = 12
    slow = 26
    atr_multiple = 3

    def init(self):
        super().init()
        self.set_trailing_sl(self.atr_multiple)
        self.ema_fast = self.I(EMA, self.data.Close, self.fast)
        self.ema_slow = self.I(EMA, self.data.Close, self.slow)


class TrendTrail(TrendBase):
    def next(self):
        super().next()
        if crossover(self.ema_fast, self.ema_slow) and not self.position:
            self.buy()
        elif crossover(self.ema_slow, self.ema_fast) and self.position:
            self.position.close()
