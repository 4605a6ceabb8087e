//! Bounded capture of a container's stdout and stderr.
//!
//! Stdout carries the protocol line and is kept whole up to a cap; stderr carries the user's
//! prints and tracebacks and only its tail is kept, so a flood costs the worker no memory.

/// How much of stderr is kept for [`super::SandboxRun::stderr_tail`].
pub(crate) const STDERR_TAIL_BYTES: usize = 16 * 1024;
/// Stderr may run to this many times the stdout cap before the container is killed.
pub(crate) const STDERR_CEILING_FACTOR: usize = 16;

/// Which cap a chunk of output crossed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Overflow {
    /// Still within limits.
    None,
    /// Stdout passed its cap.
    Stdout,
    /// Stderr passed its ceiling.
    Stderr,
}

/// Output read so far, bounded.
#[derive(Debug)]
pub(crate) struct OutputCapture {
    stdout: Vec<u8>,
    stdout_cap: usize,
    stdout_total: usize,
    stderr_tail: Vec<u8>,
    stderr_ceiling: usize,
    stderr_total: usize,
}

impl OutputCapture {
    pub(crate) fn new(stdout_cap: usize) -> Self {
        Self {
            stdout: Vec::new(),
            stdout_cap,
            stdout_total: 0,
            stderr_tail: Vec::new(),
            stderr_ceiling: stdout_cap.saturating_mul(STDERR_CEILING_FACTOR),
            stderr_total: 0,
        }
    }

    /// Keeps stdout bytes up to the cap; says whether the cap is now exceeded.
    pub(crate) fn push_stdout(&mut self, bytes: &[u8]) -> Overflow {
        self.stdout_total = self.stdout_total.saturating_add(bytes.len());
        let room = self.stdout_cap.saturating_sub(self.stdout.len());
        self.stdout.extend_from_slice(&bytes[..bytes.len().min(room)]);
        if self.stdout_total > self.stdout_cap { Overflow::Stdout } else { Overflow::None }
    }

    /// Keeps the last [`STDERR_TAIL_BYTES`] of stderr; says whether the ceiling is exceeded.
    pub(crate) fn push_stderr(&mut self, bytes: &[u8]) -> Overflow {
        self.stderr_total = self.stderr_total.saturating_add(bytes.len());
        let bytes = &bytes[bytes.len().saturating_sub(STDERR_TAIL_BYTES)..];
        self.stderr_tail.extend_from_slice(bytes);
        // Trim only when twice the tail is buffered: amortised O(1) per byte.
        if self.stderr_tail.len() > 2 * STDERR_TAIL_BYTES {
            let excess = self.stderr_tail.len() - STDERR_TAIL_BYTES;
            self.stderr_tail.drain(..excess);
        }
        if self.stderr_total > self.stderr_ceiling { Overflow::Stderr } else { Overflow::None }
    }

    /// Whether any bytes were dropped (stdout past its cap or stderr past its ceiling).
    pub(crate) fn truncated(&self) -> bool {
        self.overflow() != Overflow::None
    }

    /// Which cap was passed (stdout first when both were).
    pub(crate) fn overflow(&self) -> Overflow {
        if self.stdout_total > self.stdout_cap {
            Overflow::Stdout
        } else if self.stderr_total > self.stderr_ceiling {
            Overflow::Stderr
        } else {
            Overflow::None
        }
    }

    /// The stderr ceiling in bytes.
    pub(crate) fn stderr_ceiling(&self) -> usize {
        self.stderr_ceiling
    }

    /// Stdout as kept (complete unless `truncated`).
    pub(crate) fn stdout(&self) -> &[u8] {
        &self.stdout
    }

    /// The last bytes of stderr, lossily decoded.
    pub(crate) fn stderr_tail(&self) -> String {
        let start = self.stderr_tail.len().saturating_sub(STDERR_TAIL_BYTES);
        String::from_utf8_lossy(&self.stderr_tail[start..]).into_owned()
    }

    /// Total bytes seen on stdout and stderr.
    pub(crate) fn totals(&self) -> (usize, usize) {
        (self.stdout_total, self.stderr_total)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stdout_is_kept_up_to_the_cap_and_overflow_is_reported() {
        let mut capture = OutputCapture::new(10);

        assert_eq!(capture.push_stdout(b"0123456"), Overflow::None);
        assert_eq!(capture.push_stdout(b"789abc"), Overflow::Stdout);

        assert_eq!(capture.stdout(), b"0123456789");
        assert!(capture.truncated());
        assert_eq!(capture.totals(), (13, 0));
    }

    #[test]
    fn only_the_tail_of_stderr_is_kept() {
        let mut capture = OutputCapture::new(1024 * 1024);
        for i in 0..10_000 {
            assert_eq!(capture.push_stderr(format!("line {i}\n").as_bytes()), Overflow::None);
        }

        let tail = capture.stderr_tail();

        assert!(tail.len() <= STDERR_TAIL_BYTES);
        assert!(tail.ends_with("line 9999\n"));
        assert!(!capture.truncated());
    }

    #[test]
    fn a_stderr_flood_passes_the_ceiling() {
        let mut capture = OutputCapture::new(4);
        assert_eq!(capture.push_stderr(&[b'x'; 64]), Overflow::None);
        assert_eq!(capture.push_stderr(b"y"), Overflow::Stderr);
        assert!(capture.truncated());
    }
}
