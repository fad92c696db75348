//! [`RoundRobin`]: a TCP load balancer on loopback, in process, in front of server replicas. Each connection goes to
//! the next replica in turn; a replica that refuses the connection is skipped, as a proxy's health check would.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// A round-robin balancer; stops when dropped.
#[derive(Debug)]
pub struct RoundRobin {
    addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    /// Connections handed to each replica.
    pub counts: Arc<Vec<AtomicUsize>>,
}

impl RoundRobin {
    /// Listens on a free loopback port in front of `upstreams` (`127.0.0.1:PORT` each), on a thread of its own.
    pub fn start(upstreams: Vec<SocketAddr>) -> std::io::Result<RoundRobin> {
        let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let counts: Arc<Vec<AtomicUsize>> = Arc::new(upstreams.iter().map(|_| AtomicUsize::new(0)).collect());
        let (tx, mut rx) = tokio::sync::oneshot::channel::<()>();
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
        let c = counts.clone();
        std::thread::Builder::new().name("round-robin".into()).spawn(move || {
            rt.block_on(async move {
                let Ok(listener) = tokio::net::TcpListener::from_std(listener) else { return };
                let next = Arc::new(AtomicUsize::new(0));
                let ups = Arc::new(upstreams);
                loop {
                    let (mut down, _) = tokio::select! {
                        _ = &mut rx => return,
                        a = listener.accept() => match a { Ok(a) => a, Err(_) => continue },
                    };
                    let (ups, next, c) = (ups.clone(), next.clone(), c.clone());
                    tokio::spawn(async move {
                        for _ in 0..ups.len() {
                            let i = next.fetch_add(1, Ordering::Relaxed) % ups.len();
                            if let Ok(mut up) = tokio::net::TcpStream::connect(ups[i]).await {
                                c[i].fetch_add(1, Ordering::Relaxed);
                                let _ = tokio::io::copy_bidirectional(&mut down, &mut up).await;
                                return;
                            }
                        }
                    });
                }
            });
        })?;
        Ok(RoundRobin { addr, stop: Some(tx), counts })
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for RoundRobin {
    fn drop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
    }
}
