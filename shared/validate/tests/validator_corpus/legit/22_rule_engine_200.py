"""A small rule engine over numpy indicators (about 200 lines; used by the benchmark).

Each rule scores the current bar; the strategy enters when the weighted score passes a
threshold and exits when it falls back. Mirrors what the rule compiler generates, written
out by hand.
"""
import functools
import itertools
from collections import Counter, OrderedDict
from enum import IntEnum
from typing import Callable, Iterable, List, Sequence

import numpy as np
from backtesting import Strategy
from backtesting.lib import crossover

WEIGHTS = OrderedDict(
    [
        ("trend", 2.0),
        ("pullback", 1.0),
        ("momentum", 1.5),
        ("volume", 0.5),
        ("volatility", 1.0),
    ]
)
ENTRY_SCORE = 3.5
EXIT_SCORE = 1.0


class Vote(IntEnum):
    AGAINST = -1
    NEUTRAL = 0
    FOR = 1


def rolling_mean(x, n):
    x = np.asarray(x, dtype=float)
    out = np.full_like(x, np.nan)
    if len(x) < n:
        return out
    csum = np.cumsum(np.insert(x, 0, 0.0))
    out[n - 1:] = (csum[n:] - csum[:-n]) / n
    return out


def rolling_std(x, n):
    x = np.asarray(x, dtype=float)
    mean = rolling_mean(x, n)
    sq = rolling_mean(x * x, n)
    return np.sqrt(np.maximum(sq - mean * mean, 0.0))


def ewma(x, n):
    x = np.asarray(x, dtype=float)
    alpha = 2.0 / (n + 1.0)
    out = np.empty_like(x)
    acc = x[0] if len(x) else 0.0
    for i, v in enumerate(x):
        acc = alpha * v + (1 - alpha) * acc
        out[i] = acc
    return out


def rsi(x, n=14):
    x = np.asarray(x, dtype=float)
    diff = np.diff(x, prepend=x[0])
    gains = ewma(np.clip(diff, 0, None), 2 * n - 1)
    losses = ewma(np.clip(-diff, 0, None), 2 * n - 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        rs = np.where(losses > 0, gains / losses, np.inf)
    return 100.0 - 100.0 / (1.0 + rs)


def percent_rank(x, n=50):
    x = np.asarray(x, dtype=float)
    out = np.full_like(x, np.nan)
    for i in range(n - 1, len(x)):
        window = x[i - n + 1:i + 1]
        out[i] = (window < window[-1]).mean()
    return out


def combine(votes: Iterable[Vote], weights: Sequence[float]) -> float:
    pairs = zip(votes, weights)
    return functools.reduce(lambda a, b: a + b, (int(v) * w for v, w in pairs), 0.0)


class RuleEngine(Strategy):
    fast = 10
    slow = 40
    rsi_n = 14
    vol_n = 20
    rank_n = 50
    stop_atr = 2.5
    size = 0.9

    def init(self):
        c = self.data.Close
        self.fast_ma = self.I(rolling_mean, c, self.fast, name="fast")
        self.slow_ma = self.I(rolling_mean, c, self.slow, name="slow")
        self.rsi = self.I(rsi, c, self.rsi_n, name="rsi")
        self.dev = self.I(rolling_std, c, self.vol_n, name="dev")
        self.rank = self.I(percent_rank, self.data.Volume, self.rank_n, name="volume rank")
        self.rules: List[Callable[[], Vote]] = [
            self.rule_trend,
            self.rule_pullback,
            self.rule_momentum,
            self.rule_volume,
            self.rule_volatility,
        ]
        self.tally = Counter()

    def rule_trend(self) -> Vote:
        if np.isnan(self.slow_ma[-1]):
            return Vote.NEUTRAL
        return Vote.FOR if self.fast_ma[-1] > self.slow_ma[-1] else Vote.AGAINST

    def rule_pullback(self) -> Vote:
        price = self.data.Close[-1]
        if price < self.fast_ma[-1] and price > self.slow_ma[-1]:
            return Vote.FOR
        return Vote.NEUTRAL

    def rule_momentum(self) -> Vote:
        value = self.rsi[-1]
        if value < 30:
            return Vote.FOR
        if value > 75:
            return Vote.AGAINST
        return Vote.NEUTRAL

    def rule_volume(self) -> Vote:
        rank = self.rank[-1]
        if np.isnan(rank):
            return Vote.NEUTRAL
        return Vote.FOR if rank > 0.6 else Vote.NEUTRAL

    def rule_volatility(self) -> Vote:
        dev = self.dev[-1]
        price = self.data.Close[-1]
        if np.isnan(dev) or price <= 0:
            return Vote.NEUTRAL
        return Vote.FOR if dev / price < 0.03 else Vote.AGAINST

    def score(self) -> float:
        votes = [rule() for rule in self.rules]
        for name, vote in zip(WEIGHTS, votes):
            self.tally[(name, int(vote))] += 1
        return combine(votes, list(WEIGHTS.values()))

    def exits(self) -> None:
        if not self.position:
            return
        if crossover(self.slow_ma, self.fast_ma):
            self.position.close()
            return
        for trade in self.trades:
            stop = self.data.Close[-1] - self.stop_atr * self.dev[-1]
            if trade.is_long and (trade.sl is None or stop > trade.sl):
                trade.sl = stop

    def next(self):
        if len(self.data) < max(self.slow, self.rank_n):
            return
        self.exits()
        total = self.score()
        if not self.position and total >= ENTRY_SCORE:
            self.buy(size=self.size)
        elif self.position and total <= EXIT_SCORE:
            self.position.close()

    def describe(self) -> str:
        """One line per rule with its weight, for logs."""
        parts = []
        for name, weight in WEIGHTS.items():
            parts.append("%s=%.1f" % (name, weight))
        return ", ".join(parts)

    def votes_for(self, name: str) -> int:
        return sum(n for (rule, vote), n in self.tally.items() if rule == name and vote > 0)

    def votes_against(self, name: str) -> int:
        return sum(n for (rule, vote), n in self.tally.items() if rule == name and vote < 0)

    def balance(self) -> dict:
        return {name: self.votes_for(name) - self.votes_against(name) for name in WEIGHTS}

    def summary(self) -> List[str]:
        rows = sorted(self.tally.items(), key=lambda kv: kv[1], reverse=True)
        grouped = itertools.groupby(sorted(k[0] for k, _ in rows))
        return ["%s: %d" % (name, len(list(items))) for name, items in grouped]
