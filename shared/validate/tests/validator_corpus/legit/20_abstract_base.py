"""A reusable base strategy and the concrete strategy built on it."""
from backtesting import Strategy
from backtesting.test import SMA


class RiskManagedBase(Strategy):
    stop_pct = 0.05
    take_pct = 0.15

    def init(self):
        self.setup()

    def setup(self):
        raise NotImplementedError

    def enter_long(self):
        price = self.data.Close[-1]
        self.buy(sl=price * (1 - self.stop_pct), tp=price * (1 + self.take_pct))

    def next(self):
        if not self.position and self.should_enter():
            self.enter_long()

    def should_enter(self) -> bool:
        return False


class PullbackEntry(RiskManagedBase):
    trend_n = 50
    pullback_n = 5

    def setup(self):
        self.trend = self.I(SMA, self.data.Close, self.trend_n)
        self.short = self.I(SMA, self.data.Close, self.pullback_n)

    def should_enter(self) -> bool:
        return self.data.Close[-1] > self.trend[-1] and self.data.Close[-1] < self.short[-1]
