//! The service self-update restarts, through `systemctl` (found on PATH,
//! so a test can put a stand-in supervisor first), and the health test an
//! update must pass: `/readyz` answering 200 for the expected version, and
//! still answering for `stable_for`, without systemd counting restarts.

use std::net::SocketAddr;
use std::process::Command;
use std::time::{Duration, Instant};

use super::UpdateError;

#[derive(Debug, Clone)]
pub struct Service {
    pub name: String,
}

fn systemctl(args: &[&str]) -> std::io::Result<std::process::Output> {
    Command::new("systemctl").args(args).output()
}

impl Service {
    /// True when systemd runs the unit now. No systemctl (not a systemd
    /// host) counts as not running.
    pub fn is_active(&self) -> bool {
        systemctl(&["is-active", "--quiet", &self.name]).is_ok_and(|o| o.status.success())
    }

    fn act(&self, verb: &str) -> Result<(), UpdateError> {
        let out = systemctl(&[verb, &self.name]).map_err(|e| {
            UpdateError::Install(format!("cannot run systemctl {verb} {}: {e}", self.name))
        })?;
        if out.status.success() {
            Ok(())
        } else {
            Err(UpdateError::Install(format!(
                "systemctl {verb} {} failed: {}",
                self.name,
                String::from_utf8_lossy(&out.stderr).trim()
            )))
        }
    }

    pub fn stop(&self) -> Result<(), UpdateError> {
        self.act("stop")
    }

    /// Starts the unit. A start that fails (the new binary exits at once)
    /// is not an error here: [`Service::wait_healthy`] decides.
    pub fn start(&self) -> Result<(), String> {
        self.act("start").map_err(|e| e.to_string())
    }

    /// How often systemd restarted the unit (`NRestarts`), if it says.
    pub fn restarts(&self) -> Option<u64> {
        let out = systemctl(&["show", "--property=NRestarts", "--value", &self.name]).ok()?;
        String::from_utf8_lossy(&out.stdout).trim().parse().ok()
    }

    /// Waits until `/readyz` on `addr` reports `version` ready, then for it
    /// to stay ready for `stable_for`. Fails on the deadline, or as soon as
    /// systemd restarted the unit three times (a crash loop).
    pub fn wait_healthy(
        &self,
        addr: SocketAddr,
        version: &str,
        ready_timeout: Duration,
        stable_for: Duration,
    ) -> Result<Duration, String> {
        let started = Instant::now();
        let restarts_before = self.restarts();
        let client = reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(3))
            .no_proxy()
            .build()
            .map_err(|e| format!("cannot build an HTTP client: {e}"))?;
        let url = format!("http://{addr}/readyz");
        let mut ready_since: Option<Instant> = None;
        let mut last = String::from("no answer yet");
        loop {
            match probe(&client, &url, version) {
                Ok(()) => {
                    let since = *ready_since.get_or_insert_with(Instant::now);
                    if since.elapsed() >= stable_for {
                        return Ok(started.elapsed());
                    }
                }
                Err(e) => {
                    if ready_since.is_some() {
                        return Err(format!(
                            "{version} was ready, then stopped answering within {}s: {e}",
                            stable_for.as_secs()
                        ));
                    }
                    last = e;
                }
            }
            if let (Some(before), Some(now)) = (restarts_before, self.restarts())
                && now >= before + 3
            {
                return Err(format!(
                    "{version} crashed {} times on start (systemd restarted it); last: {last}",
                    now - before
                ));
            }
            if ready_since.is_none() && started.elapsed() > ready_timeout {
                return Err(format!(
                    "{version} did not become ready within {}s; last: {last}",
                    ready_timeout.as_secs()
                ));
            }
            std::thread::sleep(Duration::from_millis(250));
        }
    }
}

fn probe(client: &reqwest::blocking::Client, url: &str, version: &str) -> Result<(), String> {
    let resp = client.get(url).send().map_err(|e| format!("{url}: {e}"))?;
    let status = resp.status().as_u16();
    let body: serde_json::Value = resp.json().map_err(|e| format!("{url}: not JSON: {e}"))?;
    let serving = body["binary_version"].as_str().unwrap_or("unknown");
    if serving != version {
        return Err(format!("{url}: version {serving} answers, not {version}"));
    }
    if status != 200 {
        return Err(format!("{url}: {status} {body}"));
    }
    Ok(())
}
