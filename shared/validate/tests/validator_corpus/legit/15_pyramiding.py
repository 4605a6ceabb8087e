"""Pyramiding into a trend: add a unit every time price makes a new high."""
from backtesting import Strategy
from backtesting.test import SMA


class Pyramid(Strategy):
    trend_n = 50
    max_units = 3
    unit = 0.2

    def init(self):
        self.trend = self.I(SMA, self.data.Close, self.trend_n)
        self.last_entry = None

    def next(self):
        price = self.data.Close[-1]
        if price < self.trend[-1]:
            if self.position:
                self.position.close()
                self.last_entry = None
            return
        if len(self.trades) >= self.max_units:
            return
        if self.last_entry is None or price > self.last_entry * 1.03:
            self.buy(size=self.unit, sl=price * 0.9)
            self.last_entry = price
        for trade in self.trades:
            if trade.pl_pct > 0.2:
                trade.close(portion=0.5)
