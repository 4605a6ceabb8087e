//! Numeric checks of the generated Python: every indicator helper is compared with an
//! independent loop implementation on synthetic data (relative error <= 1e-9), and every
//! example module must compile under Python.
//!
//! Needs `python3` with numpy and pandas (`pip install numpy pandas`); the tests fail with
//! that instruction when they are missing. That every example backtests and trades is
//! checked in the real sandbox by `tests/tests/examples_sandbox.rs`.

use algoagent_spec::StrategySpec;
use algoagent_spec::codegen::{generate, indicator_helpers_source};
use std::path::{Path, PathBuf};
use std::process::Command;

const CHECK_HELPERS: &str = r#"
import math
import sys

import numpy as np

import helpers as h

rng = np.random.default_rng(7)
N = 400
close = 100 + np.cumsum(rng.normal(0, 1.5, N))
open_ = close + rng.normal(0, 0.5, N)
high = np.maximum(open_, close) + rng.uniform(0, 1.5, N)
low = np.minimum(open_, close) - rng.uniform(0, 1.5, N)
close[50:55] = close[49]  # flat stretch: zero gains and losses, zero ranges
volume = rng.uniform(1_000, 5_000, N)
high[80:90] = high[79]  # flat highs and lows: zero directional movement
low[80:90] = low[79]

NAN = float("nan")


def sma(x, n):
    return [NAN if i < n - 1 else sum(x[i - n + 1 : i + 1]) / n for i in range(len(x))]


def ewm_loop(x, alpha, min_periods):
    """pandas ewm(adjust=False) with leading NaNs skipped and min_periods valid values."""
    out, prev, seen = [], None, 0
    for v in x:
        if math.isnan(v):
            out.append(NAN if prev is None or seen < min_periods else prev)
            continue
        prev = v if prev is None else alpha * v + (1 - alpha) * prev
        seen += 1
        out.append(prev if seen >= min_periods else NAN)
    return out


def ema(x, n):
    return ewm_loop(list(x), 2 / (n + 1), n)


def wma(x, n):
    w = list(range(1, n + 1))
    return [
        NAN if i < n - 1 else sum(a * b for a, b in zip(x[i - n + 1 : i + 1], w)) / sum(w)
        for i in range(len(x))
    ]


def rsi(x, n):
    d = [NAN] + [x[i] - x[i - 1] for i in range(1, len(x))]
    g = ewm_loop([v if math.isnan(v) else max(v, 0.0) for v in d], 1 / n, n)
    l = ewm_loop([v if math.isnan(v) else max(-v, 0.0) for v in d], 1 / n, n)
    out = []
    for a, b in zip(g, l):
        if math.isnan(a) or math.isnan(b) or (a == 0 and b == 0):
            out.append(NAN)
        elif b == 0:
            out.append(100.0)
        else:
            out.append(100 - 100 / (1 + a / b))
    return out


def macd(x, fast, slow, signal):
    line = [a - b for a, b in zip(ema(x, fast), ema(x, slow))]
    sig = ewm_loop(line, 2 / (signal + 1), signal)
    return line, sig, [a - b for a, b in zip(line, sig)]


def pstd(x, n):
    out = []
    for i in range(len(x)):
        if i < n - 1:
            out.append(NAN)
            continue
        w = x[i - n + 1 : i + 1]
        m = sum(w) / n
        out.append(math.sqrt(sum((v - m) ** 2 for v in w) / n))
    return out


def bbands(x, n, k):
    mid, sd = sma(x, n), pstd(x, n)
    return [m + k * s for m, s in zip(mid, sd)], mid, [m - k * s for m, s in zip(mid, sd)]


def atr(hi, lo, cl, n):
    tr = [hi[0] - lo[0]] + [
        max(hi[i] - lo[i], abs(hi[i] - cl[i - 1]), abs(lo[i] - cl[i - 1]))
        for i in range(1, len(cl))
    ]
    return ewm_loop(tr, 1 / n, n)


def rolling(x, n, f):
    return [NAN if i < n - 1 else f(x[i - n + 1 : i + 1]) for i in range(len(x))]


def stochastic(hi, lo, cl, k, d):
    hh, ll = rolling(hi, k, max), rolling(lo, k, min)
    pk = [
        NAN if math.isnan(a) else (100 * (c - b) / (a - b) if a != b else NAN)
        for a, b, c in zip(hh, ll, cl)
    ]
    return pk, [NAN if i < d - 1 + k - 1 else sum(pk[i - d + 1 : i + 1]) / d for i in range(len(pk))]


def donchian(hi, lo, n):
    up, dn = rolling(hi, n, max), rolling(lo, n, min)
    return up, [(a + b) / 2 for a, b in zip(up, dn)], dn


def roc(x, n):
    return [NAN if i < n else 100 * (x[i] / x[i - n] - 1) for i in range(len(x))]


def typical(hi, lo, cl):
    return [(a + b + c) / 3 for a, b, c in zip(hi, lo, cl)]


def div(a, b):
    """a / b with IEEE results for a zero divisor (inf or NaN), as numpy gives."""
    if math.isnan(a) or math.isnan(b):
        return NAN
    if b == 0:
        return NAN if a == 0 else math.copysign(math.inf, a)
    return a / b


def williams_r(hi, lo, cl, n):
    hh, ll = rolling(hi, n, max), rolling(lo, n, min)
    return [div(-100 * (a - c), a - b) for a, b, c in zip(hh, ll, cl)]


def true_range(hi, lo, cl):
    return [hi[0] - lo[0]] + [
        max(hi[i] - lo[i], abs(hi[i] - cl[i - 1]), abs(lo[i] - cl[i - 1])) for i in range(1, len(cl))
    ]


def keltner(hi, lo, cl, n, m):
    mid = ema(cl, n)
    width = [m * a for a in atr(hi, lo, cl, n)]
    return [a + w for a, w in zip(mid, width)], mid, [a - w for a, w in zip(mid, width)]


def cci(hi, lo, cl, n):
    tp = typical(hi, lo, cl)
    out = []
    for i in range(len(tp)):
        if i < n - 1:
            out.append(NAN)
            continue
        w = tp[i - n + 1 : i + 1]
        mean = sum(w) / n
        mad = sum(abs(v - mean) for v in w) / n
        out.append(div(tp[i] - mean, 0.015 * mad))
    return out


def adx(hi, lo, cl, n):
    pdm, mdm = [0.0], [0.0]
    for i in range(1, len(cl)):
        up, down = hi[i] - hi[i - 1], lo[i - 1] - lo[i]
        pdm.append(up if up > down and up > 0 else 0.0)
        mdm.append(down if down > up and down > 0 else 0.0)
    tr = ewm_loop(true_range(hi, lo, cl), 1 / n, n)
    pdi = [div(100 * a, b) for a, b in zip(ewm_loop(pdm, 1 / n, n), tr)]
    mdi = [div(100 * a, b) for a, b in zip(ewm_loop(mdm, 1 / n, n), tr)]
    dx = [NAN if math.isnan(a + b) else (0.0 if a + b == 0 else 100 * abs(a - b) / (a + b)) for a, b in zip(pdi, mdi)]
    return ewm_loop(dx, 1 / n, n), pdi, mdi


def obv(cl, vol):
    out, total = [], 0.0
    for i in range(len(cl)):
        if i > 0 and cl[i] > cl[i - 1]:
            total += vol[i]
        elif i > 0 and cl[i] < cl[i - 1]:
            total -= vol[i]
        out.append(total)
    return out


def vwap(hi, lo, cl, vol, n):
    tp = typical(hi, lo, cl)
    return [
        NAN if i < n - 1 else sum(t * v for t, v in zip(tp[i - n + 1 : i + 1], vol[i - n + 1 : i + 1])) / sum(vol[i - n + 1 : i + 1])
        for i in range(len(tp))
    ]


def mfi(hi, lo, cl, vol, n):
    tp = typical(hi, lo, cl)
    pos = [0.0] + [tp[i] * vol[i] if tp[i] > tp[i - 1] else 0.0 for i in range(1, len(tp))]
    neg = [0.0] + [tp[i] * vol[i] if tp[i] < tp[i - 1] else 0.0 for i in range(1, len(tp))]
    out = []
    for i in range(len(tp)):
        if i < n - 1:
            out.append(NAN)
            continue
        p, q = sum(pos[i - n + 1 : i + 1]), sum(neg[i - n + 1 : i + 1])
        ratio = div(p, q)
        out.append(NAN if math.isnan(ratio) else (100.0 if math.isinf(ratio) else 100 - 100 / (1 + ratio)))
    return out


def psar(hi, lo, step, max_step):
    """Wilder's rules, state kept in a dict (an independent transcription of the loop)."""
    out = [NAN]
    st = {"long": True, "sar": lo[0], "ep": hi[0], "af": step}
    for i in range(1, len(hi)):
        sar = st["sar"] + st["af"] * (st["ep"] - st["sar"])
        prior = [i - 1, max(i - 2, 0)]
        if st["long"]:
            sar = min([sar] + [lo[j] for j in prior])
            if lo[i] < sar:
                st.update(long=False, sar=st["ep"], ep=lo[i], af=step)
            else:
                st["sar"] = sar
                if hi[i] > st["ep"]:
                    st.update(ep=hi[i], af=min(st["af"] + step, max_step))
        else:
            sar = max([sar] + [hi[j] for j in prior])
            if hi[i] > sar:
                st.update(long=True, sar=st["ep"], ep=hi[i], af=step)
            else:
                st["sar"] = sar
                if lo[i] < st["ep"]:
                    st.update(ep=lo[i], af=min(st["af"] + step, max_step))
        out.append(st["sar"])
    return out


def ichimoku(hi, lo, t, k, s):
    def mid(n):
        return [a if math.isnan(a) else (a + b) / 2 for a, b in zip(rolling(hi, n, max), rolling(lo, n, min))]

    def shift(x, n):
        return [NAN] * n + x[: len(x) - n]

    conv, base = mid(t), mid(k)
    return conv, base, shift([(a + b) / 2 for a, b in zip(conv, base)], k), shift(mid(s), k)


failures = []


def check(name, got, want):
    got = np.asarray(got, dtype=float)
    want = np.asarray(want, dtype=float)
    if got.shape != want.shape:
        failures.append(f"{name}: shape {got.shape} != {want.shape}")
        return
    # A zero price range gives inf or NaN in %K; both mean "undefined" here.
    got = np.where(np.isinf(got), np.nan, got)
    want = np.where(np.isinf(want), np.nan, want)
    if not np.array_equal(np.isnan(got), np.isnan(want)):
        first = int(np.argmax(np.isnan(got) != np.isnan(want)))
        failures.append(f"{name}: NaN pattern differs first at index {first}")
        return
    ok = ~np.isnan(want)
    if not ok.any():
        return
    rel = np.abs(got[ok] - want[ok]) / np.maximum(np.abs(want[ok]), 1e-12)
    if rel.max() > 1e-9:
        failures.append(f"{name}: max relative error {rel.max():.3g}")


c, hi, lo = list(close), list(high), list(low)
for n in (1, 2, 5, 14, 50):
    check(f"sma({n})", h._sma(close, n), sma(c, n))
    check(f"ema({n})", h._ema(close, n), ema(c, n))
    check(f"wma({n})", h._wma(close, n), wma(c, n))
    check(f"rsi({n})", h._rsi(close, n), rsi(c, n))
    check(f"std({n})", h._std(close, n), pstd(c, n))
    check(f"highest({n})", h._highest(close, n), rolling(c, n, max))
    check(f"lowest({n})", h._lowest(close, n), rolling(c, n, min))
    check(f"roc({n})", h._roc(close, n), roc(c, n))
    check(f"atr({n})", h._atr(high, low, close, n), atr(hi, lo, c, n))
    for got, want, part in zip(h._donchian(high, low, n), donchian(hi, lo, n), "uml"):
        check(f"donchian({n}).{part}", got, want)
for fast, slow, signal in ((12, 26, 9), (3, 10, 4)):
    for got, want, part in zip(h._macd(close, fast, slow, signal), macd(c, fast, slow, signal), ("line", "signal", "hist")):
        check(f"macd({fast},{slow},{signal}).{part}", got, want)
for n, k in ((20, 2.0), (5, 1.5)):
    for got, want, part in zip(h._bbands(close, n, k), bbands(c, n, k), "uml"):
        check(f"bbands({n},{k}).{part}", got, want)
for k, d in ((14, 3), (5, 1)):
    for got, want, part in zip(h._stochastic(high, low, close, k, d), stochastic(hi, lo, c, k, d), "kd"):
        check(f"stochastic({k},{d}).{part}", got, want)
check("wma(n > len)", h._wma(close[:3], 5), [NAN] * 3)
vol = list(volume)
for n in (2, 5, 14, 20):
    check(f"williams_r({n})", h._williams_r(high, low, close, n), williams_r(hi, lo, c, n))
    check(f"cci({n})", h._cci(high, low, close, n), cci(hi, lo, c, n))
    check(f"vwap({n})", h._vwap(high, low, close, volume, n), vwap(hi, lo, c, vol, n))
    check(f"mfi({n})", h._mfi(high, low, close, volume, n), mfi(hi, lo, c, vol, n))
    for got, want, part in zip(h._adx(high, low, close, n), adx(hi, lo, c, n), ("adx", "plus_di", "minus_di")):
        check(f"adx({n}).{part}", got, want)
    for got, want, part in zip(h._keltner(high, low, close, n, 1.5), keltner(hi, lo, c, n, 1.5), "uml"):
        check(f"keltner({n}).{part}", got, want)
check("obv", h._obv(close, volume), obv(c, vol))
for step, cap in ((0.02, 0.2), (0.05, 0.5)):
    check(f"psar({step},{cap})", h._psar(high, low, step, cap), psar(hi, lo, step, cap))
for t, k, s in ((9, 26, 52), (3, 5, 8)):
    for got, want, part in zip(h._ichimoku(high, low, t, k, s), ichimoku(hi, lo, t, k, s), ("tenkan", "kijun", "senkou_a", "senkou_b")):
        check(f"ichimoku({t},{k},{s}).{part}", got, want)
# Worked by hand with Wilder's rules: the SAR rises by af x (EP - SAR), af grows by the step
# at each new high, and the SAR never goes above the two previous lows.
check("psar by hand", h._psar([10, 11, 12, 13], [9, 10, 11, 12], 0.02, 0.2), [NAN, 9.0, 9.0, 9.18])
check("williams_r by hand", h._williams_r([10, 12, 11], [8, 9, 10], [9, 11, 10.5], 2), [NAN, -25.0, -50.0])

if failures:
    print("\n".join(failures))
    sys.exit(1)
print("all helpers match")
"#;

fn python() -> &'static str {
    "python3"
}

/// Fails with an install hint unless python3 can import numpy and pandas.
fn require_numpy_pandas() {
    let out = Command::new(python())
        .args(["-c", "import numpy, pandas"])
        .output()
        .unwrap_or_else(|e| panic!("python3 is required for codegen numeric tests: {e}"));
    assert!(
        out.status.success(),
        "python3 lacks numpy/pandas; run `pip install numpy pandas`:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn run_python(dir: &Path, script: &str) -> (bool, String) {
    let path = dir.join("check.py");
    std::fs::write(&path, script).expect("write script");
    let out = Command::new(python()).arg(&path).current_dir(dir).output().expect("run python3");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.success(), text)
}

fn examples() -> Vec<(String, StrategySpec)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples/specs");
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).expect("examples/specs") {
        let path = entry.expect("entry").path();
        if path.extension().and_then(|e| e.to_str()) == Some("json") {
            let spec = StrategySpec::parse_json(&std::fs::read(&path).expect("read")).expect("valid");
            let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or("x").to_owned();
            out.push((stem, spec));
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

#[test]
fn every_indicator_helper_matches_an_independent_implementation() {
    require_numpy_pandas();
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("helpers.py"), indicator_helpers_source()).expect("write");
    let (ok, text) = run_python(dir.path(), CHECK_HELPERS);
    assert!(ok, "indicator helpers disagree with the reference:\n{text}");
}

#[test]
fn every_example_module_compiles_under_python() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut names = Vec::new();
    for (stem, spec) in examples() {
        let g = generate(&spec).expect("generates");
        std::fs::write(dir.path().join(format!("{stem}.py")), &g.code).expect("write");
        names.push(format!("({stem:?}, {:?})", g.entrypoint));
    }
    let script = format!(
        "import ast, sys\nfailed = []\nfor stem, cls in [{}]:\n    src = open(stem + '.py').read()\n    try:\n        tree = ast.parse(src)\n        compile(src, stem, 'exec')\n    except SyntaxError as e:\n        failed.append(f'{{stem}}: {{e}}')\n        continue\n    classes = [n.name for n in tree.body if isinstance(n, ast.ClassDef)]\n    if classes != [cls]:\n        failed.append(f'{{stem}}: classes {{classes}}')\nprint('\\n'.join(failed))\nsys.exit(1 if failed else 0)\n",
        names.join(", ")
    );
    let (ok, text) = run_python(dir.path(), &script);
    assert!(ok, "generated modules do not compile:\n{text}");
}
