"""RSI mean reversion: buy oversold, exit when overbought."""
import pandas as pd
from backtesting import Strategy


def RSI(values, n: int = 14) -> pd.Series:
    """Wilder's relative strength index."""
    delta = pd.Series(values).diff()
    gain = delta.clip(lower=0).ewm(alpha=1 / n, adjust=False).mean()
    loss = (-delta.clip(upper=0)).ewm(alpha=1 / n, adjust=False).mean()
    rs = gain / loss
    return 100 - 100 / (1 + rs)


class RsiReversion(Strategy):
    rsi_period = 14
    oversold = 30
    overbought = 70

    def init(self):
        self.rsi = self.I(RSI, self.data.Close, self.rsi_period, name="RSI")

    def next(self):
        if not self.position and self.rsi[-1] < self.oversold:
            self.buy()
        elif self.position.is_long and self.rsi[-1] > self.overbought:
            self.position.close()
