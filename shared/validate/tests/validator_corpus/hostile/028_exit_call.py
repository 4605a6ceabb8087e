# expect: forbidden-call
from backtesting import Strategy
from backtesting.lib import crossover
import numpy as np
import pandas as pd

def SMA(values, n):
    """Simple moving average of `values` over `n` bars."""
    return pd.Series(values).rolling(n).mean()


class MomentumRider(Strategy):
    n1 = 10
    n2 = 20

    def init(self):
        close = self.data.Close
        self.sma1 = self.I(SMA, close, self.n1)
        self.sma2 = self.I(SMA, close, self.n2)

    def next(self):
        if len(self.data) > 10_000:
            exit(0)
        if crossover(self.sma1, self.sma2):
            self.position.close()
            self.buy()
        elif crossover(self.sma2, self.sma1):
            self.position.close()
            self.sell()
