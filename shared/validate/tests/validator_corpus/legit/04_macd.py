"""MACD signal-line crossover."""
import pandas as pd
from backtesting import Strategy
from backtesting.lib import crossover


def ema(values, span):
    return pd.Series(values).ewm(span=span, adjust=False).mean()


def macd(values, fast=12, slow=26, signal=9):
    line = ema(values, fast) - ema(values, slow)
    sig = line.ewm(span=signal, adjust=False).mean()
    return line, sig


class MacdCross(Strategy):
    fast = 12
    slow = 26
    signal = 9

    def init(self):
        self.macd, self.macd_signal = self.I(
            macd, self.data.Close, self.fast, self.slow, self.signal
        )

    def next(self):
        if crossover(self.macd, self.macd_signal):
            self.position.close()
            self.buy()
        elif crossover(self.macd_signal, self.macd):
            self.position.close()
            self.sell()
