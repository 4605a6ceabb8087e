"""pandas aggregations that name functions: agg lists and dicts, apply with functions."""
import numpy as np
import pandas as pd
from backtesting import Strategy


def weekly_range(df: pd.DataFrame) -> pd.Series:
    """Weekly high minus low, forward-filled back onto the daily index."""
    weekly = df.resample("W-FRI").agg({"High": "max", "Low": "min"})
    rng = (weekly["High"] - weekly["Low"]).reindex(df.index, method="ffill")
    return rng.bfill()


def band_position(close, n=20):
    s = pd.Series(close)
    stats = s.rolling(n).agg(["mean", "std"])
    return ((s - stats["mean"]) / stats["std"]).fillna(0.0)


def clipped(values, limit=3.0):
    return pd.Series(values).apply(np.tanh).mul(limit)


class AggregationStrategy(Strategy):
    n = 20
    entry = -1.0
    exit = 0.5

    def init(self):
        df = self.data.df
        self.position_in_band = self.I(band_position, self.data.Close, self.n)
        self.range = self.I(weekly_range, df, name="weekly range")
        self.squashed = self.I(clipped, self.position_in_band)

    def next(self):
        z = self.position_in_band[-1]
        if z < self.entry and not self.position:
            self.buy(sl=self.data.Close[-1] - self.range[-1])
        elif z > self.exit and self.position:
            self.position.close()
