# expect: structure-strategy-count
from backtesting import Strategy


class Decoy(Strategy):
    def init(self):
        pass

    def next(self):
        pass


class Real(Strategy):
    def init(self):
        pass

    def next(self):
        self.buy()
