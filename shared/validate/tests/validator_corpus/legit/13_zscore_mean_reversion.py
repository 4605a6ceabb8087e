"""Z-score mean reversion with an explicit numpy rolling window."""
import math

import numpy as np
from backtesting import Strategy


def zscore(values, n=30):
    values = np.asarray(values, dtype=float)
    out = np.full(values.shape, np.nan)
    for i in range(n, len(values) + 1):
        window = values[i - n:i]
        sd = window.std()
        out[i - 1] = (values[i - 1] - window.mean()) / sd if sd > 0 else 0.0
    return out


class ZScoreReversion(Strategy):
    window = 30
    entry_z = 2.0
    exit_z = 0.5

    def init(self):
        self.z = self.I(zscore, self.data.Close, self.window)

    def next(self):
        z = self.z[-1]
        if math.isnan(z):
            return
        if z < -self.entry_z and not self.position:
            self.buy()
        elif z > self.entry_z and not self.position:
            self.sell()
        elif abs(z) < self.exit_z and self.position:
            self.position.close()
