"""backtesting.lib helpers: cross, crossover, barssince and a bars-held exit."""
from backtesting import Strategy
from backtesting.lib import barssince, cross, crossover
from backtesting.test import SMA


class LibHelpers(Strategy):
    fast = 5
    slow = 15
    max_hold = 10

    def init(self):
        self.f = self.I(SMA, self.data.Close, self.fast)
        self.s = self.I(SMA, self.data.Close, self.slow)

    def next(self):
        if crossover(self.f, self.s):
            self.buy()
        elif cross(self.f, self.s) and self.position.is_long:
            self.position.close()
        elif self.position and barssince(self.f > self.s) > self.max_hold:
            self.position.close()
