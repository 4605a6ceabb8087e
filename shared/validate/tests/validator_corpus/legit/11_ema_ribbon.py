"""EMA ribbon: long when every EMA is stacked in order."""
import functools
import itertools

import pandas as pd
from backtesting import Strategy

SPANS = (8, 13, 21, 34, 55)


@functools.lru_cache(maxsize=None)
def alpha(span: int) -> float:
    return 2.0 / (span + 1)


def ema(values, span):
    return pd.Series(values).ewm(alpha=alpha(span), adjust=False).mean()


class EmaRibbon(Strategy):
    spans = SPANS

    def init(self):
        self.ribbon = [self.I(ema, self.data.Close, s, name=f"EMA{s}") for s in self.spans]

    def stacked(self) -> bool:
        last = [line[-1] for line in self.ribbon]
        return all(a > b for a, b in itertools.pairwise(last))

    def next(self):
        if self.stacked():
            if not self.position:
                self.buy()
        elif self.position:
            self.position.close()
