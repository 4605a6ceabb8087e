"""Stochastic oscillator %K/%D crossover in oversold territory."""
import numpy as np
import pandas as pd
from backtesting import Strategy
from backtesting.lib import crossover


def stochastic(high, low, close, k=14, d=3):
    h = pd.Series(high).rolling(k).max()
    lo = pd.Series(low).rolling(k).min()
    pct_k = 100 * (pd.Series(close) - lo) / (h - lo).replace(0, np.nan)
    pct_d = pct_k.rolling(d).mean()
    return pct_k, pct_d


class StochasticCross(Strategy):
    k = 14
    d = 3
    level = 20

    def init(self):
        self.pk, self.pd_ = self.I(stochastic, self.data.High, self.data.Low, self.data.Close, self.k, self.d)

    def next(self):
        if crossover(self.pk, self.pd_) and self.pk[-1] < self.level:
            self.buy()
        elif crossover(self.pd_, self.pk) and self.pk[-1] > 100 - self.level:
            self.position.close()
