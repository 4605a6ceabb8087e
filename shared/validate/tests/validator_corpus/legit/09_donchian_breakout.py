"""Donchian channel breakout with stop-loss and take-profit orders."""
import pandas as pd
from backtesting import Strategy


def upper_channel(high, n):
    return pd.Series(high).rolling(n).max()


def lower_channel(low, n):
    return pd.Series(low).rolling(n).min()


class DonchianBreakout(Strategy):
    entry_n = 20
    exit_n = 10
    risk = 0.03
    reward = 0.09

    def init(self):
        self.upper = self.I(upper_channel, self.data.High, self.entry_n)
        self.lower = self.I(lower_channel, self.data.Low, self.exit_n)

    def next(self):
        if len(self.data) < self.entry_n + 2:
            return
        price = self.data.Close[-1]
        if not self.position and price > self.upper[-2]:
            self.buy(sl=price * (1 - self.risk), tp=price * (1 + self.reward))
        elif self.position and price < self.lower[-2]:
            self.position.close()
