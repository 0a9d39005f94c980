//! `attio-auth healthcheck`: asks a running service's `/readyz` and exits 0 when it answers
//! 200. The container image has no curl, so its `HEALTHCHECK` runs this (plain HTTP/1.1
//! over a socket, no runtime, no dependency).

use std::io::{Read as _, Write as _};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream};
use std::process::ExitCode;
use std::time::Duration;

use clap::Args;

/// Arguments of `healthcheck`.
#[derive(Debug, Args)]
pub struct HealthcheckArgs {
    /// The service's address; an unspecified IP (`0.0.0.0`, `::`) is asked on loopback.
    #[arg(
        long,
        value_name = "ADDR",
        env = "BIND_ADDR",
        default_value = "127.0.0.1:8080"
    )]
    addr: SocketAddr,
    /// The path asked.
    #[arg(long, value_name = "PATH", default_value = "/readyz")]
    path: String,
    /// Connect, write and read timeout.
    #[arg(long, value_name = "SECS", default_value_t = 5)]
    timeout_secs: u64,
}

/// Runs `healthcheck`: exit 0 on a 200, 1 otherwise (reason on stderr).
pub fn run(args: HealthcheckArgs) -> ExitCode {
    let mut addr = args.addr;
    if addr.ip().is_unspecified() {
        addr.set_ip(if addr.is_ipv4() {
            Ipv4Addr::LOCALHOST.into()
        } else {
            Ipv6Addr::LOCALHOST.into()
        });
    }
    let timeout = Duration::from_secs(args.timeout_secs.max(1));
    match status(addr, &args.path, timeout) {
        Ok(200) => ExitCode::SUCCESS,
        Ok(code) => {
            eprintln!("attio-auth healthcheck: {} answered {code}", args.path);
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("attio-auth healthcheck: {addr}: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The status code of `GET path` at `addr`.
fn status(addr: SocketAddr, path: &str, timeout: Duration) -> std::io::Result<u16> {
    let mut stream = TcpStream::connect_timeout(&addr, timeout)?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )?;
    let mut head = Vec::new();
    let mut buf = [0u8; 256];
    while !head.contains(&b'\n') && head.len() < 4096 {
        let n = stream.read(&mut buf)?;
        if n == 0 {
            break;
        }
        head.extend_from_slice(&buf[..n]);
    }
    // `HTTP/1.1 200 OK`
    String::from_utf8_lossy(&head)
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| std::io::Error::other("not an HTTP answer"))
}
