# expect: dunder-access
from backtesting import Strategy
from backtesting.lib import crossover
import numpy as np
import pandas as pd

def SMA(values, n):
    """Simple moving average of `values` over `n` bars."""
    return pd.Series(values).rolling(n).mean()


class SmaCross(Strategy):
    n1 = 10
    n2 = 20

    def init(self):
        close = self.data.Close
        self.sma1 = self.I(SMA, close, self.n1)
        self.sma2 = self.I(SMA, close, self.n2)

    def next(self):
        match self.data:
            case object(__class__=cls):
                pass
        if crossover(self.sma1, self.sma2):
            self.position.close()
            self.buy()
        elif crossover(self.sma2, self.sma1):
            self.position.close()
            self.sell()
