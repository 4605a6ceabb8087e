# expect: encoding-declaration
# coding=unicode_escape
from backtesting import Strategy

# \u000a__import__('os').system('id')
class Escaped(Strategy):
    def init(self):
        pass

    def next(self):
        pass
