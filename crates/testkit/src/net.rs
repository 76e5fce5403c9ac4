//! Raw TCP for tests of connection handling: a port that never answers, and waiting for a
//! server to close a connection.

use std::time::Duration;

use tokio::io::AsyncReadExt;
use tokio::net::{TcpListener, TcpStream};

/// A port that accepts connections and never answers; its URL and the task holding them.
pub async fn black_hole() -> (String, tokio::task::JoinHandle<()>) {
    let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}", l.local_addr().expect("address"));
    let task = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((sock, _)) = l.accept().await {
            held.push(sock);
        }
    });
    (url, task)
}

/// Waits until the server closes `stream` (end of file or a reset), or panics naming `what`.
pub async fn closed_by_server(stream: &mut TcpStream, within: Duration, what: &str) {
    let mut buf = [0u8; 1024];
    let outcome = tokio::time::timeout(within, async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await;
    assert!(outcome.is_ok(), "{what}: still open after {within:?}");
}

/// An address of this machine other than loopback, if it has one: calls to it come from a
/// peer that is not loopback, for tests of what answers loopback clients only.
pub fn outward_address() -> Option<std::net::IpAddr> {
    let socket = std::net::UdpSocket::bind("0.0.0.0:0").ok()?;
    // Connecting a UDP socket sends nothing: it picks the route, and so the local address.
    socket.connect("192.0.2.1:9").ok()?;
    let ip = socket.local_addr().ok()?.ip();
    (!ip.is_loopback() && !ip.is_unspecified()).then_some(ip)
}
