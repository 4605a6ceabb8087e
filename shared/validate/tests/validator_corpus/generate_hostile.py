"""Regenerate hostile/*.py: one attack technique per file, hidden in a realistic strategy.

Each case is (file stem, expected rule id, placement, snippet). Placements: "module" (after
the imports), "init" / "next" (inside those methods), "helper" (a top-level function or
class placed before the strategy), "raw" (the whole file). The first line of every file is
`# expect: <rule-id>`; shared/validate/tests/validator_corpus.rs checks each file is refused with it.

Usage: python3 shared/validate/tests/validator_corpus/generate_hostile.py
"""
import os
import textwrap

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "hostile")

HEAD = '''from backtesting import Strategy
from backtesting.lib import crossover
import numpy as np
import pandas as pd
'''

TEMPLATES = [
# 0: SMA cross
('''
def SMA(values, n):
    """Simple moving average of `values` over `n` bars."""
    return pd.Series(values).rolling(n).mean()

{helper}
class {name}(Strategy):
    n1 = 10
    n2 = 20

    def init(self):
        close = self.data.Close
        self.sma1 = self.I(SMA, close, self.n1)
        self.sma2 = self.I(SMA, close, self.n2)
{init}
    def next(self):
{next}        if crossover(self.sma1, self.sma2):
            self.position.close()
            self.buy()
        elif crossover(self.sma2, self.sma1):
            self.position.close()
            self.sell()
'''),
# 1: RSI
('''
def RSI(values, n=14):
    """Wilder's relative strength index."""
    delta = pd.Series(values).diff()
    gain = delta.clip(lower=0).ewm(alpha=1 / n, adjust=False).mean()
    loss = (-delta.clip(upper=0)).ewm(alpha=1 / n, adjust=False).mean()
    return 100 - 100 / (1 + gain / loss)

{helper}
class {name}(Strategy):
    rsi_period = 14
    lower = 30
    upper = 70

    def init(self):
        self.rsi = self.I(RSI, self.data.Close, self.rsi_period)
{init}
    def next(self):
{next}        if self.rsi[-1] < self.lower and not self.position:
            self.buy(size=0.5)
        elif self.rsi[-1] > self.upper and self.position.is_long:
            self.position.close()
'''),
# 2: breakout
('''
def rolling_high(values, n):
    return pd.Series(values).rolling(n).max()


def rolling_low(values, n):
    return pd.Series(values).rolling(n).min()

{helper}
class {name}(Strategy):
    lookback = 20
    stop_pct = 0.05

    def init(self):
        self.high = self.I(rolling_high, self.data.High, self.lookback)
        self.low = self.I(rolling_low, self.data.Low, self.lookback)
{init}
    def next(self):
{next}        price = self.data.Close[-1]
        if price >= self.high[-2] and not self.position:
            self.buy(sl=price * (1 - self.stop_pct))
        elif price <= self.low[-2] and self.position:
            self.position.close()
'''),
]

def ind(code, n):
    code = textwrap.dedent(code).strip("\n")
    return textwrap.indent(code, " " * n) + "\n"

cases = []
def case(fname, rule, where, code, title=None):
    cases.append((fname, rule, where, code, title))

# --- import-not-allowed
case("import_os", "import-not-allowed", "module", "import os")
case("import_subprocess_alias", "import-not-allowed", "module", "import subprocess as sp")
case("from_os_path_import", "import-not-allowed", "module", "from os.path import join as _join")
case("import_socket_in_init", "import-not-allowed", "init", "import socket\nself.sock = socket.socket()")
case("relative_import", "import-not-allowed", "module", "from . import helpers")
case("relative_import_parent", "import-not-allowed", "module", "from ..shared import secrets")
case("import_importlib", "import-not-allowed", "module", "import importlib")
case("from_importlib_in_next", "import-not-allowed", "next", "from importlib import import_module\nimport_module('o' + 's')")
case("numpy_ctypeslib_submodule", "import-not-allowed", "module", "import numpy.ctypeslib as ctl")
case("pandas_io_submodule", "import-not-allowed", "module", "from pandas.io import pickle as pdpickle")
case("private_backtesting_module", "import-not-allowed", "module", "from backtesting._util import _Data")
case("import_sys_in_next", "import-not-allowed", "next", "import sys\nsys.stdout.write('tick')")
case("import_builtins", "import-not-allowed", "module", "import builtins")
case("fullwidth_module_name", "import-not-allowed", "module", "import \uff4f\uff53")
case("import_in_top_level_try", "import-not-allowed", "module", "try:\n    import talib\nexcept ImportError:\n    talib = None")
case("import_in_comprehension_helper", "import-not-allowed", "helper", '''
def load_plugins(names):
    import pkgutil
    return [pkgutil.get_loader(n) for n in names]
''')
# --- star-import
case("star_import_numpy", "star-import", "module", "from numpy import *")
# --- forbidden-call
case("eval_in_next", "forbidden-call", "next", "signal = eval('self.data.Close[-1] > 0')")
case("exec_in_init", "forbidden-call", "init", "exec('self.secret = 1')")
case("compile_call", "forbidden-call", "init", "code = compile('1 + 1', '<rule>', 'eval')")
case("open_file_in_next", "forbidden-call", "next", "with open('/etc/passwd') as fh:\n    _ = fh.read()")
case("dunder_import_call", "forbidden-call", "init", "__import__('os').system('id')")
case("type_three_args", "forbidden-call", "init", "Evil = type('Evil', (object,), {'x': 1})")
case("globals_call", "forbidden-call", "next", "g = globals()\ng['crossover'] = lambda a, b: True")
case("breakpoint_call", "forbidden-call", "next", "breakpoint()")
case("vars_call", "forbidden-call", "init", "state = vars(self)")
case("memoryview_call", "forbidden-call", "init", "buf = memoryview(b'abc')")
case("exit_call", "forbidden-call", "next", "if len(self.data) > 10_000:\n    exit(0)")
case("pandas_eval_method", "forbidden-call", "init", "doubled = self.data.df.eval('Close * 2')")
case("pd_eval_function", "forbidden-call", "init", "x = pd.eval('1 + 1')")
case("query_with_variable", "forbidden-call", "next", "expr = 'Close > ' + str(self.data.Close[-2])\nrows = self.data.df.query(expr)")
case("query_with_local_reference", "forbidden-call", "next", "rows = self.data.df.query('Close > @self.data.Open[-1]')")
case("fullwidth_eval_call", "forbidden-call", "next", "\uff45\uff56\uff41\uff4c('1 + 1')")
case("eval_in_default_argument", "forbidden-call", "helper", '''
def scaled(values, factor=eval('2 * 3')):
    return pd.Series(values) * factor
''')
case("eval_in_decorator_argument", "forbidden-call", "helper", '''
import functools


@functools.lru_cache(maxsize=eval('128'))
def cached_window(n):
    return n * 2
''')
case("exec_in_comprehension", "forbidden-call", "init", "_ = [exec(c) for c in ('a = 1', 'b = 2')]")
case("exec_in_lambda_indicator", "forbidden-call", "init", "self.hidden = self.I(lambda c: exec('0') or c, self.data.Close)")
case("input_call", "forbidden-call", "next", "answer = input('continue? ')")
case("string_annotation_payload", "forbidden-call", "helper", '''
def typed_helper(values: "__import__('os').system('id')") -> None:
    return None
''')
# --- forbidden-name
case("alias_eval", "forbidden-name", "init", "run = eval\nself.threshold = run('0.5')")
case("builtins_reference", "forbidden-name", "init", "b = __builtins__")
case("builtins_subscript", "forbidden-name", "next", "fn = __builtins__['ev' + 'al']")
case("alias_getattr", "forbidden-name", "init", "g = getattr\nself.cls = g(self, 'data')")
case("eval_passed_to_map", "forbidden-name", "init", "values = list(map(eval, ['1', '2']))")
case("exec_in_decorator", "forbidden-name", "helper", '''
import functools


@functools.partial(exec)
def never_called():
    return 0
''')
case("metaclass_keyword", "forbidden-name", "helper", '''
class Registry(type):
    pass


class Plugin(metaclass=Registry):
    pass
''')
case("walrus_alias_open", "forbidden-name", "next", "if (reader := open) is not None:\n    pass")
case("from_pandas_import_eval", "forbidden-name", "module", "from pandas import eval as pandas_eval")
case("dunder_import_as_default", "forbidden-name", "helper", '''
def plugin(name, loader=__import__):
    return loader(name)
''')
case("lambda_default_open", "forbidden-name", "init", "self.reader = lambda path, f=open: f(path)")
case("dataclass_default_factory_open", "forbidden-name", "helper", '''
from dataclasses import dataclass, field


@dataclass
class Settings:
    handle: object = field(default_factory=open)
''')
# --- dynamic-attribute
case("getattr_computed_name", "dynamic-attribute", "init", "klass = getattr(self.data, '_' * 2 + 'class' + '_' * 2)")
case("setattr_variable_name", "dynamic-attribute", "next", "name = 'position'\nsetattr(self, name, None)")
case("getattr_star_args", "dynamic-attribute", "init", "args = (self, 'data')\nd = getattr(*args)")
case("hasattr_fstring", "dynamic-attribute", "next", "n = 'class'\nif hasattr(self, f'__{n}__'):\n    pass")
# --- dunder-access
case("subclasses_walk", "dunder-access", "init", "classes = ().__class__.__base__.__subclasses__()")
case("function_globals", "dunder-access", "next", "g = self.next.__func__.__globals__")
case("getattr_literal_dunder", "dunder-access", "init", "k = getattr(self, '__class__')")
case("getattr_escaped_dunder", "dunder-access", "init", "k = getattr(self, '\\x5f_class__')")
case("fullwidth_dunder_attribute", "dunder-access", "init", "k = self.__\uff43lass__")
case("match_class_pattern_dunder", "dunder-access", "next", "match self.data:\n    case object(__class__=cls):\n        pass")
case("dunder_file_name", "dunder-access", "init", "here = __file__")
case("assign_dunder_builtins", "dunder-access", "module", "__builtins__ = {}")
case("super_getattribute", "dunder-access", "init", "x = super().__getattribute__('data')")
case("dunder_in_comprehension", "dunder-access", "init", "names = [c.__name__ for c in object.__subclasses__()]")
case("dunder_in_lambda_key", "dunder-access", "init", "key = lambda e: e.__traceback__\nself.k = key")
case("self_dict_write", "dunder-access", "next", "self.__dict__['position'] = None")
case("fstring_format_spec_dunder", "dunder-access", "next", "label = f'{self.data.Close[-1]:{self.__class__}}'")
# --- frame-access
case("generator_frame_globals", "frame-access", "init", "gen = (x for x in [1])\nfr = gen.gi_frame.f_back.f_globals")
case("traceback_frame", "frame-access", "next", "try:\n    1 / 0\nexcept ZeroDivisionError as exc:\n    tb = exc.with_traceback(None)\n    frame = tb.tb_frame")
case("code_object_consts", "frame-access", "init", "gen = (x for x in [1])\nconsts = gen.gi_code.co_consts")
case("getattr_literal_frame", "frame-access", "init", "gen = (x for x in [1])\nf = getattr(gen, 'gi_frame')")
case("mro_walk", "frame-access", "init", "bases = type(self).mro()")
# --- format-traversal
case("format_class_traversal", "format-traversal", "init", "label = '{0.__class__}'.format(self)")
case("format_map_globals", "format-traversal", "next", "text = '{x.__init__.__globals__}'.format_map({'x': self})")
case("format_on_variable_template", "format-traversal", "next", "tmpl = '{0}'\ntext = tmpl.format(self)")
case("str_format_unbound", "format-traversal", "init", "text = str.format('{0.__class__}', self)")
case("percent_built_template", "format-traversal", "init", "text = ('{0.%s}' % ('_' * 2 + 'class' + '_' * 2)).format(self)")
case("fstring_built_template", "format-traversal", "init", "attr = 'data'\ntext = f'{{0.{attr}}}'.format(self)")
case("format_index_builtins", "format-traversal", "init", "text = '{0[__builtins__]}'.format({})")
# --- file-io
case("pd_read_csv", "file-io", "init", "extra = pd.read_csv('/etc/passwd')")
case("df_to_pickle", "file-io", "next", "self.data.df.to_pickle('/tmp/state.pkl')")
case("np_load_pickle", "file-io", "init", "weights = np.load('weights.npy', allow_pickle=True)")
case("np_save_in_next", "file-io", "next", "np.save('/tmp/close.npy', self.data.Close)")
case("np_fromfile", "file-io", "init", "raw = np.fromfile('/dev/urandom', dtype=np.uint8, count=16)")
case("np_memmap", "file-io", "init", "mm = np.memmap('/tmp/mm.bin', dtype='float32', mode='w+', shape=(4,))")
case("from_pandas_import_read_pickle", "file-io", "module", "from pandas import read_pickle")
case("read_sql_network", "file-io", "init", "rows = pd.read_sql('select 1', 'postgresql://db/prod')")
case("np_lib_format", "file-io", "init", "arr = np.lib.format.open_memmap('/tmp/a.npy', mode='w+', dtype='f8', shape=(2,))")
case("hdfstore", "file-io", "init", "store = pd.HDFStore('/tmp/store.h5')")
case("to_string_buffer", "file-io", "next", "self.data.df.to_string(buf='/tmp/out.txt')")
case("module_level_reader_alias", "file-io", "module", "reader = pd.read_html")
case("savetxt_in_comprehension", "file-io", "init", "_ = [np.savetxt(f'/tmp/{i}.txt', [i]) for i in range(3)]")
case("plot_savefig", "file-io", "init", "ax = self.data.df.Close.plot()\nax.figure.savefig('/tmp/x.png')")
case("backtest_plot_filename", "file-io", "helper", '''
from backtesting import Backtest


def report(bt: Backtest):
    bt.plot(filename='/tmp/report.html', open_browser=False)
''')
# --- pandas method-name dispatch
case("agg_string_to_csv", "file-io", "init", "self.data.df.Close.agg('to_csv', '/tmp/close.csv')")
case("apply_string_dunder", "dunder-access", "init", "k = pd.Series([1.0]).agg('__class__')")
case("agg_computed_name", "dynamic-attribute", "init", "how = 'to_' + 'csv'\nself.data.df.agg(how, '/tmp/x.csv')")
case("agg_self_attribute_name", "dynamic-attribute", "init", "self.how = 'to_' + 'pickle'\nself.data.df.agg(self.how, '/tmp/x.pkl')")
case("pipe_subscript_name", "dynamic-attribute", "next", "names = ['mean', 'max']\nvalue = self.data.df.pipe(names[0])")
case("transform_parameter_name", "dynamic-attribute", "helper", """
def run_method(df, how):
    return df.transform([how])
""")
case("plot_backend_import", "forbidden-attribute", "init", "self.data.df.Close.plot(backend='os')")
case("set_option_plotting_backend", "forbidden-attribute", "init", "pd.set_option('plotting.backend', 'subprocess')")
case("agg_double_star_kwargs", "dynamic-attribute", "init", "how = 'to_' + 'csv'\nself.data.df.agg(**{'func': how})")
case("typing_private_eval_type", "forbidden-attribute", "helper", """
import typing


def resolve(text):
    return typing._eval_type(typing.List[text], {}, {})
""")
# --- forbidden-attribute
case("pandas_module_os_system", "forbidden-attribute", "init", "pd.io.common.os.system('id')")
case("ctypeslib_load_library", "forbidden-attribute", "init", "lib = np.ctypeslib.load_library('libc', '/lib')")
case("typing_get_type_hints", "forbidden-attribute", "helper", '''
import typing


def hints(fn):
    return typing.get_type_hints(fn)
''')
case("numpy_compat_escape", "forbidden-attribute", "next", "np.compat.os.getcwd()")
# --- literal-too-large
case("power_tower", "literal-too-large", "module", "LIMIT = 10 ** 10 ** 10")
case("huge_string_repeat", "literal-too-large", "init", "pad = 'a' * 10 ** 9")
case("huge_int_literal", "literal-too-large", "module", "MAGIC = 1" + "0" * 120)
case("huge_shift", "literal-too-large", "next", "mask = 1 << 10 ** 9")
case("pow_builtin_huge", "literal-too-large", "init", "big = pow(10, 10 ** 8)")
case("huge_list_repeat", "literal-too-large", "init", "buf = [0.0] * 10 ** 10")
# --- nesting-too-deep
case("deep_parentheses", "nesting-too-deep", "next", "x = " + "(" * 80 + "1" + ")" * 80)
case("deep_indentation", "nesting-too-deep", "next", "".join("    " * i + "if True:\n" for i in range(60)) + "    " * 60 + "pass")
# --- syntax
case("syntax_error", "syntax", "next", "if self.data.Close[-1] > 0\n    self.buy()")
# --- structure / style
case("main_block_runs_code", "structure-top-level", "raw", '''
from backtesting import Backtest, Strategy
from backtesting.lib import crossover
from backtesting.test import GOOG, SMA


class SmaCross(Strategy):
    def init(self):
        self.sma1 = self.I(SMA, self.data.Close, 10)
        self.sma2 = self.I(SMA, self.data.Close, 20)

    def next(self):
        if crossover(self.sma1, self.sma2):
            self.buy()


if __name__ == "__main__":
    Backtest(GOOG, SmaCross).run()
''')
case("two_strategies", "structure-strategy-count", "raw", '''
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
''')
case("global_statement", "global-statement", "next", "global LAST_PRICE\nLAST_PRICE = self.data.Close[-1]")

# --- syntax newer than the sandbox's Python 3.11: refused as syntax, and the tree is still
# checked, so the hidden call is named too (the validator parses with ruff's parser, which
# reads 3.12-3.14 syntax).
case("pep701_nested_quotes_eval", "forbidden-call", "next", 'label = f"{eval("1 + 1")}"')
case("type_alias_hides_import", "forbidden-call", "module", "type Loader = __import__('os')")
case("type_param_default_eval", "forbidden-call", "helper", "def scale[T = eval('int')](x: T) -> T:\n    return x")
case("tstring_interpolation_exec", "forbidden-call", "next", "msg = t'{exec(\"x = 1\")}'")
# --- f-string and comprehension corners
case("fstring_debug_dunder", "dunder-access", "next", "note = f'{self.__class__=}'")
case("walrus_getattr_in_comprehension", "dynamic-attribute", "init", "names = ['data']\n_ = [(v := getattr(self, n)) for n in names]")
case("implicit_concat_dunder_getattr", "dunder-access", "init", "k = getattr(self, '__cla' 'ss__')")

# --- source encodings: the validator must read exactly the text CPython runs
case("coding_utf7_hidden_line", "encoding-declaration", "raw", '''
# -*- coding: utf-7 -*-
from backtesting import Strategy

# the comment below is a newline and a call once decoded as UTF-7 +AAo-__import__('os').system('id')
class Cookie(Strategy):
    def init(self):
        pass

    def next(self):
        pass
''')
case("coding_unicode_escape", "encoding-declaration", "raw", '''
# coding=unicode_escape
from backtesting import Strategy

# \\u000a__import__('os').system('id')
class Escaped(Strategy):
    def init(self):
        pass

    def next(self):
        pass
''')
case("vim_fileencoding_latin1", "encoding-declaration", "raw", '''
# vim: set fileencoding=latin-1 :
from backtesting import Strategy


class Latin(Strategy):
    def init(self):
        pass

    def next(self):
        pass
''')
# --- result tampering: framework internals fake a profitable backtest
case("broker_cash_write", "framework-internal", "next", "self._broker._cash = 1e12")
case("equity_history_rewrite", "framework-internal", "next", "self._broker._equity[:] = 1e9")
case("data_internal_read", "framework-internal", "init", "raw = self._data")
case("closed_trade_pl_forged", "framework-internal", "next", "for t in self.closed_trades:\n    t._replace(exit_price=t.entry_price * 2)")
case("mangled_strategy_params", "framework-internal", "init", "self._Strategy__params['n1'] = 1")
case("mangled_data_arrays", "framework-internal", "init", "arrays = self.data._Data__arrays")
case("setattr_literal_broker", "framework-internal", "next", "setattr(self, '_broker', None)")
case("trade_sl_order_cancel", "framework-internal", "next", "for t in self.trades:\n    t._sl_order = None")
case("pandas_manager_internal", "framework-internal", "init", "blocks = self.data.df._mgr")
case("position_private_unassigned", "framework-internal", "next", "size = self.position._size_cache")
# --- endless loops
case("while_true_no_exit", "endless-loop", "next", "count = 0\nwhile True:\n    count += 1")
case("while_one_break_only_inner", "endless-loop", "next", "while 1:\n    for i in range(3):\n        break")
case("while_not_false_continue", "endless-loop", "init", "while not False:\n    continue")
case("while_string_literal", "endless-loop", "next", "while 'spin':\n    pass")

os.makedirs(OUT, exist_ok=True)
for f in os.listdir(OUT):
    os.remove(os.path.join(OUT, f))
names = ["SmaCross", "RsiReversion", "Breakout", "MomentumRider", "MeanRevert", "TrendFollow"]
for i, (fname, rule, where, code, title) in enumerate(cases):
    if where == "raw":
        body = textwrap.dedent(code).lstrip("\n")
    else:
        tpl = TEMPLATES[i % len(TEMPLATES)]
        module = ind(code, 0) if where == "module" else ""
        helper = ind(code, 0) + "\n" if where == "helper" else ""
        init = ind(code, 8) if where == "init" else ""
        nxt = ind(code, 8) if where == "next" else ""
        head = HEAD + (module if module else "")
        body = head + tpl.format(helper=("\n" + helper) if helper else "", name=names[i % len(names)], init=init, next=nxt)
    text = f"# expect: {rule}\n" + body
    with open(os.path.join(OUT, f"{i+1:03d}_{fname}.py"), "w") as fh:
        fh.write(text)
print(len(cases), "cases")
