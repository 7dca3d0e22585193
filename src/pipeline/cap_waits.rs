//! Jobs that wait for a cost cap look again when the caps in force change:
//! the fingerprint of the caps (the config's and the API's overrides) and
//! the wake-up that start-up, `run --once`, a restore and `PUT /api/v1/caps`
//! call.

use crate::config::Config;
use crate::domain::lifecycle::Timestamp;
use crate::domain::money::Money;
use crate::store::{CapOverride, Store, StoreError};

/// Wakes the jobs waiting for a cost cap when the caps in force (the
/// config's and the API's overrides) differ from those last seen; returns
/// how many it woke. What a start, `run --once`, a foreground approve or
/// publish, a restore and `PUT /api/v1/caps` call.
pub fn wake_cap_waits_if_caps_changed(
    store: &dyn Store,
    config: &Config,
    now: Timestamp,
) -> Result<u64, StoreError> {
    let caps = caps_fingerprint(config, &store.cap_overrides()?);
    let woken = store.wake_cap_waits_if_caps_changed(&caps, now)?;
    if woken > 0 {
        tracing::info!(
            jobs = woken,
            "the caps changed: jobs waiting for a cap look again"
        );
    }
    Ok(woken)
}

/// One line naming every cap in force — each site's caps from the config
/// and every override set through the API — so that a start or a cap
/// change can tell whether the caps changed since they were last seen
/// (`Store::wake_cap_waits_if_caps_changed`). Equal caps give equal text.
pub fn caps_fingerprint(config: &Config, overrides: &[CapOverride]) -> String {
    let cap = |m: Option<Money>| m.map_or("none".to_string(), |m| m.0.to_string());
    let mut parts: Vec<String> = config
        .sites
        .iter()
        .map(|site| {
            let c = config.caps_for(site);
            format!(
                "site {}: global_daily={} global_monthly={} site_daily={} site_monthly={} article={}",
                site.name,
                cap(c.global_daily),
                cap(c.global_monthly),
                cap(c.site_daily),
                cap(c.site_monthly),
                cap(c.per_article)
            )
        })
        .collect();
    let mut set: Vec<String> = overrides
        .iter()
        .map(|o| {
            format!(
                "override {} {}={}",
                o.scope.as_str(),
                o.site.as_deref().unwrap_or("*"),
                o.cap.0
            )
        })
        .collect();
    parts.sort();
    set.sort();
    parts.extend(set);
    parts.join("; ")
}
