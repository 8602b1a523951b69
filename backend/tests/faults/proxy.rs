//! A TCP proxy in front of the shared PostgreSQL server that a test owns: it can add latency
//! to every chunk, and it can go down (every connection cut, new ones refused) and come back
//! on the same port, so a test can take "the database" away without touching the server that
//! the other tests use.

use std::{
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::Duration,
};

use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpSocket, TcpStream},
    task::JoinHandle,
};

pub struct Proxy {
    address: SocketAddr,
    upstream: SocketAddr,
    latency: Duration,
    /// The accept loop and every connection's pumps, while up.
    tasks: Arc<Mutex<Vec<JoinHandle<()>>>>,
}

impl Proxy {
    /// A proxy on a free loopback port forwarding to `upstream`, delaying each chunk by
    /// `latency` in both directions.
    pub async fn start(upstream: SocketAddr, latency: Duration) -> Self {
        let listener = bind("127.0.0.1:0".parse().unwrap());
        let mut proxy = Self {
            address: listener.local_addr().unwrap(),
            upstream,
            latency,
            tasks: Arc::default(),
        };
        proxy.serve(listener);
        proxy
    }

    pub fn port(&self) -> u16 {
        self.address.port()
    }

    /// Goes down: the port stops listening (connections are refused) and every open
    /// connection is cut. Returns once the sockets are closed.
    pub async fn stop(&mut self) {
        let tasks: Vec<_> = self.tasks.lock().unwrap().drain(..).collect();
        for task in tasks {
            task.abort();
            let _ = task.await;
        }
    }

    /// Comes back on the same port.
    pub fn restart(&mut self) {
        let listener = bind(self.address);
        self.serve(listener);
    }

    fn serve(&mut self, listener: TcpListener) {
        let (upstream, latency, tasks) = (self.upstream, self.latency, self.tasks.clone());
        let accept = tokio::spawn(async move {
            loop {
                let Ok((client, _)) = listener.accept().await else {
                    continue;
                };
                let Ok(server) = TcpStream::connect(upstream).await else {
                    continue;
                };
                let _ = (client.set_nodelay(true), server.set_nodelay(true));
                let (client_read, client_write) = client.into_split();
                let (server_read, server_write) = server.into_split();
                let mut tasks = tasks.lock().unwrap();
                tasks.push(tokio::spawn(pump(client_read, server_write, latency)));
                tasks.push(tokio::spawn(pump(server_read, client_write, latency)));
            }
        });
        self.tasks.lock().unwrap().push(accept);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        for task in self.tasks.lock().unwrap().drain(..) {
            task.abort();
        }
    }
}

/// A listener with `SO_REUSEADDR`, so the proxy can come back on its port at once.
fn bind(address: SocketAddr) -> TcpListener {
    let socket = TcpSocket::new_v4().unwrap();
    socket.set_reuseaddr(true).unwrap();
    socket.bind(address).unwrap();
    socket.listen(1024).unwrap()
}

async fn pump(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    latency: Duration,
) {
    let mut buffer = vec![0u8; 64 * 1024];
    loop {
        let n = match from.read(&mut buffer).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        if !latency.is_zero() {
            tokio::time::sleep(latency).await;
        }
        if to.write_all(&buffer[..n]).await.is_err() {
            return;
        }
    }
}
