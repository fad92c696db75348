//! The fault-injecting proxy.
//!
//! Each client connection carries one request: the proxy reads its head and body, rewrites `Connection` to `close`,
//! and then decides, from its seeded generator, whether to pass it or which fault to inject. Because the upstream
//! answers `Connection: close` too, the client opens a new connection for its next request, so every request gets its
//! own decision without the proxy having to parse responses.

use std::io;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Which faults to inject, and how often. Every setter documents its default.
#[derive(Debug, Clone)]
pub struct Faults {
    fraction: f64,
    seed: u64,
    reset: bool,
    cut_after_bytes: Option<usize>,
    ack_loss: bool,
    statuses: Vec<u16>,
    retry_after_secs: u64,
    delay: Duration,
}

impl Default for Faults {
    fn default() -> Faults {
        Faults {
            fraction: 0.0,
            seed: 1,
            reset: false,
            cut_after_bytes: None,
            ack_loss: false,
            statuses: Vec::new(),
            retry_after_secs: 1,
            delay: Duration::ZERO,
        }
    }
}

impl Faults {
    /// No faults: a plain proxy (faults can be turned on later with [`FaultProxy::set_faults`]).
    pub fn none() -> Faults {
        Faults::default()
    }

    /// The share of requests that get one of the enabled faults. Default: 0.
    pub fn fraction(mut self, f: f64) -> Faults {
        self.fraction = f.clamp(0.0, 1.0);
        self
    }

    /// The generator's seed. Default: 1.
    pub fn seed(mut self, s: u64) -> Faults {
        self.seed = s;
        self
    }

    /// Reset the connection before the request reaches the server. Default: off.
    pub fn reset(mut self) -> Faults {
        self.reset = true;
        self
    }

    /// Cut the connection once `n` bytes have crossed it, request first, then response (a response cut means the
    /// server committed). Default: off.
    pub fn cut_after_bytes(mut self, n: usize) -> Faults {
        self.cut_after_bytes = Some(n);
        self
    }

    /// Forward the request, let the server answer, then reset the client's connection: the request committed but
    /// its acknowledgement is lost. Default: off.
    pub fn ack_loss(mut self) -> Faults {
        self.ack_loss = true;
        self
    }

    /// Answer with one of these statuses (429, 503, ...) without forwarding, with a `Retry-After`. Default: none.
    pub fn statuses(mut self, codes: &[u16]) -> Faults {
        self.statuses = codes.to_vec();
        self
    }

    /// The `Retry-After` of injected statuses, in seconds. Default: 1.
    pub fn retry_after_secs(mut self, s: u64) -> Faults {
        self.retry_after_secs = s;
        self
    }

    /// A delay before every request is forwarded or faulted. Default: none.
    pub fn delay(mut self, d: Duration) -> Faults {
        self.delay = d;
        self
    }

    fn kinds(&self) -> Vec<Fault> {
        let mut k = Vec::new();
        if self.reset {
            k.push(Fault::Reset);
        }
        if let Some(n) = self.cut_after_bytes {
            k.push(Fault::Cut(n));
        }
        if self.ack_loss {
            k.push(Fault::AckLoss);
        }
        k.extend(self.statuses.iter().map(|&c| Fault::Status(c)));
        k
    }
}

#[derive(Debug, Clone, Copy)]
enum Fault {
    Reset,
    Cut(usize),
    AckLoss,
    Status(u16),
}

/// What a proxy did, counted per request.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Requests read from clients.
    pub requests: u64,
    /// Requests passed to the server untouched.
    pub forwarded: u64,
    /// Connections reset before the request reached the server.
    pub resets: u64,
    /// Connections cut after the byte budget.
    pub cuts: u64,
    /// Requests the server answered whose answer the client never saw.
    pub ack_losses: u64,
    /// Requests answered by the proxy with an injected status.
    pub statuses: u64,
    /// Connections on which the upstream could not be reached.
    pub upstream_errors: u64,
}

#[derive(Default)]
struct Counters {
    requests: AtomicU64,
    forwarded: AtomicU64,
    resets: AtomicU64,
    cuts: AtomicU64,
    ack_losses: AtomicU64,
    statuses: AtomicU64,
    upstream_errors: AtomicU64,
}

struct Shared {
    target: u16,
    plan: Mutex<(Faults, fastrand::Rng)>,
    counters: Counters,
}

impl Shared {
    /// The fault for the next request, if any, and the delay to apply first.
    fn decide(&self) -> (Option<Fault>, Duration) {
        let mut g = self.plan.lock().unwrap_or_else(|e| e.into_inner());
        let (faults, rng) = &mut *g;
        let kinds = faults.kinds();
        let fault =
            if !kinds.is_empty() && rng.f64() < faults.fraction { Some(kinds[rng.usize(..kinds.len())]) } else { None };
        (fault, faults.delay)
    }

    fn retry_after(&self) -> u64 {
        self.plan.lock().unwrap_or_else(|e| e.into_inner()).0.retry_after_secs
    }
}

/// A running proxy; stops when dropped.
pub struct FaultProxy {
    /// The loopback port it listens on.
    pub port: u16,
    shared: Arc<Shared>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl std::fmt::Debug for FaultProxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FaultProxy").field("port", &self.port).field("target", &self.shared.target).finish()
    }
}

impl FaultProxy {
    /// Starts a proxy on a free loopback port in front of `127.0.0.1:target`.
    pub fn start(target: u16, faults: Faults) -> io::Result<FaultProxy> {
        FaultProxy::start_on(0, target, faults)
    }

    /// Starts a proxy on loopback port `listen` (0: any free port) in front of `127.0.0.1:target`.
    pub fn start_on(listen: u16, target: u16, faults: Faults) -> io::Result<FaultProxy> {
        let std_listener = std::net::TcpListener::bind(("127.0.0.1", listen))?;
        std_listener.set_nonblocking(true)?;
        let port = std_listener.local_addr()?.port();
        let rng = fastrand::Rng::with_seed(faults.seed);
        let shared = Arc::new(Shared { target, plan: Mutex::new((faults, rng)), counters: Counters::default() });
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel();
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        let sh = shared.clone();
        let thread = std::thread::Builder::new().name(format!("fault-proxy-{port}")).spawn(move || {
            rt.block_on(async move {
                let Ok(listener) = TcpListener::from_std(std_listener) else { return };
                let accept = async {
                    loop {
                        let Ok((client, _)) = listener.accept().await else { continue };
                        tokio::spawn(handle(client, sh.clone()));
                    }
                };
                tokio::select! {
                    _ = accept => {}
                    _ = stop_rx => {}
                }
            });
        })?;
        Ok(FaultProxy { port, shared, stop: Some(stop_tx), thread: Some(thread) })
    }

    /// Replaces the faults (the generator restarts from the new seed).
    pub fn set_faults(&self, faults: Faults) {
        let rng = fastrand::Rng::with_seed(faults.seed);
        *self.shared.plan.lock().unwrap_or_else(|e| e.into_inner()) = (faults, rng);
    }

    /// What the proxy has done so far.
    pub fn stats(&self) -> Stats {
        let c = &self.shared.counters;
        let g = |a: &AtomicU64| a.load(Ordering::Relaxed);
        Stats {
            requests: g(&c.requests),
            forwarded: g(&c.forwarded),
            resets: g(&c.resets),
            cuts: g(&c.cuts),
            ack_losses: g(&c.ack_losses),
            statuses: g(&c.statuses),
            upstream_errors: g(&c.upstream_errors),
        }
    }

    /// Stops the proxy and returns what it did.
    pub fn stop(mut self) -> Stats {
        self.shutdown();
        self.stats()
    }

    fn shutdown(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// The largest request head the proxy reads.
const MAX_HEAD_BYTES: usize = 64 * 1024;

async fn handle(mut client: TcpStream, sh: Arc<Shared>) {
    let Ok(Some(request)) = read_request(&mut client).await else { return };
    let c = &sh.counters;
    c.requests.fetch_add(1, Ordering::Relaxed);
    let (fault, delay) = sh.decide();
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    match fault {
        Some(Fault::Reset) => {
            c.resets.fetch_add(1, Ordering::Relaxed);
            reset(client);
        }
        Some(Fault::Status(code)) => {
            c.statuses.fetch_add(1, Ordering::Relaxed);
            let body = format!("{{\"error\":\"injected by the fault proxy\",\"status\":{code}}}");
            let head = format!(
                "HTTP/1.1 {code} Injected\r\nRetry-After: {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                sh.retry_after(),
                body.len()
            );
            let _ = client.write_all(head.as_bytes()).await;
            let _ = client.write_all(body.as_bytes()).await;
            let _ = client.shutdown().await;
        }
        Some(Fault::Cut(budget)) => {
            c.cuts.fetch_add(1, Ordering::Relaxed);
            let Some(mut up) = upstream(&sh).await else { return reset(client) };
            let n = budget.min(request.len());
            let _ = up.write_all(&request[..n]).await;
            if n == request.len() {
                // The whole request went through: cut the response after the rest of the budget.
                let mut left = budget - n;
                let mut buf = vec![0u8; 16 * 1024];
                while left > 0 {
                    match up.read(&mut buf).await {
                        Ok(0) | Err(_) => break,
                        Ok(k) => {
                            let k = k.min(left);
                            if client.write_all(&buf[..k]).await.is_err() {
                                break;
                            }
                            left -= k;
                        }
                    }
                }
            }
            reset(up);
            reset(client);
        }
        Some(Fault::AckLoss) => {
            c.ack_losses.fetch_add(1, Ordering::Relaxed);
            let Some(mut up) = upstream(&sh).await else { return reset(client) };
            if up.write_all(&request).await.is_ok() {
                // Wait for the server's whole answer: it has committed by then. Then the client never hears of it.
                let mut sink = Vec::new();
                let _ = up.read_to_end(&mut sink).await;
            }
            reset(client);
        }
        None => {
            c.forwarded.fetch_add(1, Ordering::Relaxed);
            let Some(mut up) = upstream(&sh).await else { return reset(client) };
            if up.write_all(&request).await.is_ok() {
                let _ = tokio::io::copy(&mut up, &mut client).await;
            }
            let _ = client.shutdown().await;
        }
    }
}

async fn upstream(sh: &Shared) -> Option<TcpStream> {
    match TcpStream::connect(("127.0.0.1", sh.target)).await {
        Ok(s) => Some(s),
        Err(_) => {
            sh.counters.upstream_errors.fetch_add(1, Ordering::Relaxed);
            None
        }
    }
}

/// Closes with a TCP reset (SO_LINGER 0), as a crashed peer or a middlebox does.
fn reset(s: TcpStream) {
    let _ = s.set_zero_linger();
    drop(s);
}

/// Reads one whole request and returns its bytes with `Connection: close`; `None` if the client closed first.
async fn read_request(client: &mut TcpStream) -> io::Result<Option<Vec<u8>>> {
    let mut buf = Vec::with_capacity(8 * 1024);
    let mut chunk = vec![0u8; 16 * 1024];
    let (head_len, body_len, head) = loop {
        let n = client.read(&mut chunk).await?;
        if n == 0 {
            return Ok(None);
        }
        buf.extend_from_slice(&chunk[..n]);
        let mut headers = [httparse::EMPTY_HEADER; 64];
        let mut req = httparse::Request::new(&mut headers);
        match req.parse(&buf) {
            Ok(httparse::Status::Complete(len)) => {
                let mut body_len = 0usize;
                let mut out =
                    format!("{} {} HTTP/1.1\r\n", req.method.unwrap_or("GET"), req.path.unwrap_or("/")).into_bytes();
                for h in req.headers.iter() {
                    if h.name.eq_ignore_ascii_case("connection") || h.name.eq_ignore_ascii_case("keep-alive") {
                        continue;
                    }
                    if h.name.eq_ignore_ascii_case("content-length") {
                        body_len = std::str::from_utf8(h.value)
                            .ok()
                            .and_then(|v| v.trim().parse().ok())
                            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "bad content-length"))?;
                    }
                    if h.name.eq_ignore_ascii_case("transfer-encoding") {
                        return Err(io::Error::new(io::ErrorKind::Unsupported, "chunked requests are not proxied"));
                    }
                    out.extend_from_slice(h.name.as_bytes());
                    out.extend_from_slice(b": ");
                    out.extend_from_slice(h.value);
                    out.extend_from_slice(b"\r\n");
                }
                out.extend_from_slice(b"Connection: close\r\n\r\n");
                break (len, body_len, out);
            }
            Ok(httparse::Status::Partial) if buf.len() < MAX_HEAD_BYTES => continue,
            _ => return Err(io::Error::new(io::ErrorKind::InvalidData, "not an HTTP/1.1 request")),
        }
    };
    let mut body = buf.split_off(head_len);
    while body.len() < body_len {
        let n = client.read(&mut chunk).await?;
        if n == 0 {
            return Ok(None);
        }
        body.extend_from_slice(&chunk[..n]);
    }
    body.truncate(body_len);
    let mut request = head;
    request.extend_from_slice(&body);
    Ok(Some(request))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};

    /// A tiny upstream that answers every request with `ok N` and counts what it received.
    fn upstream_server() -> (u16, Arc<AtomicU64>) {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = l.local_addr().expect("addr").port();
        let seen = Arc::new(AtomicU64::new(0));
        let s = seen.clone();
        std::thread::spawn(move || {
            for c in l.incoming() {
                let Ok(mut c) = c else { continue };
                let mut buf = [0u8; 4096];
                let mut got = Vec::new();
                while !got.windows(4).any(|w| w == b"\r\n\r\n") {
                    match c.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => got.extend_from_slice(&buf[..n]),
                    }
                }
                let n = s.fetch_add(1, Ordering::SeqCst) + 1;
                let body = format!("ok {n}");
                let _ =
                    write!(c, "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len());
            }
        });
        (port, seen)
    }

    fn get(port: u16) -> io::Result<String> {
        let mut s = std::net::TcpStream::connect(("127.0.0.1", port))?;
        s.write_all(b"GET /x HTTP/1.1\r\nHost: a\r\nConnection: keep-alive\r\n\r\n")?;
        let mut out = String::new();
        s.read_to_string(&mut out)?;
        Ok(out)
    }

    #[test]
    fn passes_requests_untouched_without_faults() {
        let (port, seen) = upstream_server();
        let p = FaultProxy::start(port, Faults::none()).expect("proxy");
        let a = get(p.port).expect("get");
        assert!(a.starts_with("HTTP/1.1 200") && a.ends_with("ok 1"), "{a}");
        assert_eq!(seen.load(Ordering::SeqCst), 1);
        assert_eq!(p.stop(), Stats { requests: 1, forwarded: 1, ..Stats::default() });
    }

    #[test]
    fn injected_statuses_never_reach_the_server_and_carry_retry_after() {
        let (port, seen) = upstream_server();
        let p = FaultProxy::start(port, Faults::none().statuses(&[429]).fraction(1.0).retry_after_secs(7)).expect("p");
        let a = get(p.port).expect("get");
        assert!(a.starts_with("HTTP/1.1 429") && a.contains("Retry-After: 7"), "{a}");
        assert_eq!(seen.load(Ordering::SeqCst), 0);
        assert_eq!(p.stop().statuses, 1);
    }

    #[test]
    fn a_lost_acknowledgement_reaches_the_server_but_not_the_client() {
        let (port, seen) = upstream_server();
        let p = FaultProxy::start(port, Faults::none().ack_loss().fraction(1.0)).expect("proxy");
        let r = get(p.port);
        assert!(r.as_ref().map_or(true, |s| s.is_empty()), "the client sees no answer: {r:?}");
        assert_eq!(seen.load(Ordering::SeqCst), 1, "the server did get the request");
        assert_eq!(p.stop().ack_losses, 1);
    }

    #[test]
    fn resets_happen_before_the_server_sees_the_request_and_the_fraction_is_seeded() {
        let (port, seen) = upstream_server();
        let p = FaultProxy::start(port, Faults::none().reset().fraction(0.5).seed(3)).expect("proxy");
        let ok = (0..40).filter(|_| get(p.port).is_ok_and(|s| s.starts_with("HTTP/1.1 200"))).count() as u64;
        let st = p.stop();
        assert_eq!(st.requests, 40);
        assert_eq!(st.resets + st.forwarded, 40);
        assert!(st.resets > 5 && st.forwarded > 5, "{st:?}");
        assert_eq!(ok, st.forwarded);
        assert_eq!(seen.load(Ordering::SeqCst), st.forwarded);
    }
}
