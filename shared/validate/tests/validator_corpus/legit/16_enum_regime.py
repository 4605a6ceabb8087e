"""Regime switching with an Enum: trend-follow in trends, fade in ranges."""
from enum import Enum

import numpy as np
import pandas as pd
from backtesting import Strategy
from backtesting.test import SMA


class Regime(Enum):
    TREND = "trend"
    RANGE = "range"


def efficiency_ratio(values, n=20):
    s = pd.Series(values)
    change = (s - s.shift(n)).abs()
    noise = s.diff().abs().rolling(n).sum()
    return (change / noise).fillna(0).to_numpy()


class RegimeSwitch(Strategy):
    n = 20
    er_trend = 0.4

    def init(self):
        self.er = self.I(efficiency_ratio, self.data.Close, self.n)
        self.ma = self.I(SMA, self.data.Close, self.n)

    def regime(self) -> Regime:
        return Regime.TREND if self.er[-1] > self.er_trend else Regime.RANGE

    def next(self):
        price, ma = self.data.Close[-1], self.ma[-1]
        if np.isnan(ma):
            return
        regime = self.regime()
        if regime is Regime.TREND:
            if price > ma and not self.position.is_long:
                self.position.close()
                self.buy()
        elif price > ma * 1.03 and self.position.is_long:
            self.position.close()
        elif price < ma * 0.97 and not self.position:
            self.buy()
