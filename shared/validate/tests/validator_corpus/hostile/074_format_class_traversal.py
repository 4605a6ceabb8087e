# expect: format-traversal
from backtesting import Strategy
from backtesting.lib import crossover
import numpy as np
import pandas as pd

def RSI(values, n=14):
    """Wilder's relative strength index."""
    delta = pd.Series(values).diff()
    gain = delta.clip(lower=0).ewm(alpha=1 / n, adjust=False).mean()
    loss = (-delta.clip(upper=0)).ewm(alpha=1 / n, adjust=False).mean()
    return 100 - 100 / (1 + gain / loss)


class RsiReversion(Strategy):
    rsi_period = 14
    lower = 30
    upper = 70

    def init(self):
        self.rsi = self.I(RSI, self.data.Close, self.rsi_period)
        label = '{0.__class__}'.format(self)

    def next(self):
        if self.rsi[-1] < self.lower and not self.position:
            self.buy(size=0.5)
        elif self.rsi[-1] > self.upper and self.position.is_long:
            self.position.close()
