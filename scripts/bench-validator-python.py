#!/usr/bin/env python3
"""Benchmark the prototype's validator approach: ``ast.parse`` + an ``ast.NodeVisitor`` walk.

The visitor does checks comparable to ``algoagent_validate`` (import allowlist, forbidden
builtins and aliasing, dunder/frame attributes, getattr with non-literal names, format
templates, pandas/numpy I/O names, literal sizes, Strategy structure, metadata), so the
timing compares like with like. It is a benchmark baseline, not a second validator.

Usage (same files as the Rust benchmark):

    python3 scripts/bench-validator-python.py [FILE_OR_DIR ...] [--min-ms N] [--parse-only]

``--parse-only`` times ``ast.parse`` alone.

Defaults to shared/validate/tests/validator_corpus/legit. Prints microseconds per file (median of
batch means) and per 200 lines, in the same table layout as
``cargo run --release -p algoagent-validate --example validator_bench``.
"""
import ast
import os
import re
import statistics
import sys
import time
import unicodedata

ALLOWED = {
    "backtesting", "pandas", "numpy", "math", "statistics", "datetime", "typing",
    "dataclasses", "functools", "itertools", "collections", "enum", "decimal",
    "fractions", "__future__",
}
DENIED = ("numpy.ctypeslib", "numpy.f2py", "numpy.distutils", "numpy.testing",
          "numpy.lib.format", "numpy.lib.npyio", "numpy.lib.utils", "pandas.io",
          "pandas.testing", "pandas.util", "pandas.compat", "pandas.plotting",
          "pandas.core.computation")
FORBIDDEN = {"eval", "exec", "compile", "open", "input", "breakpoint", "globals", "locals",
             "vars", "__import__", "memoryview", "exit", "quit", "help", "copyright",
             "credits", "license", "__builtins__", "__loader__", "__spec__"}
GUARDED = {"getattr", "setattr", "delattr", "hasattr", "type"}
FRAME = {"f_globals", "f_locals", "f_back", "f_builtins", "f_code", "f_trace", "f_lasti",
         "f_lineno", "func_globals", "func_code", "func_closure", "cell_contents", "mro"}
FRAME_PREFIXES = ("gi_", "cr_", "ag_", "tb_", "co_")
SYSTEM = {"os", "sys", "subprocess", "builtins", "importlib", "import_module", "shutil",
          "socket", "ctypes", "ctypeslib", "load_library", "f2py", "distutils", "pickle",
          "marshal", "pathlib", "tempfile", "glob", "urllib", "http", "multiprocessing",
          "threading", "inspect", "gc", "runpy", "posix", "system", "popen", "spawn",
          "execv", "execve", "fork", "kill", "compat", "testing", "get_type_hints",
          "ForwardRef", "evaluate_forward_ref"}
IO = {"to_csv", "to_pickle", "to_parquet", "to_sql", "to_excel", "to_json", "to_hdf",
      "to_feather", "to_stata", "to_html", "to_latex", "to_markdown", "to_xml", "to_orc",
      "to_clipboard", "to_gbq", "io", "HDFStore", "ExcelWriter", "ExcelFile", "ODFReader",
      "load", "save", "savez", "savez_compressed", "savetxt", "loadtxt", "genfromtxt",
      "fromfile", "tofile", "fromregex", "memmap", "open_memmap", "recfromcsv",
      "recfromtxt", "DataSource", "npyio", "dump", "savefig"}
STRATEGY_BASES = {"Strategy", "SignalStrategy", "TrailingStrategy"}
FIELD = re.compile(r"\{([^{}!:]*)")


def is_dunder(name):
    return len(name) > 4 and name.startswith("__") and name.endswith("__")


class Checker(ast.NodeVisitor):
    def __init__(self):
        self.issues = []
        self.functions, self.classes, self.imports, self.indicators = [], [], [], []
        self.scope = []

    def add(self, node, rule, msg):
        self.issues.append((getattr(node, "lineno", 1), getattr(node, "col_offset", 0), rule, msg))

    def check_attr(self, node, name, receiver=None):
        name = unicodedata.normalize("NFKC", name)
        if is_dunder(name):
            self.add(node, "dunder-access", name)
        elif name in FRAME or name.startswith(FRAME_PREFIXES):
            self.add(node, "frame-access", name)
        elif name in ("format", "format_map") and not (
            isinstance(receiver, ast.Constant) and isinstance(receiver.value, str)
        ):
            self.add(node, "format-traversal", name)
        elif name in SYSTEM:
            self.add(node, "forbidden-attribute", name)
        elif name in IO or (name.startswith("read_") and len(name) > 5):
            self.add(node, "file-io", name)
        elif name in ("eval", "exec"):
            self.add(node, "forbidden-call", name)

    def visit_Import(self, node):
        for alias in node.names:
            self.imports.append(alias.name)
            self.check_module(node, alias.name)

    def visit_ImportFrom(self, node):
        if node.level:
            self.add(node, "import-not-allowed", "relative import")
            return
        self.imports.append(node.module)
        if not self.check_module(node, node.module):
            return
        for alias in node.names:
            if alias.name == "*":
                self.add(node, "star-import", node.module)
            elif alias.name in FORBIDDEN or alias.name in GUARDED:
                self.add(node, "forbidden-name", alias.name)
            else:
                self.check_attr(node, alias.name)

    def check_module(self, node, module):
        if module.split(".")[0] not in ALLOWED:
            self.add(node, "import-not-allowed", module)
            return False
        if any(module == d or module.startswith(d + ".") for d in DENIED):
            self.add(node, "import-not-allowed", module)
            return False
        return True

    def visit_Name(self, node):
        if isinstance(node.ctx, ast.Store):
            return
        if node.id in FORBIDDEN:
            self.add(node, "forbidden-name", node.id)
        elif node.id in GUARDED:
            self.add(node, "forbidden-name", node.id)
        elif is_dunder(node.id) and node.id not in ("__name__", "__doc__"):
            self.add(node, "dunder-access", node.id)

    def visit_Attribute(self, node):
        self.visit(node.value)
        self.check_attr(node, node.attr, node.value)

    def visit_Call(self, node):
        func = node.func
        if isinstance(func, ast.Name):
            if func.id in FORBIDDEN:
                self.add(node, "forbidden-call", func.id)
            elif func.id in ("getattr", "setattr", "delattr", "hasattr"):
                name = node.args[1] if len(node.args) > 1 else None
                if isinstance(name, ast.Constant) and isinstance(name.value, str):
                    self.check_attr(node, name.value)
                else:
                    self.add(node, "dynamic-attribute", func.id)
            elif func.id == "type" and len(node.args) + len(node.keywords) != 1:
                self.add(node, "forbidden-call", "type")
        else:
            self.visit(func)
            if (isinstance(func, ast.Attribute) and func.attr == "I"
                    and isinstance(func.value, ast.Name) and func.value.id == "self" and node.args):
                self.indicators.append(ast.unparse(node.args[0]))
        for arg in node.args:
            self.visit(arg)
        for kw in node.keywords:
            if kw.arg in ("filename", "path_or_buf", "buf", "open_browser"):
                self.add(node, "file-io", kw.arg)
            self.visit(kw.value)

    def visit_Constant(self, node):
        value = node.value
        if isinstance(value, str) and "{" in value:
            for field in FIELD.findall(value):
                for part in re.split(r"[.\[\]]", field)[1:]:
                    if is_dunder(part) or part in FRAME:
                        self.add(node, "format-traversal", field)
        elif isinstance(value, int) and not isinstance(value, bool) and value.bit_length() >= 333:
            self.add(node, "literal-too-large", "int")

    def visit_BinOp(self, node):
        self.generic_visit(node)
        if isinstance(node.op, (ast.Pow, ast.LShift)) and isinstance(node.right, ast.BinOp):
            self.add(node, "literal-too-large", "tower")

    def visit_FunctionDef(self, node):
        self.functions.append(".".join(self.scope + [node.name]))
        self.scope.append(node.name)
        self.generic_visit(node)
        self.scope.pop()

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_ClassDef(self, node):
        for kw in node.keywords:
            if kw.arg == "metaclass":
                self.add(node, "forbidden-name", "metaclass")
        self.classes.append(".".join(self.scope + [node.name]))
        self.scope.append(node.name)
        self.generic_visit(node)
        self.scope.pop()

    def visit_Global(self, node):
        self.add(node, "global-statement", "global")


def structure(tree, checker):
    strategies = []
    for node in tree.body:
        if isinstance(node, ast.ClassDef):
            for base in node.bases:
                name = base.id if isinstance(base, ast.Name) else getattr(base, "attr", None)
                if name in STRATEGY_BASES or name in [s.name for s in strategies]:
                    strategies.append(node)
                    break
        elif not isinstance(node, (ast.Import, ast.ImportFrom, ast.FunctionDef,
                                   ast.AsyncFunctionDef, ast.Assign, ast.AnnAssign, ast.Expr)):
            checker.add(node, "structure-top-level", type(node).__name__)
    if not strategies:
        checker.add(tree, "structure-strategy-count", "none")
        return
    lib_base = any(getattr(b, "id", getattr(b, "attr", None)) in ("SignalStrategy", "TrailingStrategy")
                   for s in strategies for b in s.bases)
    methods = {n.name for s in strategies for n in s.body if isinstance(n, ast.FunctionDef)}
    if lib_base:
        methods |= {"init", "next"}
    for required in ("init", "next"):
        if required not in methods:
            checker.add(strategies[-1], "structure-method", required)


def validate(code):
    if len(code) > 200 * 1024:
        return [(1, 0, "code-too-large", "bytes")], None
    try:
        tree = ast.parse(code, "<strategy>")
    except SyntaxError as e:
        return [(e.lineno or 1, e.offset or 0, "syntax", str(e))], None
    except (RecursionError, MemoryError, ValueError) as e:
        return [(1, 0, "nesting-too-deep", type(e).__name__)], None
    checker = Checker()
    checker.visit(tree)
    structure(tree, checker)
    meta = {
        "loc": sum(1 for l in code.splitlines() if l.strip() and not l.strip().startswith("#")),
        "functions": checker.functions,
        "classes": checker.classes,
        "imports": checker.imports,
        "indicators": checker.indicators,
    }
    return checker.issues, meta


def time_one(code, min_s, fn=validate, batch=20):
    for _ in range(batch):
        fn(code)
    batches = []
    start = time.perf_counter()
    while time.perf_counter() - start < min_s or len(batches) < 5:
        t = time.perf_counter()
        for _ in range(batch):
            fn(code)
        batches.append((time.perf_counter() - t) * 1e6 / batch)
    return statistics.median(batches)


def main(argv):
    min_ms, paths, fn = 300, [], validate
    args = iter(argv)
    for a in args:
        if a == "--parse-only":
            fn = ast.parse
        elif a == "--min-ms":
            min_ms = int(next(args, "300"))
        else:
            paths.append(a)
    if not paths:
        here = os.path.dirname(os.path.abspath(__file__))
        paths = [os.path.join(here, "..", "shared", "tests", "validator_corpus", "legit")]
    files = []
    for p in paths:
        if os.path.isdir(p):
            files += [os.path.join(p, f) for f in os.listdir(p) if f.endswith(".py")]
        else:
            files.append(p)
    files.sort()
    print(f"{'file':<32} {'lines':>6} {'bytes':>8} {'us/file':>12} {'us/200 lines':>14}")
    per_file, per_200, total_us, total_lines = [], [], 0.0, 0
    for path in files:
        with open(path, encoding="utf-8") as fh:
            code = fh.read()
        lines = max(1, len(code.splitlines()))
        us = time_one(code, min_ms / 1000, fn)
        norm = us * 200 / lines
        print(f"{os.path.basename(path):<32} {lines:>6} {len(code):>8} {us:>12.1f} {norm:>14.1f}")
        per_file.append(us)
        per_200.append(norm)
        total_us += us
        total_lines += lines
    print()
    print(f"files: {len(per_file)}")
    print(f"mean us/file: {statistics.mean(per_file):.1f}")
    print(f"median us/file: {statistics.median(per_file):.1f}")
    print(f"us per 200 lines (total time / total lines * 200): {total_us * 200 / total_lines:.1f}")
    print(f"median us per 200 lines: {statistics.median(per_200):.1f}")


if __name__ == "__main__":
    main(sys.argv[1:])
