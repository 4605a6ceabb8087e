"""Daily entries filtered by a weekly trend computed with resample_apply."""
from backtesting import Strategy
from backtesting.lib import resample_apply
from backtesting.test import SMA


class WeeklyTrendFilter(Strategy):
    d_fast = 10
    d_slow = 30
    w_period = 10

    def init(self):
        close = self.data.Close
        self.d_fast_ma = self.I(SMA, close, self.d_fast)
        self.d_slow_ma = self.I(SMA, close, self.d_slow)
        self.w_ma = resample_apply("W-FRI", SMA, close, self.w_period)

    def next(self):
        price = self.data.Close[-1]
        uptrend = price > self.w_ma[-1]
        if uptrend and self.d_fast_ma[-1] > self.d_slow_ma[-1] and not self.position:
            self.buy(sl=price * 0.92)
        elif self.position and (not uptrend or self.d_fast_ma[-1] < self.d_slow_ma[-1]):
            self.position.close()
