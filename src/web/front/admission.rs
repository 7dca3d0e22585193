//! Who gets a connection: the limits overall and per client address, and
//! at a limit the eviction of the connection that has waited longest
//! without a complete request (slow or idle clients never lock newcomers
//! out); only when every connection is busy is a newcomer refused (503).
//! A [`Slot`] holds one admitted connection's place until it is dropped.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use tokio::sync::Notify;

use super::Shared;
use crate::web::request_head::Refusal;

/// Open connections, and which of them may be closed to make room.
#[derive(Default)]
pub(super) struct Conns {
    pub(super) open: usize,
    per_client: HashMap<IpAddr, usize>,
    /// Connections waiting for (the rest of) a request, oldest first.
    waiting: BTreeMap<u64, (IpAddr, Arc<Eviction>)>,
    next: u64,
}

/// How a connection learns that it was closed to make room.
#[derive(Default)]
pub(super) struct Eviction {
    pub(super) notify: Notify,
    /// Set (under the `Conns` lock) when its place was given away.
    done: std::sync::atomic::AtomicBool,
}

impl Conns {
    /// Gives the place of the connection (of `ip`, or any) that has waited
    /// longest to a newcomer: its counts are released now, and it closes
    /// when its task next runs.
    fn evict_oldest(&mut self, ip: Option<IpAddr>) -> bool {
        let key = self
            .waiting
            .iter()
            .find(|(_, (owner, _))| ip.is_none_or(|ip| *owner == ip))
            .map(|(k, _)| *k);
        match key.and_then(|k| self.waiting.remove(&k)) {
            Some((owner, eviction)) => {
                eviction.done.store(true, Ordering::Relaxed);
                self.release(owner);
                eviction.notify.notify_one();
                true
            }
            None => false,
        }
    }

    fn release(&mut self, ip: IpAddr) {
        self.open = self.open.saturating_sub(1);
        if let Some(n) = self.per_client.get_mut(&ip) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                self.per_client.remove(&ip);
            }
        }
    }
}

/// One admitted connection's place in [`Conns`]; released on drop (or
/// when it is evicted).
pub(super) struct Slot {
    shared: Arc<Shared>,
    ip: IpAddr,
    key: Option<u64>,
    pub(super) evict: Arc<Eviction>,
}

impl Slot {
    fn lock(&self) -> std::sync::MutexGuard<'_, Conns> {
        self.shared.conns.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Waiting for a request: may be evicted, oldest first.
    pub(super) fn waiting(&mut self) {
        let mut c = self.shared.conns.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(k) = self.key.take() {
            c.waiting.remove(&k);
        }
        c.next += 1;
        let k = c.next;
        c.waiting.insert(k, (self.ip, self.evict.clone()));
        self.key = Some(k);
    }

    /// Working on a request: not evicted.
    pub(super) fn busy(&mut self) {
        if let Some(k) = self.key.take() {
            self.lock().waiting.remove(&k);
        }
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut c = self.shared.conns.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(k) = self.key.take() {
            c.waiting.remove(&k);
        }
        if !self.evict.done.load(Ordering::Relaxed) {
            c.release(self.ip);
        }
        self.shared
            .registry
            .connections_open
            .store(c.open as u64, Ordering::Relaxed);
        if c.open == 0 {
            self.shared.all_closed.notify_waiters();
        }
    }
}

/// Takes a place for a new connection from `ip`, closing the longest
/// waiting connection (of that client, or any) when a limit is reached.
pub(super) fn admit(shared: &Arc<Shared>, ip: IpAddr) -> Result<Slot, Refusal> {
    let limits = &shared.limits;
    let mut c = shared.conns.lock().unwrap_or_else(|p| p.into_inner());
    let mine = c.per_client.get(&ip).copied().unwrap_or(0);
    if mine >= limits.max_connections_per_client {
        if !c.evict_oldest(Some(ip)) {
            return Err(Refusal::new(
                503,
                "too_many_connections",
                format!(
                    "this address already has {mine} connections with requests in progress ([http] max_connections_per_client)"
                ),
            ));
        }
        shared.registry.evictions.fetch_add(1, Ordering::Relaxed);
    } else if c.open >= limits.max_connections {
        if !c.evict_oldest(None) {
            return Err(busy());
        }
        shared.registry.evictions.fetch_add(1, Ordering::Relaxed);
    }
    c.open += 1;
    *c.per_client.entry(ip).or_default() += 1;
    shared
        .registry
        .connections_open
        .store(c.open as u64, Ordering::Relaxed);
    drop(c);
    let mut slot = Slot {
        shared: shared.clone(),
        ip,
        key: None,
        evict: Arc::new(Eviction::default()),
    };
    slot.waiting();
    Ok(slot)
}

pub(super) fn busy() -> Refusal {
    Refusal::new(
        503,
        "busy",
        "every connection is busy with a request; try again shortly",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eviction_takes_the_longest_waiting_connection_of_the_client() {
        let mut c = Conns::default();
        let a: IpAddr = "10.0.0.1".parse().expect("ip");
        let b: IpAddr = "10.0.0.2".parse().expect("ip");
        let mut slots = Vec::new();
        for ip in [a, b, a] {
            c.open += 1;
            *c.per_client.entry(ip).or_default() += 1;
            c.next += 1;
            let e = Arc::new(Eviction::default());
            c.waiting.insert(c.next, (ip, e.clone()));
            slots.push(e);
        }
        // b's only connection goes first when anyone may go.
        assert!(c.evict_oldest(Some(b)));
        assert!(slots[1].done.load(Ordering::Relaxed));
        assert_eq!((c.open, c.per_client.get(&b)), (2, None));
        assert!(!c.evict_oldest(Some(b)), "b has nothing left to evict");
        // The oldest of a's.
        assert!(c.evict_oldest(None));
        assert!(slots[0].done.load(Ordering::Relaxed) && !slots[2].done.load(Ordering::Relaxed));
        assert_eq!((c.open, c.per_client[&a]), (1, 1));
        assert!(c.evict_oldest(Some(a)) && !c.evict_oldest(None));
        assert_eq!(c.open, 0);
    }
}
