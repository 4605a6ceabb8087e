"""Trend entries with an ATR trailing stop from backtesting.lib.TrailingStrategy."""
from backtesting.lib import TrailingStrategy, crossover
from backtesting.test import SMA


class TrailingTrend(TrailingStrategy):
    n_fast = 20
    n_slow = 50
    atr_periods = 14
    atr_multiple = 3

    def init(self):
        super().init()
        self.set_atr_periods(self.atr_periods)
        self.set_trailing_sl(self.atr_multiple)
        self.fast = self.I(SMA, self.data.Close, self.n_fast)
        self.slow = self.I(SMA, self.data.Close, self.n_slow)

    def next(self):
        super().next()
        if not self.position and crossover(self.fast, self.slow):
            self.buy()
