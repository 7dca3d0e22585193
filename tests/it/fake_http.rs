//! A minimal HTTP/1.1 server on loopback for stand-ins that must misbehave
//! in ways wiremock cannot (echo the raw request head, answer from a
//! closure that sees every request): one request per connection, every
//! request recorded.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// One request as a fake server saw it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub head: String,
    pub body: String,
}

pub type Respond =
    dyn Fn(usize, &Seen) -> (u16, &'static str, Vec<(String, String)>, String) + Send + Sync;

/// A minimal HTTP/1.1 server on loopback (one request per connection):
/// records each request and answers with `respond(index, request)`.
pub fn http_server(respond: Arc<Respond>) -> (SocketAddr, Arc<Mutex<Vec<Seen>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let (respond, log) = (respond.clone(), log.clone());
            std::thread::spawn(move || {
                let _ = handle(stream, &*respond, &log);
            });
        }
    });
    (addr, seen)
}

fn handle(stream: TcpStream, respond: &Respond, log: &Mutex<Vec<Seen>>) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut head = String::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return Ok(());
        }
        head.push_str(&line);
        if line == "\r\n" {
            break;
        }
    }
    let len = head
        .lines()
        .find_map(|l| {
            let (n, v) = l.split_once(':')?;
            n.eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse::<usize>().ok())?
        })
        .unwrap_or(0);
    let mut body = vec![0u8; len];
    reader.read_exact(&mut body)?;
    let request = Seen {
        head,
        body: String::from_utf8_lossy(&body).into_owned(),
    };
    let index = {
        let mut l = log.lock().expect("lock");
        l.push(request.clone());
        l.len()
    };
    let (status, content_type, headers, text) = respond(index, &request);
    let mut out = format!(
        "HTTP/1.1 {status} X\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n",
        text.len()
    );
    for (n, v) in headers {
        out.push_str(&format!("{n}: {v}\r\n"));
    }
    out.push_str("\r\n");
    out.push_str(&text);
    let mut stream = stream;
    stream.write_all(out.as_bytes())?;
    stream.flush()
}

pub fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines().find_map(|l| {
        let (n, v) = l.split_once(':')?;
        n.trim().eq_ignore_ascii_case(name).then(|| v.trim())
    })
}
