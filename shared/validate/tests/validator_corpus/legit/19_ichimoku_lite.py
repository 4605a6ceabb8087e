"""Tenkan/kijun cross from the Ichimoku system."""
import pandas as pd
from backtesting import Strategy
from backtesting.lib import crossover


def midpoint(high, low, n):
    return (pd.Series(high).rolling(n).max() + pd.Series(low).rolling(n).min()) / 2


class IchimokuLite(Strategy):
    tenkan_n = 9
    kijun_n = 26

    def init(self):
        d = self.data
        self.tenkan = self.I(midpoint, d.High, d.Low, self.tenkan_n, name="tenkan")
        self.kijun = self.I(midpoint, d.High, d.Low, self.kijun_n, name="kijun")

    def next(self):
        above = self.data.Close[-1] > max(self.tenkan[-1], self.kijun[-1])
        if crossover(self.tenkan, self.kijun) and above:
            self.buy()
        elif crossover(self.kijun, self.tenkan):
            self.position.close()
