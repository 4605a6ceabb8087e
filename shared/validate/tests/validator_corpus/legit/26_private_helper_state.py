# -*- coding: utf-8 -*-
"""A strategy that keeps its own private state and searches with a bounded loop."""
from backtesting import Strategy
from backtesting.lib import crossover
import pandas as pd


def SMA(values, n):
    return pd.Series(values).rolling(n).mean()


class _Cooldown:
    """Counts bars since the last trade."""

    def __init__(self, bars):
        self._bars = bars
        self._left = 0

    def start(self):
        self._left = self._bars

    def tick(self):
        if self._left > 0:
            self._left -= 1
        return self._left == 0


class PrivateStateCross(Strategy):
    fast = 10
    slow = 30
    cooldown = 5

    def init(self):
        self._fast = self.I(SMA, self.data.Close, self.fast)
        self._slow = self.I(SMA, self.data.Close, self.slow)
        self._cool = _Cooldown(self.cooldown)
        self._last_signal = None

    def _recent_peak(self):
        i = 1
        while True:
            if i >= len(self.data.Close) or i > 20:
                break
            i += 1
        return max(self.data.Close[-i:])

    def next(self):
        ready = self._cool.tick()
        if ready and crossover(self._fast, self._slow):
            self._last_signal = "long"
            self._cool.start()
            self.position.close()
            self.buy(sl=self._recent_peak() * 0.8)
        elif ready and crossover(self._slow, self._fast):
            self._last_signal = "flat"
            self._cool.start()
            self.position.close()
