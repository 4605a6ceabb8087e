# expect: encoding-declaration
# vim: set fileencoding=latin-1 :
from backtesting import Strategy


class Latin(Strategy):
    def init(self):
        pass

    def next(self):
        pass
