//! The shipped systemd unit, checked by systemd's own tools:
//! `systemd-analyze verify` must be clean and `systemd-analyze security
//! --offline=true` must rate it OK or better. The directives the issue asks
//! for are checked by name as well, so weakening one is a test failure even
//! where the rating would still pass.

use std::path::PathBuf;
use std::process::Command;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn unit_text() -> String {
    std::fs::read_to_string(repo().join("systemd/blog-poster.service")).expect("unit file")
}

/// systemd-analyze, or the test fails (services.rs: it is never skipped).
fn systemd_analyze() -> PathBuf {
    PathBuf::from(crate::services::require(
        crate::services::Service::SystemdAnalyze,
    ))
}

#[test]
fn systemd_unit_has_the_required_directives() {
    let text = unit_text();
    let lines: Vec<&str> = text.lines().map(str::trim).collect();
    for want in [
        "Type=notify",
        "NotifyAccess=main",
        "Restart=on-failure",
        "StateDirectory=blog-poster",
        "ConfigurationDirectory=blog-poster",
        "EnvironmentFile=-/etc/blog-poster/env",
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        "ProtectHome=yes",
        "PrivateTmp=yes",
        "PrivateDevices=yes",
        "RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6",
        "SystemCallFilter=@system-service",
        "CapabilityBoundingSet=",
        "MemoryDenyWriteExecute=yes",
    ] {
        assert!(lines.contains(&want), "missing `{want}` in the unit");
    }
    assert!(
        lines.iter().any(|l| l.starts_with("WatchdogSec=")),
        "no WatchdogSec"
    );
    assert!(
        lines.iter().any(
            |l| l.starts_with("# Example: LoadCredential=") || l.starts_with("LoadCredential=")
        ),
        "LoadCredential not shown"
    );
    let sysusers = std::fs::read_to_string(repo().join("systemd/blog-poster.sysusers"))
        .expect("sysusers file");
    assert!(
        sysusers.lines().any(|l| l.starts_with("u blog-poster ")),
        "{sysusers}"
    );
    let tmpfiles = std::fs::read_to_string(repo().join("systemd/blog-poster.tmpfiles"))
        .expect("tmpfiles file");
    assert!(
        tmpfiles.contains("d /etc/blog-poster 0750 root blog-poster"),
        "{tmpfiles}"
    );
}

#[test]
fn systemd_analyze_verifies_the_unit_clean() {
    let analyze = systemd_analyze();
    // verify checks that ExecStart exists: point it at the binary under test.
    let dir = tempfile::tempdir().expect("tempdir");
    let unit = dir.path().join("blog-poster.service");
    let bin = crate::harness::bin();
    std::fs::write(
        &unit,
        unit_text().replace("/usr/bin/blog-poster", bin.to_str().expect("utf8 path")),
    )
    .expect("write unit");
    let out = Command::new(&analyze)
        .arg("verify")
        .arg(&unit)
        .output()
        .expect("run systemd-analyze verify");
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    println!(
        "systemd-analyze verify: exit {:?}\n{stdout}{stderr}",
        out.status.code()
    );
    assert!(out.status.success(), "verify failed:\n{stdout}{stderr}");
    assert!(
        stderr.trim().is_empty() && stdout.trim().is_empty(),
        "verify is not clean:\n{stdout}{stderr}"
    );
}

/// "→ Overall exposure level for blog-poster.service: 1.2 OK 🙂" → (1.2, "OK").
fn overall(report: &str) -> Option<(f64, String)> {
    let line = report
        .lines()
        .find(|l| l.contains("Overall exposure level"))?;
    let mut words = line.rsplit_once(':')?.1.split_whitespace();
    let score = words.next()?.parse().ok()?;
    Some((score, words.next()?.to_string()))
}

#[test]
fn systemd_analyze_rates_the_unit_security_ok_or_better() {
    let analyze = systemd_analyze();
    let out = Command::new(&analyze)
        .current_dir(repo())
        .args([
            "security",
            "--offline=true",
            "--no-pager",
            "systemd/blog-poster.service",
        ])
        .output()
        .expect("run systemd-analyze security");
    let report = String::from_utf8_lossy(&out.stdout);
    println!("{report}{}", String::from_utf8_lossy(&out.stderr));
    let (score, level) = overall(&report).unwrap_or_else(|| panic!("no rating in:\n{report}"));
    assert!(
        matches!(level.as_str(), "SAFE" | "OK"),
        "rated {score} {level}, want OK or better"
    );
    assert!(score < 2.0, "exposure {score}");
}

#[test]
fn systemd_rating_parser_reads_the_summary_line() {
    assert_eq!(
        overall("x\n→ Overall exposure level for blog-poster.service: 1.2 OK 🙂\n"),
        Some((1.2, "OK".into()))
    );
    assert_eq!(overall("nothing"), None);
}
