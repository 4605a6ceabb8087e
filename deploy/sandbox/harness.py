"""AlgoAgent sandbox harness: run one backtest of untrusted strategy code.

Baked into the sandbox image at /opt/algoagent/harness.py and started as the container's
entrypoint. Protocol (see README.md next to this file):

* reads ONE JSON request from stdin (one line, or everything up to EOF);
* writes ONE JSON line to stdout and nothing else: status "ok", "error" (the user's code
  failed) or "invalid_request" (the request itself is wrong);
* exit code 0 for ok, 1 for error, 2 for invalid_request; the line is the last thing it
  writes (stderr is flushed before it) and it exits right after, so the worker may take
  the complete line as the end of the run.

Every result line carries ``usage``: the container's peak memory and the CPU time spent
since the harness was ready, read from the container's own cgroup (v1 or v2) as it writes
the line. The Docker stats API cannot stand in: a stopped container has no statistics,
and a running one answers only on its collector's one-second tick.

With ``--ready`` it prints ``{"status":"ready"}`` first, once the heavy imports are done,
so a pre-started (warm) container can be handed a job later.

The protocol stream is a private duplicate of the original stdout; file descriptor 1 and
``sys.stdout`` are pointed at stderr before anything else runs, so nothing the user's code
(or a library) prints can corrupt the result line.
"""

from __future__ import annotations

import os
import sys

# --- protocol stream first: everything after this line that prints goes to stderr ---------
_PROTOCOL_FD = os.dup(1)  # non-inheritable by default (PEP 446)
os.dup2(2, 1)
sys.stdout = sys.stderr

# One thread per BLAS pool: the container has a small pids limit and one CPU.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")
os.environ.setdefault("HOME", "/tmp")
os.environ.setdefault("MPLCONFIGDIR", "/tmp")
# Site-packages of the no-registry image (the Dockerfile image installs into the default
# location). `python3 -I` ignores PYTHONPATH, so add it here as well as through a .pth file.
_SITE = "/opt/algoagent/site-packages"
if os.path.isdir(_SITE) and _SITE not in sys.path:
    sys.path.insert(0, _SITE)

import datetime as _dt  # noqa: E402
import json  # noqa: E402
import linecache  # noqa: E402
import math  # noqa: E402
import re  # noqa: E402
import resource  # noqa: E402
import time  # noqa: E402
import traceback  # noqa: E402
import types  # noqa: E402
import warnings  # noqa: E402

# Heavy imports before reading stdin, so a warm container has paid for them already.
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import backtesting  # noqa: E402
import backtesting.lib  # noqa: E402,F401  (strategies import it; load it before the clock starts)
import backtesting.test  # noqa: E402  (bundled GOOG / EURUSD / BTCUSD data)
from backtesting import Backtest, Strategy  # noqa: E402

MAX_REQUEST_BYTES = 8 * 1024 * 1024
MAX_CSV_BYTES = 50 * 1024 * 1024
MAX_PARQUET_BYTES = 50 * 1024 * 1024
MAX_EQUITY_POINTS = 500
MAX_TRACEBACK_LINES = 50
MAX_WARNINGS = 50
MAX_WARNING_CHARS = 500
DATASETS_DIR = "/datasets"
BUNDLED_DATASETS = ("GOOG", "EURUSD", "BTCUSD")
CSV_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._-]{0,200}\.csv$")
PARQUET_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._-]{0,200}\.parquet$")
# Operator files: dataset prefix -> (file name rule, suffix, size limit).
FILE_KINDS = {
    "csv": (CSV_NAME, ".csv", MAX_CSV_BYTES),
    "parquet": (PARQUET_NAME, ".parquet", MAX_PARQUET_BYTES),
}
# Columns taken as the dates of a Parquet file whose index is not already dates.
DATE_COLUMNS = ("date", "index", "__index_level_0__")
OHLC = ("Open", "High", "Low", "Close")
EXIT_OK, EXIT_ERROR, EXIT_INVALID = 0, 1, 2


class InvalidRequest(Exception):
    """The request is malformed; the user's code never ran."""


class EntrypointError(Exception):
    """The code ran but does not define a usable Strategy class under the entrypoint name."""


# --- plotting is disabled: no bokeh output, no files, no browser ----------------------------
def _plotting_disabled(*_args, **_kwargs):
    raise RuntimeError("plotting is disabled in the AlgoAgent sandbox")


Backtest.plot = _plotting_disabled
backtesting.set_bokeh_output = _plotting_disabled
backtesting.lib.plot_heatmaps = _plotting_disabled
backtesting.backtesting.plot = _plotting_disabled


# --- output ---------------------------------------------------------------------------------
def _strict(value):
    """Make a value strict-JSON: NaN/inf -> None, numpy scalars -> Python, tuples -> lists."""
    if isinstance(value, dict):
        return {str(k): _strict(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_strict(v) for v in value]
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        f = float(value)
        return f if math.isfinite(f) else None
    return value


# --- resource usage ---------------------------------------------------------------------------
CGROUP = "/sys/fs/cgroup"


def _read_int(path: str, key: str = ""):
    """An integer from a cgroup file (or from its ``key value`` line); None if unreadable."""
    try:
        with open(path, encoding="ascii") as handle:
            text = handle.read()
    except (OSError, ValueError):
        return None
    if key:
        text = next((line.split()[1] for line in text.splitlines() if line.startswith(key + " ")), "")
    try:
        return int(text.strip())
    except ValueError:
        return None


def _cpu_ns() -> int:
    """CPU time of every process in the container, in nanoseconds."""
    v1 = _read_int(f"{CGROUP}/cpuacct/cpuacct.usage")
    if v1 is not None:
        return v1
    v2 = _read_int(f"{CGROUP}/cpu.stat", "usage_usec")
    if v2 is not None:
        return v2 * 1000
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return int((own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime) * 1e9)


def _peak_memory_bytes():
    """Peak memory of the container (cgroup v1 max usage, v2 memory.peak, else current)."""
    for name in ("memory/memory.max_usage_in_bytes", "memory.peak", "memory.current"):
        value = _read_int(f"{CGROUP}/{name}")
        if value:
            return value
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 or None


_CPU_AT_READY = _cpu_ns()


def usage() -> dict:
    return {
        "peak_memory_bytes": _peak_memory_bytes(),
        "cpu_time_ms": max(0, _cpu_ns() - _CPU_AT_READY) // 1_000_000,
    }


def emit(payload: dict, code: int) -> None:
    """Write the one protocol line and exit with `code`."""
    try:
        payload = {**payload, "usage": usage()}
    except Exception:  # noqa: BLE001 - statistics must never cost the result
        pass
    try:
        line = json.dumps(_strict(payload), allow_nan=False, separators=(",", ":"))
    except (TypeError, ValueError) as exc:  # a bug here must still produce a valid line
        line = json.dumps(
            {
                "status": "error",
                "error_type": "HarnessError",
                "error": f"could not encode the result: {exc}",
                "traceback": "",
                "warnings": [],
            }
        )
        code = EXIT_ERROR
    data = (line + "\n").encode("utf-8")
    # Stderr first: the worker treats the result line as the end of the run.
    try:
        sys.stderr.flush()
    except (OSError, ValueError):
        pass
    while data:
        written = os.write(_PROTOCOL_FD, data)
        data = data[written:]
    # os._exit: skip interpreter teardown (atexit hooks the user's code may have registered,
    # slow module finalisation); the result is already written.
    os._exit(code)


def invalid(message: str) -> None:
    emit({"status": "invalid_request", "error": message}, EXIT_INVALID)


# --- request --------------------------------------------------------------------------------
def read_request() -> dict:
    raw = sys.stdin.buffer.readline(MAX_REQUEST_BYTES + 1)
    if len(raw) > MAX_REQUEST_BYTES:
        raise InvalidRequest(f"request larger than {MAX_REQUEST_BYTES} bytes")
    if not raw.strip():
        raise InvalidRequest("empty request on stdin")
    try:
        request = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise InvalidRequest(f"request is not valid JSON: {exc}") from None
    if not isinstance(request, dict):
        raise InvalidRequest("request must be a JSON object")
    return request


def _number(config: dict, key: str, default=None, *, low=None, high=None, low_open=False) -> float:
    value = config.get(key, default)
    if value is None:
        if default is None:
            raise InvalidRequest(f"config.{key} is required")
        value = default
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise InvalidRequest(f"config.{key} must be a finite number")
    value = float(value)
    if low is not None and (value <= low if low_open else value < low):
        raise InvalidRequest(f"config.{key} must be {'>' if low_open else '>='} {low}")
    if high is not None and value > high:
        raise InvalidRequest(f"config.{key} must be <= {high}")
    return value


def _flag(config: dict, key: str) -> bool:
    value = config.get(key, False)
    if value is None:
        return False
    if not isinstance(value, bool):
        raise InvalidRequest(f"config.{key} must be true or false")
    return value


def _date(config: dict, key: str):
    value = config.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidRequest(f"config.{key} must be a YYYY-MM-DD string or null")
    try:
        return _dt.date.fromisoformat(value)
    except ValueError:
        raise InvalidRequest(f"config.{key} must be a YYYY-MM-DD date, got {value!r}") from None


def parse_request(request: dict) -> dict:
    code = request.get("code")
    if not isinstance(code, str) or not code.strip():
        raise InvalidRequest("code must be a non-empty string")
    entrypoint = request.get("entrypoint")
    if not isinstance(entrypoint, str) or not entrypoint.isidentifier():
        raise InvalidRequest("entrypoint must be a Python identifier (the Strategy class name)")
    dataset = request.get("dataset")
    if not isinstance(dataset, str) or not dataset:
        raise InvalidRequest("dataset must be a non-empty string")
    config = request.get("config")
    if not isinstance(config, dict):
        raise InvalidRequest("config must be an object")
    params = {
        "cash": _number(config, "cash", low=0, low_open=True),
        "commission": _number(config, "commission", 0.0, low=-0.1, high=0.1),
        "spread": _number(config, "spread", 0.0, low=0, high=0.1),
        "margin": _number(config, "margin", 1.0, low=0, high=1, low_open=True),
        "exclusive_orders": _flag(config, "exclusive_orders"),
        "trade_on_close": _flag(config, "trade_on_close"),
        "finalize_trades": _flag(config, "finalize_trades"),
    }
    start, end = _date(config, "start"), _date(config, "end")
    if start and end and start > end:
        raise InvalidRequest("config.start must not be after config.end")
    return {
        "code": code,
        "entrypoint": entrypoint,
        "dataset": dataset,
        "params": params,
        "start": start,
        "end": end,
    }


# --- data -----------------------------------------------------------------------------------
def _available_datasets() -> list:
    names = list(BUNDLED_DATASETS)
    try:
        files = os.listdir(DATASETS_DIR)
    except OSError:
        files = []
    for prefix, (rule, _suffix, _limit) in FILE_KINDS.items():
        names += sorted(f"{prefix}:{n}" for n in files if rule.match(n))
    return names


def _operator_file(prefix: str, name: str) -> str:
    """The path of `<prefix>:<name>` in /datasets, checked for its name and size."""
    rule, suffix, limit = FILE_KINDS[prefix]
    if not rule.match(name):
        raise InvalidRequest(
            f"dataset file name {name!r} is not allowed: use letters, digits, '.', '_', '-', "
            f"no path separators, ending in {suffix}"
        )
    path = os.path.join(DATASETS_DIR, name)
    try:
        size = os.stat(path).st_size
    except OSError:
        raise InvalidRequest(
            f"unknown dataset '{prefix}:{name}'; available: {', '.join(_available_datasets())}"
        ) from None
    if size > limit:
        raise InvalidRequest(f"dataset {prefix}:{name} is {size} bytes; the limit is {limit}")
    return path


def _read_csv(name: str) -> pd.DataFrame:
    path = _operator_file("csv", name)
    try:
        frame = pd.read_csv(path, index_col=0, parse_dates=True)
    except Exception as exc:  # noqa: BLE001 - any parse failure is the request's fault
        raise InvalidRequest(f"dataset csv:{name} is not a readable CSV: {exc}") from None
    return _checked_prices(f"csv:{name}", frame)


def _read_parquet(name: str) -> pd.DataFrame:
    path = _operator_file("parquet", name)
    try:
        frame = pd.read_parquet(path, engine="pyarrow")
    except Exception as exc:  # noqa: BLE001 - any parse failure is the request's fault
        raise InvalidRequest(f"dataset parquet:{name} is not a readable Parquet file: {exc}") from None
    if isinstance(frame.index, pd.RangeIndex):
        # No stored index (written with index=False, or without pandas' metadata): take the
        # column the catalog reads the range from, a Date/date/index column or the first.
        names = {str(c).lower(): c for c in frame.columns}
        column = next((names[n] for n in DATE_COLUMNS if n in names), None)
        if column is None and len(frame.columns):
            column = frame.columns[0]
        if column is not None:
            frame = frame.set_index(column)
    if len(frame.index) and frame.index.dtype == object and isinstance(frame.index[0], _dt.date):
        # DATE (date32) columns come back as datetime.date objects.
        try:
            frame.index = pd.DatetimeIndex(pd.to_datetime(frame.index), name=frame.index.name)
        except (TypeError, ValueError):
            pass
    if isinstance(frame.index, pd.DatetimeIndex) and frame.index.tz is not None:
        frame.index = frame.index.tz_convert("UTC").tz_localize(None)
    return _checked_prices(f"parquet:{name}", frame)


def _checked_prices(dataset: str, frame: pd.DataFrame) -> pd.DataFrame:
    """The frame with OHLC(V) named as backtesting.py wants them, or InvalidRequest naming
    what is wrong (the same rules for every operator file)."""
    # Accept any capitalisation of the OHLCV names; backtesting.py wants them capitalised.
    canonical = {c.lower(): c for c in (*OHLC, "Volume")}
    frame = frame.rename(columns=lambda c: canonical.get(str(c).strip().lower(), c))
    missing = [c for c in OHLC if c not in frame.columns]
    if missing:
        raise InvalidRequest(f"dataset {dataset} lacks column(s) {', '.join(missing)}")
    columns = [c for c in (*OHLC, "Volume") if c in frame.columns]
    for column in columns:
        if not pd.api.types.is_numeric_dtype(frame[column]):
            raise InvalidRequest(f"dataset {dataset}: column {column} is not numeric")
    if not isinstance(frame.index, pd.DatetimeIndex):
        raise InvalidRequest(f"dataset {dataset}: the first column must be a date/time index")
    if frame.index.hasnans:
        raise InvalidRequest(f"dataset {dataset}: the index has missing dates")
    if not (frame.index.is_monotonic_increasing and frame.index.is_unique):
        raise InvalidRequest(f"dataset {dataset}: the index must be strictly increasing")
    bad = frame[columns].isna().any(axis=1)
    if bad.any():
        raise InvalidRequest(
            f"dataset {dataset} has {int(bad.sum())} row(s) with missing values "
            f"(first at {frame.index[bad.argmax()]})"
        )
    return frame


def load_dataset(dataset: str, start, end) -> pd.DataFrame:
    if dataset in BUNDLED_DATASETS:
        frame = getattr(backtesting.test, dataset).copy()
    elif dataset.startswith("csv:"):
        frame = _read_csv(dataset[len("csv:"):])
    elif dataset.startswith("parquet:"):
        frame = _read_parquet(dataset[len("parquet:"):])
    else:
        raise InvalidRequest(
            f"unknown dataset {dataset!r}; available: {', '.join(_available_datasets())}"
        )
    if start is not None or end is not None:
        lo = pd.Timestamp(start) if start else None
        # `end` is inclusive of the whole day.
        hi = pd.Timestamp(end) + pd.Timedelta(days=1) - pd.Timedelta(1, "ns") if end else None
        frame = frame.loc[lo:hi]
    if len(frame) < 2:
        raise InvalidRequest(f"dataset {dataset} has fewer than 2 rows in the requested range")
    return frame


# --- user code ------------------------------------------------------------------------------
def load_strategy(code: str, entrypoint: str):
    module = types.ModuleType("strategy")
    module.__file__ = "strategy.py"
    sys.modules["strategy"] = module
    # Let tracebacks show the source lines of strategy.py (mtime None: never evicted).
    linecache.cache["strategy.py"] = (len(code), None, code.splitlines(True), "strategy.py")
    compiled = compile(code, "strategy.py", "exec", dont_inherit=True)
    exec(compiled, module.__dict__)  # noqa: S102 - the whole point; the container is the jail
    cls = module.__dict__.get(entrypoint)
    if cls is None:
        found = sorted(
            name for name, obj in module.__dict__.items()
            if isinstance(obj, type) and obj.__module__ == "strategy"
        )
        raise EntrypointError(
            f"strategy.py defines no class named {entrypoint!r}"
            + (f" (classes found: {', '.join(found)})" if found else "")
        )
    if not (isinstance(cls, type) and issubclass(cls, Strategy)):
        raise EntrypointError(f"{entrypoint!r} is not a subclass of backtesting.Strategy")
    if cls is Strategy:
        raise EntrypointError(f"{entrypoint!r} is backtesting.Strategy itself, not a subclass")
    return cls


# --- result integrity -----------------------------------------------------------------------
class ResultIntegrityError(Exception):
    """The reported results are better than the trades replayed on the harness's own data."""


PRICE_COLUMNS = ("Open", "High", "Low", "Close")


def private_prices(data: pd.DataFrame) -> dict:
    """A copy of the prices taken before the strategy runs; it lives in `main`'s frame only,
    which the validator keeps the strategy from reaching."""
    return {col: data[col].to_numpy(dtype=float, copy=True) for col in PRICE_COLUMNS}


def _pieces(stats) -> list:
    """(entry_bar, exit_bar or None, entry_price, exit_price or None, size) of every closed
    trade and of every trade still open at the end."""
    pieces = []
    trades = stats["_trades"]
    for row in trades[["EntryBar", "ExitBar", "EntryPrice", "ExitPrice", "Size"]].itertuples(index=False):
        pieces.append((int(row[0]), int(row[1]), float(row[2]), float(row[3]), float(row[4])))
    strategy = stats.get("_strategy")
    broker = getattr(strategy, "_broker", None)
    for trade in getattr(broker, "trades", ()) or ():
        pieces.append((int(trade.entry_bar), None, float(trade.entry_price), None, float(trade.size)))
    return pieces


def verify_results(stats, prices: dict, params: dict) -> None:
    """Replay every trade on the private prices and refuse results they do not explain.

    Each fill must be a price its bar traded at (spread included), and the reported equity
    may at no bar exceed the starting cash plus the trades' realised and marked-to-market
    P&L less commissions (backtesting.py's own accounting with a relative commission). A
    strategy that wrote the broker's cash, its equity history, a trade's prices or the data
    fails here even if the validator missed the trick. Being lower is allowed: running out
    of money zeroes the equity on purpose.
    """
    close, high, low = prices["Close"], prices["High"], prices["Low"]
    n = len(close)
    cash0, commission, spread = params["cash"], params["commission"], params["spread"]
    pieces = _pieces(stats)
    cash_delta = np.zeros(n)
    position = np.zeros(n + 1)
    basis = np.zeros(n + 1)
    slack = np.zeros(n)
    for entry_bar, exit_bar, entry, exit_, size in pieces:
        if not (math.isfinite(size) and size != 0 and 0 <= entry_bar < n):
            raise ResultIntegrityError(f"a trade has size {size} at bar {entry_bar}")
        fills = [(entry_bar, entry)] + ([(exit_bar, exit_)] if exit_bar is not None else [])
        for bar, price in fills:
            if not (0 <= bar < n and entry_bar <= bar):
                raise ResultIntegrityError(f"a trade fills at bar {bar} of {n}")
            lo, hi = low[bar] * (1 - spread), high[bar] * (1 + spread)
            tol = 1e-9 * max(abs(lo), abs(hi), 1.0)
            if not (lo - tol <= price <= hi + tol):
                raise ResultIntegrityError(
                    f"a trade fills at {price:.6g} on bar {bar}, outside that bar's range {lo:.6g}-{hi:.6g}"
                )
            # trade_on_close books a fill one bar late; allow one bar's fill costs either way.
            slack[bar] += abs(size) * price * (abs(commission) + 2 * spread) + 1e-6 * abs(size) * price
        end = exit_bar if exit_bar is not None else n
        cash_delta[entry_bar] -= commission * abs(size) * entry
        position[entry_bar] += size
        position[end] -= size
        basis[entry_bar] += size * entry
        basis[end] -= size * entry
        if exit_bar is not None:
            cash_delta[exit_bar] += size * (exit_ - entry) - commission * abs(size) * exit_
    held = np.cumsum(position)[:n]
    cost = np.cumsum(basis)[:n]
    replayed = cash0 + np.cumsum(cash_delta) + held * close - cost
    reported = stats["_equity_curve"]["Equity"].to_numpy(dtype=float)
    if len(reported) != n:
        raise ResultIntegrityError(f"the equity curve has {len(reported)} points for {n} bars")
    allowed = replayed + slack + 1e-6 * max(cash0, 1.0)
    over = np.flatnonzero(~np.isfinite(reported) | (reported > allowed))
    if len(over):
        bar = int(over[0])
        raise ResultIntegrityError(
            f"the reported equity at bar {bar} ({reported[bar]:.2f}) is more than the trades explain "
            f"({replayed[bar]:.2f}): the backtest's internal state was altered"
        )


def _user_line(exc: BaseException):
    """The line of strategy.py closest to the failure, if any."""
    if isinstance(exc, SyntaxError) and exc.filename == "strategy.py":
        return exc.lineno
    line = None
    for frame, lineno in traceback.walk_tb(exc.__traceback__):
        if frame.f_code.co_filename == "strategy.py":
            line = lineno
    return line


def _iso(ts) -> str:
    if isinstance(ts, pd.Timestamp):
        return ts.isoformat()
    return str(ts)


def _days(value):
    if isinstance(value, pd.Timedelta):
        return None if pd.isna(value) else value.total_seconds() / 86400.0
    return value


def build_report(stats, warned: list, started: float) -> dict:
    def stat(key):
        value = stats.get(key)
        return None if value is None else value

    equity = stats["_equity_curve"]["Equity"]
    equity = equity[np.isfinite(equity.to_numpy(dtype=float))]
    n = len(equity)
    if n > MAX_EQUITY_POINTS:
        picks = np.unique(np.linspace(0, n - 1, MAX_EQUITY_POINTS).round().astype(int))
        equity = equity.iloc[picks]
    curve = [[_iso(ts), float(v)] for ts, v in equity.items()]

    trades = stats["_trades"]
    size = trades["Size"] if "Size" in trades else pd.Series(dtype=float)
    pnl = trades["PnL"] if "PnL" in trades else pd.Series(dtype=float)
    metrics = {
        "start": _iso(stat("Start")),
        "end": _iso(stat("End")),
        "duration_days": _days(stat("Duration")),
        "exposure_pct": stat("Exposure Time [%]"),
        "equity_final": stat("Equity Final [$]"),
        "equity_peak": stat("Equity Peak [$]"),
        "commissions": stat("Commissions [$]"),
        "return_pct": stat("Return [%]"),
        "buy_hold_return_pct": stat("Buy & Hold Return [%]"),
        "return_ann_pct": stat("Return (Ann.) [%]"),
        "volatility_ann_pct": stat("Volatility (Ann.) [%]"),
        "cagr_pct": stat("CAGR [%]"),
        "sharpe": stat("Sharpe Ratio"),
        "sortino": stat("Sortino Ratio"),
        "calmar": stat("Calmar Ratio"),
        "max_drawdown_pct": stat("Max. Drawdown [%]"),
        "avg_drawdown_pct": stat("Avg. Drawdown [%]"),
        "win_rate_pct": stat("Win Rate [%]"),
        "profit_factor": stat("Profit Factor"),
        "trades": int(stat("# Trades") or 0),
        "best_trade_pct": stat("Best Trade [%]"),
        "worst_trade_pct": stat("Worst Trade [%]"),
        "avg_trade_pct": stat("Avg. Trade [%]"),
        "expectancy_pct": stat("Expectancy [%]"),
        "sqn": stat("SQN"),
    }
    # Anything that is not a plain number (pandas NaT, Timedelta...) becomes a float or null.
    for key, value in metrics.items():
        if key in ("start", "end", "trades"):
            continue
        try:
            metrics[key] = None if value is None or pd.isna(value) else float(value)
        except (TypeError, ValueError):
            metrics[key] = None
    return {
        "status": "ok",
        "metrics": metrics,
        "equity_curve": curve,
        "trades_summary": {
            "count": int(len(trades)),
            "long": int((size > 0).sum()),
            "short": int((size < 0).sum()),
            "winning": int((pnl > 0).sum()),
            "losing": int((pnl < 0).sum()),
        },
        "warnings": warned,
        "elapsed_ms": (time.perf_counter() - started) * 1000.0,
    }


class _WarningLog:
    """Collects warnings (deduplicated, bounded) instead of printing them."""

    def __init__(self) -> None:
        self.items: list = []
        self._seen: set = set()
        self.dropped = 0

    def record(self, message, category, filename, lineno, file=None, line=None) -> None:
        text = f"{category.__name__}: {message}"
        if len(text) > MAX_WARNING_CHARS:
            text = text[: MAX_WARNING_CHARS - 3] + "..."
        if text in self._seen:
            return
        self._seen.add(text)
        if len(self.items) < MAX_WARNINGS:
            self.items.append(text)
        else:
            self.dropped += 1

    def as_list(self) -> list:
        if self.dropped:
            return self.items + [f"... and {self.dropped} more distinct warning(s)"]
        return list(self.items)


def main(argv: list) -> None:
    global _CPU_AT_READY
    _CPU_AT_READY = _cpu_ns()  # the job's CPU time starts here, after the imports
    if "--ready" in argv[1:]:
        os.write(_PROTOCOL_FD, b'{"status":"ready"}\n')

    try:
        job = parse_request(read_request())
        data = load_dataset(job["dataset"], job["start"], job["end"])
    except InvalidRequest as exc:
        invalid(str(exc))
        return

    log = _WarningLog()
    started = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        warnings.showwarning = log.record
        prices = private_prices(data)
        try:
            cls = load_strategy(job["code"], job["entrypoint"])
            stats = Backtest(data, cls, **job["params"]).run()
            verify_results(stats, prices, job["params"])
        except EntrypointError as exc:
            emit(
                {
                    "status": "error",
                    "error_type": "EntrypointError",
                    "error": str(exc),
                    "traceback": "",
                    "line": None,
                    "warnings": log.as_list(),
                },
                EXIT_ERROR,
            )
            return
        except BaseException as exc:  # noqa: BLE001 - SystemExit/KeyboardInterrupt included
            lines = "".join(traceback.format_exception(exc)).splitlines()
            emit(
                {
                    "status": "error",
                    "error_type": type(exc).__name__,
                    "error": str(exc),
                    "traceback": "\n".join(lines[-MAX_TRACEBACK_LINES:]),
                    "line": _user_line(exc),
                    "warnings": log.as_list(),
                },
                EXIT_ERROR,
            )
            return
    emit(build_report(stats, log.as_list(), started), EXIT_OK)


if __name__ == "__main__":
    try:
        main(sys.argv)
    except BaseException as exc:  # noqa: BLE001 - the protocol line must always be written
        emit(
            {
                "status": "error",
                "error_type": "HarnessError",
                "error": f"{type(exc).__name__}: {exc}",
                "traceback": "\n".join(traceback.format_exc().splitlines()[-MAX_TRACEBACK_LINES:]),
                "line": None,
                "warnings": [],
            },
            EXIT_ERROR,
        )
