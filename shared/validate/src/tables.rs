//! The name lists behind the safety rules: the import allowlist, denied submodules,
//! forbidden builtins, attributes that reach the operating system, frame internals and the
//! pandas/numpy file and network functions.
//!
//! Every lookup takes an identifier that is already NFKC-normalised, as Python compares
//! identifiers after normalisation.

/// Top-level modules a strategy may import (their submodules too, minus [`denied_module`]).
pub fn allowed_top_module(top: &str) -> bool {
    matches!(
        top,
        "backtesting"
            | "pandas"
            | "numpy"
            | "math"
            | "statistics"
            | "datetime"
            | "typing"
            | "dataclasses"
            | "functools"
            | "itertools"
            | "collections"
            | "enum"
            | "decimal"
            | "fractions"
            // Only changes how annotations are compiled; every annotation is checked anyway.
            | "__future__"
    )
}

/// Submodules of allowed packages that do file/network I/O, load native code or compile.
/// `module` is the full dotted path; a path that starts with a denied one is denied.
pub fn denied_module(module: &str) -> Option<&'static str> {
    const DENIED: &[&str] = &[
        "numpy.ctypeslib",
        "numpy.f2py",
        "numpy.distutils",
        "numpy.testing",
        "numpy.lib.format",
        "numpy.lib.npyio",
        "numpy.lib.utils",
        "pandas.io",
        "pandas.testing",
        "pandas.util",
        "pandas.compat",
        "pandas.plotting",
        "pandas.core.computation",
    ];
    DENIED
        .iter()
        .copied()
        .find(|d| module == *d || module.strip_prefix(d).is_some_and(|rest| rest.starts_with('.')))
}

/// Builtins whose every use is refused: calling them is `forbidden-call`, any other
/// reference (aliasing, passing them around) is `forbidden-name`.
pub fn forbidden_builtin(name: &str) -> bool {
    matches!(
        name,
        "eval"
            | "exec"
            | "compile"
            | "open"
            | "input"
            | "breakpoint"
            | "globals"
            | "locals"
            | "vars"
            | "__import__"
            | "memoryview"
            | "exit"
            | "quit"
            | "help"
            | "copyright"
            | "credits"
            | "license"
            | "__builtins__"
            | "__loader__"
            | "__spec__"
    )
}

/// Builtins that are fine to call in a checked way but must not be aliased or passed around,
/// because the check is on the call's arguments.
pub fn guarded_builtin(name: &str) -> bool {
    matches!(name, "getattr" | "setattr" | "delattr" | "hasattr" | "type")
}

/// Dunder names that may be referenced (read) as plain names.
pub fn dunder_name_allowed(name: &str) -> bool {
    matches!(name, "__name__" | "__doc__" | "__debug__")
}

/// Dunder names that may be assigned at module or class level.
pub fn dunder_store_allowed(name: &str) -> bool {
    matches!(name, "__all__" | "__slots__" | "__version__" | "__author__" | "__doc__")
}

/// `__x__` with at least one character between the underscores.
pub fn is_dunder(name: &str) -> bool {
    name.len() > 4 && name.starts_with("__") && name.ends_with("__")
}

/// Frame, traceback, generator, coroutine, async-generator and code-object internals.
pub fn frame_attribute(name: &str) -> bool {
    if matches!(
        name,
        "f_globals"
            | "f_locals"
            | "f_back"
            | "f_builtins"
            | "f_code"
            | "f_trace"
            | "f_trace_lines"
            | "f_trace_opcodes"
            | "f_lasti"
            | "f_lineno"
            | "func_globals"
            | "func_code"
            | "func_closure"
            | "cell_contents"
            | "mro"
    ) {
        return true;
    }
    // `gi_*`, `cr_*`, `ag_*`, `tb_*`, `co_*` with something after the underscore.
    let b = name.as_bytes();
    b.len() > 3 && b[2] == b'_' && matches!(&b[..2], b"gi" | b"cr" | b"ag" | b"tb" | b"co")
}

/// Attributes that lead to system modules or process control, whatever the receiver
/// (`pd.io.common.os.system`, `np.ctypeslib.load_library`, ...).
pub fn system_attribute(name: &str) -> bool {
    matches!(
        name,
        "os" | "sys"
            | "subprocess"
            | "builtins"
            | "importlib"
            | "import_module"
            | "shutil"
            | "socket"
            | "ctypes"
            | "ctypeslib"
            | "load_library"
            | "f2py"
            | "distutils"
            | "pickle"
            | "marshal"
            | "pathlib"
            | "tempfile"
            | "glob"
            | "urllib"
            | "http"
            | "multiprocessing"
            | "threading"
            | "inspect"
            | "gc"
            | "runpy"
            | "posix"
            | "system"
            | "popen"
            | "spawn"
            | "execv"
            | "execve"
            | "fork"
            | "kill"
            | "compat"
            | "testing"
            | "set_option"
            | "option_context"
            | "_plotting"
            | "output_file"
            | "set_bokeh_output"
            | "get_type_hints"
            | "_eval_type"
            | "_evaluate"
            | "_type_check"
            | "_type_convert"
            | "ForwardRef"
            | "evaluate_forward_ref"
    )
}

/// pandas/numpy (and matplotlib-through-pandas) names that read or write files or reach the
/// network. Matched on the attribute name whatever the receiver, and on names imported with
/// `from ... import`.
pub fn io_attribute(name: &str) -> bool {
    if let Some(rest) = name.strip_prefix("read_") {
        return !rest.is_empty();
    }
    matches!(
        name,
        // DataFrame / Series writers.
        "to_csv"
            | "to_pickle"
            | "to_parquet"
            | "to_sql"
            | "to_excel"
            | "to_json"
            | "to_hdf"
            | "to_feather"
            | "to_stata"
            | "to_html"
            | "to_latex"
            | "to_markdown"
            | "to_xml"
            | "to_orc"
            | "to_clipboard"
            | "to_gbq"
            // pandas classes that open files.
            | "io"
            | "HDFStore"
            | "ExcelWriter"
            | "ExcelFile"
            | "ODFReader"
            // numpy readers and writers.
            | "load"
            | "save"
            | "savez"
            | "savez_compressed"
            | "savetxt"
            | "loadtxt"
            | "genfromtxt"
            | "fromfile"
            | "tofile"
            | "fromregex"
            | "memmap"
            | "open_memmap"
            | "recfromcsv"
            | "recfromtxt"
            | "DataSource"
            | "npyio"
            | "dump"
            // Figures reached through DataFrame.plot().
            | "savefig"
    )
}

/// Keyword arguments that name an output file (`bt.plot(filename=...)`, `df.to_string(buf=...)`).
pub fn io_keyword(name: &str) -> bool {
    matches!(name, "filename" | "path_or_buf" | "buf" | "open_browser")
}
