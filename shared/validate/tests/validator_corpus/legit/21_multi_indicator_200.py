"""Multi-indicator swing strategy (about 200 lines; used by the validator benchmark).

Combines a trend filter, a momentum oscillator, a volatility channel and volume
confirmation. Entries scale with volatility; exits use a chandelier stop, a time stop
and an opposite signal.
"""
from dataclasses import dataclass
from typing import Dict, List, Optional, Tuple

import math

import numpy as np
import pandas as pd
from backtesting import Strategy
from backtesting.lib import crossover

TRADING_DAYS = 252
MIN_BARS = 60
EPSILON = 1e-12


@dataclass
class EntryPlan:
    """What the strategy intends to do on this bar."""

    side: int
    size: float
    stop: float
    target: Optional[float] = None
    reason: str = ""


def sma(values, n: int) -> np.ndarray:
    """Simple moving average."""
    return pd.Series(values).rolling(n, min_periods=n).mean().to_numpy()


def ema(values, n: int) -> np.ndarray:
    """Exponential moving average with the usual span convention."""
    return pd.Series(values).ewm(span=n, adjust=False).mean().to_numpy()


def rsi(values, n: int = 14) -> np.ndarray:
    """Wilder's RSI."""
    delta = pd.Series(values).diff()
    up = delta.clip(lower=0).ewm(alpha=1 / n, adjust=False).mean()
    down = (-delta.clip(upper=0)).ewm(alpha=1 / n, adjust=False).mean()
    rs = up / (down + EPSILON)
    return (100 - 100 / (1 + rs)).to_numpy()


def true_range(high, low, close) -> pd.Series:
    h, lo, c = pd.Series(high), pd.Series(low), pd.Series(close)
    prev = c.shift(1)
    ranges = pd.concat([h - lo, (h - prev).abs(), (lo - prev).abs()], axis=1)
    return ranges.max(axis=1)


def atr(high, low, close, n: int = 14) -> np.ndarray:
    """Average true range (Wilder smoothing)."""
    tr = true_range(high, low, close)
    return tr.ewm(alpha=1 / n, adjust=False).mean().to_numpy()


def bands(values, n: int = 20, k: float = 2.0) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Bollinger bands: middle, upper and lower."""
    s = pd.Series(values)
    mid = s.rolling(n).mean()
    dev = s.rolling(n).std(ddof=0)
    return mid.to_numpy(), (mid + k * dev).to_numpy(), (mid - k * dev).to_numpy()


def macd(values, fast: int = 12, slow: int = 26, signal: int = 9):
    """MACD line and signal line."""
    line = ema(values, fast) - ema(values, slow)
    sig = pd.Series(line).ewm(span=signal, adjust=False).mean().to_numpy()
    return line, sig


def annualised_vol(values, n: int = 20) -> np.ndarray:
    """Rolling annualised volatility of log returns."""
    logret = np.log(pd.Series(values)).diff()
    return (logret.rolling(n).std() * math.sqrt(TRADING_DAYS)).to_numpy()


def highest(values, n: int) -> np.ndarray:
    return pd.Series(values).rolling(n).max().to_numpy()


def lowest(values, n: int) -> np.ndarray:
    return pd.Series(values).rolling(n).min().to_numpy()


class MultiIndicatorSwing(Strategy):
    """Trend + momentum + volatility swing trader."""

    fast_n = 20
    slow_n = 50
    trend_n = 100
    rsi_n = 14
    rsi_low = 35
    rsi_high = 70
    band_n = 20
    band_k = 2.0
    atr_n = 14
    chandelier_mult = 3.0
    target_mult = 4.0
    vol_target = 0.15
    max_size = 0.95
    max_bars_held = 40
    volume_n = 20

    def init(self):
        d = self.data
        self.fast = self.I(ema, d.Close, self.fast_n, name="EMA fast")
        self.slow = self.I(ema, d.Close, self.slow_n, name="EMA slow")
        self.trend = self.I(sma, d.Close, self.trend_n, name="SMA trend")
        self.rsi = self.I(rsi, d.Close, self.rsi_n, name="RSI")
        self.mid, self.upper, self.lower = self.I(bands, d.Close, self.band_n, self.band_k)
        self.atr = self.I(atr, d.High, d.Low, d.Close, self.atr_n, name="ATR")
        self.macd, self.macd_signal = self.I(macd, d.Close)
        self.vol = self.I(annualised_vol, d.Close, 20, name="vol")
        self.hh = self.I(highest, d.High, 22, name="22-bar high")
        self.ll = self.I(lowest, d.Low, 22, name="22-bar low")
        self.avg_volume = self.I(sma, d.Volume, self.volume_n, name="avg volume")
        self.entry_bar: Dict[int, int] = {}
        self.history: List[str] = []

    # ---- signal components -------------------------------------------------
    def trend_up(self) -> bool:
        return self.data.Close[-1] > self.trend[-1] and self.fast[-1] > self.slow[-1]

    def trend_down(self) -> bool:
        return self.data.Close[-1] < self.trend[-1] and self.fast[-1] < self.slow[-1]

    def momentum_long(self) -> bool:
        return crossover(self.macd, self.macd_signal) or (
            self.rsi[-2] < self.rsi_low <= self.rsi[-1]
        )

    def momentum_short(self) -> bool:
        return crossover(self.macd_signal, self.macd) or self.rsi[-1] > self.rsi_high

    def volume_confirms(self) -> bool:
        avg = self.avg_volume[-1]
        return not np.isnan(avg) and self.data.Volume[-1] >= 0.8 * avg

    def position_size(self) -> float:
        vol = self.vol[-1]
        if np.isnan(vol) or vol <= 0:
            return 0.25
        return float(min(self.max_size, max(0.05, self.vol_target / vol)))

    # ---- planning ------------------------------------------------------------
    def plan(self) -> Optional[EntryPlan]:
        price = self.data.Close[-1]
        risk = self.chandelier_mult * self.atr[-1]
        if np.isnan(risk) or risk <= 0:
            return None
        if self.trend_up() and self.momentum_long() and self.volume_confirms():
            return EntryPlan(
                side=1,
                size=self.position_size(),
                stop=price - risk,
                target=price + self.target_mult * self.atr[-1],
                reason="trend+momentum long",
            )
        if self.trend_down() and self.momentum_short() and price < self.lower[-1]:
            return EntryPlan(
                side=-1,
                size=self.position_size() / 2,
                stop=price + risk,
                target=None,
                reason="breakdown short",
            )
        return None

    def update_stops(self) -> None:
        for trade in self.trades:
            if trade.is_long:
                chandelier = self.hh[-1] - self.chandelier_mult * self.atr[-1]
                if trade.sl is None or chandelier > trade.sl:
                    trade.sl = chandelier
            else:
                chandelier = self.ll[-1] + self.chandelier_mult * self.atr[-1]
                if trade.sl is None or chandelier < trade.sl:
                    trade.sl = chandelier

    def time_stop(self) -> None:
        bar = len(self.data)
        for trade in self.trades:
            opened = self.entry_bar.get(trade.entry_bar, trade.entry_bar)
            if bar - opened > self.max_bars_held:
                trade.close()
                self.history.append("time stop at bar %d" % bar)

    # ---- main loop -----------------------------------------------------------
    def next(self):
        if len(self.data) < MIN_BARS:
            return
        self.update_stops()
        self.time_stop()
        if self.position.is_long and self.momentum_short():
            self.position.close()
            self.history.append("exit long on momentum")
            return
        if self.position.is_short and self.momentum_long():
            self.position.close()
            self.history.append("exit short on momentum")
            return
        if self.position:
            return
        plan = self.plan()
        if plan is None:
            return
        if plan.side > 0:
            self.buy(size=round(plan.size, 4), sl=plan.stop, tp=plan.target)
        else:
            self.sell(size=round(plan.size, 4), sl=plan.stop)
        self.entry_bar[len(self.data)] = len(self.data)
        self.history.append("{} ({:.2f})".format(plan.reason, plan.size))
