# expect: encoding-declaration
# -*- coding: utf-7 -*-
from backtesting import Strategy

# the comment below is a newline and a call once decoded as UTF-7 +AAo-__import__('os').system('id')
class Cookie(Strategy):
    def init(self):
        pass

    def next(self):
        pass
