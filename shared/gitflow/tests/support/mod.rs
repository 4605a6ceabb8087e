//! A git smart-HTTP server for tests: `git http-backend` (the CGI program every git
//! installation ships) behind a minimal HTTP/1.1 server on 127.0.0.1, port 0, that demands
//! HTTP Basic authentication with a given password (the token), like a hosted git server.
//! One thread per connection, `Connection: close` on every response.
#![allow(clippy::unwrap_used, dead_code)] // Test support: fail loudly.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread::JoinHandle;

/// A running server; stopped on drop.
pub struct GitHttpServer {
    /// `http://127.0.0.1:<port>`.
    pub base_url: String,
    /// Requests answered 401.
    pub refused: Arc<AtomicUsize>,
    /// Requests passed to git http-backend.
    pub served: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    port: u16,
    accept: Option<JoinHandle<()>>,
}

impl GitHttpServer {
    /// Serves the repositories under `root` to clients sending `token` as the Basic password.
    pub fn start(root: &Path, token: &str) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let stop = Arc::new(AtomicBool::new(false));
        let refused = Arc::new(AtomicUsize::new(0));
        let served = Arc::new(AtomicUsize::new(0));
        let root = root.to_path_buf();
        let token = token.to_owned();
        let accept = {
            let (stop, refused, served) = (Arc::clone(&stop), Arc::clone(&refused), Arc::clone(&served));
            std::thread::spawn(move || {
                for stream in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(stream) = stream else { continue };
                    let (root, token) = (root.clone(), token.clone());
                    let (refused, served) = (Arc::clone(&refused), Arc::clone(&served));
                    std::thread::spawn(move || {
                        if let Err(e) = handle(stream, &root, &token, &refused, &served) {
                            eprintln!("test git server: {e}");
                        }
                    });
                }
            })
        };
        Self {
            base_url: format!("http://127.0.0.1:{port}"),
            refused,
            served,
            stop,
            port,
            accept: Some(accept),
        }
    }
}

impl Drop for GitHttpServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so it sees the flag.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        if let Some(accept) = self.accept.take() {
            let _ = accept.join();
        }
    }
}

fn handle(
    stream: TcpStream,
    root: &Path,
    token: &str,
    refused: &AtomicUsize,
    served: &AtomicUsize,
) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut request_line = String::new();
    if reader.read_line(&mut request_line)? == 0 {
        return Ok(());
    }
    let mut parts = request_line.split_whitespace();
    let method = parts.next().unwrap_or("").to_owned();
    let target = parts.next().unwrap_or("/").to_owned();
    let mut headers = HashMap::new();
    loop {
        let mut line = String::new();
        reader.read_line(&mut line)?;
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            headers.insert(name.trim().to_ascii_lowercase(), value.trim().to_owned());
        }
    }
    let mut out = stream;
    let user = headers.get("authorization").and_then(|h| basic_user(h, token));
    let Some(user) = user else {
        refused.fetch_add(1, Ordering::SeqCst);
        let body = "authentication required\n";
        write!(
            out,
            "HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Basic realm=\"strategies\"\r\n\
             Content-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )?;
        return out.shutdown(Shutdown::Both);
    };
    if headers.get("expect").is_some_and(|e| e.eq_ignore_ascii_case("100-continue")) {
        out.write_all(b"HTTP/1.1 100 Continue\r\n\r\n")?;
    }
    let body = read_body(&mut reader, &headers)?;
    served.fetch_add(1, Ordering::SeqCst);
    let (path, query) = target.split_once('?').unwrap_or((&target, ""));
    let mut cgi = Command::new("git");
    cgi.arg("http-backend")
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("GIT_PROJECT_ROOT", root)
        .env("GIT_HTTP_EXPORT_ALL", "1")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("REQUEST_METHOD", &method)
        .env("PATH_INFO", path)
        .env("QUERY_STRING", query)
        .env("CONTENT_LENGTH", body.len().to_string())
        .env("REMOTE_USER", &user)
        .env("REMOTE_ADDR", "127.0.0.1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    for (header, var) in [
        ("content-type", "CONTENT_TYPE"),
        ("content-encoding", "HTTP_CONTENT_ENCODING"),
        ("git-protocol", "HTTP_GIT_PROTOCOL"),
    ] {
        if let Some(value) = headers.get(header) {
            cgi.env(var, value);
        }
    }
    let mut child = cgi.spawn()?;
    let mut stdin = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&body);
    });
    let mut output = Vec::new();
    child.stdout.take().unwrap().read_to_end(&mut output)?;
    child.wait()?;
    let _ = writer.join();

    // CGI output: headers (`Status:` among them), a blank line, the body.
    let split = find(&output, b"\r\n\r\n").map(|i| (i, 4)).or_else(|| find(&output, b"\n\n").map(|i| (i, 2)));
    let (head, body) = match split {
        Some((i, n)) => (String::from_utf8_lossy(&output[..i]).into_owned(), &output[i + n..]),
        None => (String::new(), &output[..]),
    };
    let mut status = "200 OK".to_owned();
    let mut response = String::new();
    for line in head.lines() {
        match line.split_once(':') {
            Some((name, value)) if name.eq_ignore_ascii_case("status") => status = value.trim().to_owned(),
            Some(_) => {
                response.push_str(line.trim_end());
                response.push_str("\r\n");
            }
            None => {}
        }
    }
    write!(
        out,
        "HTTP/1.1 {status}\r\n{response}Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )?;
    out.write_all(body)?;
    out.flush()?;
    out.shutdown(Shutdown::Both)
}

/// The user name when `header` is `Basic base64(user:token)`.
fn basic_user(header: &str, token: &str) -> Option<String> {
    let encoded = header.strip_prefix("Basic ")?;
    let decoded = String::from_utf8(decode_base64(encoded.trim())?).ok()?;
    let (user, password) = decoded.split_once(':')?;
    (password == token).then(|| user.to_owned())
}

fn read_body(
    reader: &mut BufReader<TcpStream>,
    headers: &HashMap<String, String>,
) -> std::io::Result<Vec<u8>> {
    let mut body = Vec::new();
    if headers.get("transfer-encoding").is_some_and(|t| t.eq_ignore_ascii_case("chunked")) {
        loop {
            let mut size = String::new();
            reader.read_line(&mut size)?;
            let size = usize::from_str_radix(size.trim().split(';').next().unwrap_or("0"), 16).unwrap_or(0);
            let mut chunk = vec![0; size + 2]; // the chunk and its CRLF
            reader.read_exact(&mut chunk)?;
            if size == 0 {
                break;
            }
            body.extend_from_slice(&chunk[..size]);
        }
    } else if let Some(length) = headers.get("content-length").and_then(|l| l.parse::<usize>().ok()) {
        body.resize(length, 0);
        reader.read_exact(&mut body)?;
    }
    Ok(body)
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn decode_base64(text: &str) -> Option<Vec<u8>> {
    let value = |c: u8| -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        } as u32)
    };
    let bytes: Vec<u8> = text.bytes().filter(|&c| c != b'=').collect();
    let mut out = Vec::new();
    for chunk in bytes.chunks(4) {
        let mut n = 0u32;
        for (i, &c) in chunk.iter().enumerate() {
            n |= value(c)? << (18 - 6 * i);
        }
        let produced = chunk.len().saturating_sub(1);
        for i in 0..produced {
            out.push((n >> (16 - 8 * i)) as u8);
        }
    }
    Some(out)
}

/// Creates an empty bare repository `name` under `root` whose HEAD is `main`.
pub fn init_bare(root: &Path, name: &str) -> PathBuf {
    let path = root.join(name);
    let mut options = git2::RepositoryInitOptions::new();
    options.bare(true).initial_head("main");
    git2::Repository::init_opts(&path, &options).unwrap();
    path
}
