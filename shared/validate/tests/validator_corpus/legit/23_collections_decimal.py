"""Position sizing with Decimal and Fraction, recent fills kept in a deque."""
from collections import deque
from decimal import ROUND_DOWN, Decimal
from fractions import Fraction

from backtesting import Strategy
from backtesting.test import SMA

RISK_FRACTION = Fraction(1, 4)


class SizedEntries(Strategy):
    n = 20
    memory = 5

    def init(self):
        self.ma = self.I(SMA, self.data.Close, self.n)
        self.recent = deque(maxlen=self.memory)

    def units(self) -> int:
        budget = Decimal(str(self.equity)) * Decimal(RISK_FRACTION.numerator) / Decimal(RISK_FRACTION.denominator)
        price = Decimal(str(self.data.Close[-1]))
        return int((budget / price).quantize(Decimal("1"), rounding=ROUND_DOWN))

    def next(self):
        price = self.data.Close[-1]
        self.recent.append(price)
        rising = len(self.recent) == self.memory and self.recent[-1] > self.recent[0]
        if rising and price > self.ma[-1] and not self.position:
            units = self.units()
            if units > 0:
                self.buy(size=units)
        elif self.position and price < self.ma[-1]:
            self.position.close()
