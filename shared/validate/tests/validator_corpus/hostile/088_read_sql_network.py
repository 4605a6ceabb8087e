# expect: file-io
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
        rows = pd.read_sql('select 1', 'postgresql://db/prod')

    def next(self):
        if crossover(self.sma1, self.sma2):
            self.position.close()
            self.buy()
        elif crossover(self.sma2, self.sma1):
            self.position.close()
            self.sell()
