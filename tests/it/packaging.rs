//! The release and install files kept in step with each other and with the
//! code: the starter config parses and points at the service's state
//! folder, install.sh and cloud-init carry the key the binary trusts, the
//! .deb's assets exist, the maintainer scripts parse and keep the debhelper
//! token, the workflow runs scripts/release.sh, and the update units pass
//! `systemd-analyze verify`. Building and installing a release end to end is
//! scripts/release_e2e.sh, install_e2e.sh and deb_self_update_e2e.sh.

use std::path::{Path, PathBuf};
use std::process::Command;

use blog_poster::config::{Environment, parse};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn read(rel: &str) -> String {
    std::fs::read_to_string(repo().join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

/// The base64 lines of the first PEM public key in `text`, whatever the
/// indentation or quoting around them.
fn pem_body(text: &str) -> Vec<String> {
    let lines: Vec<&str> = text.lines().map(|l| l.trim().trim_matches('\'')).collect();
    let start = lines
        .iter()
        .position(|l| l.ends_with("-----BEGIN PUBLIC KEY-----"))
        .expect("a PEM key");
    lines[start + 1..]
        .iter()
        .take_while(|l| !l.starts_with("-----END PUBLIC KEY-----"))
        .map(|l| l.to_string())
        .collect()
}

#[test]
fn packaging_starter_config_is_valid_and_uses_the_state_directory() {
    let path = repo().join("packaging/config.toml");
    let config = parse(
        &read("packaging/config.toml"),
        Some(&path),
        &Environment::from_pairs([]),
    )
    .expect("packaging/config.toml is valid");
    assert_eq!(config.data_dir, Path::new("/var/lib/blog-poster"));
    assert_eq!(config.http.listen.ip().to_string(), "127.0.0.1");
    assert_eq!(config.update.mode, blog_poster::config::UpdateMode::Notify);
}

#[test]
fn packaging_install_sh_and_cloud_init_carry_the_release_key() {
    let key = pem_body(&read("packaging/release-key.pub"));
    assert_eq!(key.len(), 1, "one line of base64 for an ed25519 key");
    assert_eq!(pem_body(&read("packaging/install.sh")), key);
    assert_eq!(pem_body(&read("packaging/cloud-init.yaml")), key);
    blog_poster::update::signature::parse_public_key_pem(&read("packaging/release-key.pub"))
        .expect("an ed25519 key");
}

#[test]
fn packaging_deb_assets_exist_and_scripts_parse() {
    let manifest: toml::Table = toml::from_str(&read("Cargo.toml")).expect("Cargo.toml");
    let deb = &manifest["package"]["metadata"]["deb"];
    assert_eq!(deb["maintainer-scripts"].as_str(), Some("debian/"));
    assert!(
        deb["depends"]
            .as_str()
            .is_some_and(|d| d.contains("systemd") && d.contains("ca-certificates"))
    );
    let assets = deb["assets"].as_array().expect("assets");
    let mut targets = vec![];
    for a in assets {
        let (src, dest) = (a[0].as_str().expect("src"), a[1].as_str().expect("dest"));
        targets.push(dest.to_string());
        if src != "target/release/blog-poster" {
            assert!(repo().join(src).is_file(), "{src} is missing");
        }
    }
    for want in [
        "usr/bin/",
        "usr/lib/systemd/system/blog-poster.service",
        "usr/lib/systemd/system/blog-poster-update.service",
        "usr/lib/systemd/system/blog-poster-update.path",
        "usr/lib/sysusers.d/blog-poster.conf",
        "usr/lib/tmpfiles.d/blog-poster.conf",
        "etc/blog-poster/config.toml",
    ] {
        assert!(targets.iter().any(|t| t == want), "no asset for {want}");
    }
    for script in ["debian/postinst", "debian/prerm", "debian/postrm"] {
        let text = read(script);
        // cargo-deb generates no script of its own here (no systemd-units
        // table), so a #DEBHELPER# token would stay unexpanded (lintian).
        assert!(!text.contains("#DEBHELPER#"), "{script}: unexpanded token");
        let ok = Command::new("sh")
            .arg("-n")
            .arg(repo().join(script))
            .status()
            .expect("sh");
        assert!(ok.success(), "{script} does not parse");
    }
    // Enabled, never started, on first install; data kept unless purged.
    let postinst = read("debian/postinst");
    assert!(postinst.contains("deb-systemd-helper enable blog-poster.service"));
    for never in [
        "systemctl start blog-poster.service",
        "deb-systemd-invoke start blog-poster.service",
    ] {
        assert!(!postinst.contains(never), "postinst starts the service");
    }
    let postrm = read("debian/postrm");
    let purge = postrm.find("purge)").expect("a purge branch");
    let wipe = postrm
        .find("rm -rf /var/lib/blog-poster")
        .expect("purge removes data");
    assert!(wipe > purge, "data is removed only on purge");
    for script in [
        "packaging/install.sh",
        "scripts/release.sh",
        "scripts/release_e2e.sh",
        "scripts/install_e2e.sh",
        "scripts/deb_self_update_e2e.sh",
    ] {
        let ok = Command::new("bash")
            .arg("-n")
            .arg(repo().join(script))
            .status()
            .expect("bash");
        assert!(ok.success(), "{script} does not parse");
    }
}

#[test]
fn packaging_release_workflow_runs_the_release_script() {
    let workflow = read(".github/workflows/release.yml");
    let script = read("scripts/release.sh");
    assert!(workflow.contains("scripts/release.sh \"${GITHUB_REF_NAME#v}\""));
    assert!(workflow.contains("BLOG_POSTER_SIGNING_KEY"));
    // The same cargo-deb in both.
    let pin = "cargo install cargo-deb --locked --version 3.8.0";
    assert!(script.contains(pin) && workflow.contains(pin));
    // The asset names the updater and install.sh look for.
    use blog_poster::update::release::{deb_name, tarball_name};
    assert_eq!(
        tarball_name("1.2.3"),
        "blog-poster-1.2.3-x86_64-unknown-linux-gnu.tar.gz"
    );
    assert!(script.contains("name=blog-poster-$version-$target"));
    assert_eq!(deb_name("1.2.3"), "blog-poster_1.2.3_amd64.deb");
    assert!(script.contains("blog-poster_${version}_amd64.deb"));
    let install = read("packaging/install.sh");
    assert!(install.contains("deb=blog-poster_${version}_amd64.deb"));
    assert!(install.contains("tarball=blog-poster-$version-$target.tar.gz"));
}

#[test]
fn systemd_analyze_verifies_the_update_units_clean() {
    let analyze = crate::services::require(crate::services::Service::SystemdAnalyze);
    let dir = tempfile::tempdir().expect("tempdir");
    let bin = crate::harness::bin();
    for unit in [
        "blog-poster.service",
        "blog-poster-update.service",
        "blog-poster-update.path",
    ] {
        let text = read(&format!("systemd/{unit}"))
            .replace("/usr/bin/blog-poster", bin.to_str().expect("utf8 path"));
        std::fs::write(dir.path().join(unit), text).expect("write");
    }
    let out = Command::new(analyze)
        .arg("verify")
        .arg(dir.path().join("blog-poster-update.service"))
        .arg(dir.path().join("blog-poster-update.path"))
        .output()
        .expect("systemd-analyze");
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success() && all.trim().is_empty(), "{all}");
}
