//! The plaintext leg of a STARTTLS conversation. It hands lettre one reply
//! line per read, so nothing the server sent past its STARTTLS reply can sit
//! in lettre's buffer above TLS and be read later as if it came encrypted
//! (a man in the middle injecting replies). Such bytes stay here, and the
//! first TLS write refuses to start the handshake over them. Once TLS has
//! begun, bytes pass straight through.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

/// What the TLS handshake fails with when the server had sent more than
/// its STARTTLS reply.
#[derive(Debug, thiserror::Error)]
#[error("unexpected data after the STARTTLS reply (a reply injected before TLS?)")]
pub struct UnaskedData;

/// A TLS record of type handshake (a ClientHello) starts with this byte;
/// no SMTP command does.
const TLS_HANDSHAKE: u8 = 0x16;

#[derive(Debug)]
pub struct StartTlsStream {
    tcp: TcpStream,
    /// Read from the socket, not yet handed up.
    pending: Vec<u8>,
    tls_started: bool,
}

impl StartTlsStream {
    pub fn new(tcp: TcpStream) -> Self {
        StartTlsStream {
            tcp,
            pending: Vec::new(),
            tls_started: false,
        }
    }
}

impl lettre::transport::smtp::client::AsyncTokioStream for StartTlsStream {
    fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.tcp.peer_addr()
    }
}

impl AsyncRead for StartTlsStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.pending.is_empty() {
            if this.tls_started {
                return Pin::new(&mut this.tcp).poll_read(cx, buf);
            }
            let mut chunk = [0u8; 1024];
            let mut read = ReadBuf::new(&mut chunk);
            ready!(Pin::new(&mut this.tcp).poll_read(cx, &mut read))?;
            this.pending.extend_from_slice(read.filled());
        }
        let line_end = if this.tls_started {
            this.pending.len()
        } else {
            this.pending
                .iter()
                .position(|&b| b == b'\n')
                .map_or(this.pending.len(), |i| i + 1)
        };
        let n = line_end.min(buf.remaining());
        buf.put_slice(&this.pending[..n]);
        this.pending.drain(..n);
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for StartTlsStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if !this.tls_started && data.first() == Some(&TLS_HANDSHAKE) {
            if !this.pending.is_empty() {
                return Poll::Ready(Err(io::Error::new(io::ErrorKind::InvalidData, UnaskedData)));
            }
            this.tls_started = true;
        }
        Pin::new(&mut this.tcp).poll_write(cx, data)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().tcp).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().tcp).poll_shutdown(cx)
    }
}
