"""Vectorised entries with backtesting.lib.SignalStrategy."""
import numpy as np
import pandas as pd
from backtesting.lib import SignalStrategy, TrailingStrategy
from backtesting.test import SMA


class SmaSignal(SignalStrategy, TrailingStrategy):
    n1 = 10
    n2 = 25

    def init(self):
        super().init()
        sma1 = self.I(SMA, self.data.Close, self.n1)
        sma2 = self.I(SMA, self.data.Close, self.n2)
        signal = (pd.Series(sma1) > sma2).astype(int).diff().fillna(0)
        signal = signal.replace(-1, 0)
        entry_size = signal * 0.95
        self.set_signal(entry_size=np.asarray(entry_size))
        self.set_trailing_sl(2)
