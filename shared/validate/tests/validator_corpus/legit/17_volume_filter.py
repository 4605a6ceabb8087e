"""Breakouts confirmed by above-average volume."""
from backtesting import Strategy
from backtesting.test import SMA


class VolumeBreakout(Strategy):
    price_n = 20
    volume_n = 20
    volume_mult = 1.5

    def init(self):
        self.price_ma = self.I(SMA, self.data.Close, self.price_n)
        self.volume_ma = self.I(SMA, self.data.Volume, self.volume_n)

    def next(self):
        volume_ok = self.data.Volume[-1] > self.volume_mult * self.volume_ma[-1]
        if volume_ok and self.data.Close[-1] > self.price_ma[-1] and not self.position:
            self.buy()
        elif self.position and self.data.Close[-1] < self.price_ma[-1]:
            self.position.close()
