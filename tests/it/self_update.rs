//! `blog-poster self-update` and serve's release check against a release
//! server on loopback (scripts/fake_release_server.py, the GitHub Releases
//! API's shapes), with releases signed by openssl as scripts/release.sh
//! signs them. The binary under test is a copy in a temporary folder (a
//! binary no package owns); the "new" binaries are small scripts that
//! answer `version --json` like a release would. Full updates between two
//! real builds, with a service restarting and rolling back, are
//! scripts/release_e2e.sh.

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::harness::{bin, run, wait_for, write_config};
use crate::web_client::{prepare, request, start};

const TARGET: &str = "x86_64-unknown-linux-gnu";

fn sh(script: &str) {
    let out = Command::new("sh")
        .arg("-c")
        .arg(script)
        .output()
        .expect("sh");
    assert!(
        out.status.success(),
        "{script}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A fresh ed25519 key pair (PEM files).
fn keypair(dir: &Path, name: &str) -> (PathBuf, PathBuf) {
    let (key, public) = (
        dir.join(format!("{name}.pem")),
        dir.join(format!("{name}.pub")),
    );
    sh(&format!(
        "openssl genpkey -algorithm ed25519 -out {k} && openssl pkey -in {k} -pubout -out {p}",
        k = key.display(),
        p = public.display()
    ));
    (key, public)
}

/// Writes release `version` under `root` (tag v<version>): a tarball whose
/// blog-poster says it is `claims`, SHA256SUMS, and a signature per file.
fn release(root: &Path, version: &str, claims: &str, key: &Path, notes: &str) -> PathBuf {
    let dir = root.join(format!("v{version}"));
    let stage = root.join(format!(".stage-{version}/blog-poster-{version}-{TARGET}"));
    std::fs::create_dir_all(&dir).expect("mkdir");
    std::fs::create_dir_all(&stage).expect("mkdir");
    let script = format!(
        "#!/bin/sh\ncase \"$*\" in\n  \"version --json\") echo '{{\"version\":\"{claims}\",\"schema\":5,\"target\":\"{TARGET}\",\"sqlite\":\"3\"}}';;\n  *) echo \"fake blog-poster {claims} $*\";;\nesac\n"
    );
    std::fs::write(stage.join("blog-poster"), script).expect("write");
    std::fs::write(dir.join("notes.md"), notes).expect("notes");
    let tarball = format!("blog-poster-{version}-{TARGET}.tar.gz");
    sh(&format!(
        "chmod 755 {s}/blog-poster && tar -C {parent} -czf {dir}/{tarball} blog-poster-{version}-{TARGET} \
         && cd {dir} && sha256sum {tarball} > SHA256SUMS \
         && for f in {tarball} SHA256SUMS; do openssl pkeyutl -sign -rawin -inkey {key} -in $f -out $f.sig; done",
        s = stage.display(),
        parent = stage.parent().expect("parent").display(),
        dir = dir.display(),
        key = key.display()
    ));
    dir
}

/// The fake release server over `root`, killed on drop.
struct ReleaseServer {
    child: Child,
    url: String,
}

impl ReleaseServer {
    fn start(root: &Path) -> ReleaseServer {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/fake_release_server.py");
        let mut child = Command::new("python3")
            .arg(script)
            .arg("--dir")
            .arg(root)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("python3 runs the fake release server");
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("read");
        let url = line
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
            .to_string();
        ReleaseServer { child, url }
    }
}

impl Drop for ReleaseServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A test setup: keys, releases, the server, a config and a copy of the
/// binary under test in bin/, with a `systemctl` stand-in that says the
/// service is not running.
struct Setup {
    dir: tempfile::TempDir,
    key: PathBuf,
    public: PathBuf,
    releases: PathBuf,
}

impl Setup {
    fn new() -> Setup {
        let dir = tempfile::tempdir().expect("tempdir");
        let (key, public) = keypair(dir.path(), "test-release");
        let releases = dir.path().join("releases");
        std::fs::create_dir_all(&releases).expect("mkdir");
        let bindir = dir.path().join("bin");
        std::fs::create_dir_all(&bindir).expect("mkdir");
        std::fs::copy(bin(), bindir.join("blog-poster")).expect("copy binary");
        let fake = dir.path().join("fakebin");
        std::fs::create_dir_all(&fake).expect("mkdir");
        std::fs::write(fake.join("systemctl"), "#!/bin/sh\nexit 3\n").expect("write");
        sh(&format!("chmod 755 {}/systemctl", fake.display()));
        Setup {
            dir,
            key,
            public,
            releases,
        }
    }

    fn exe(&self) -> PathBuf {
        self.dir.path().join("bin/blog-poster")
    }

    fn config(&self, server: &ReleaseServer, trusted: bool) -> PathBuf {
        let trusted = if trusted {
            format!("trusted_keys = [\"{}\"]\n", self.public.display())
        } else {
            String::new()
        };
        write_config(
            self.dir.path(),
            &format!(
                "data_dir = \"{}\"\n[update]\napi_url = \"{}\"\nrepository = \"o/blog-poster\"\n{trusted}",
                self.dir.path().join("data").display(),
                server.url
            ),
        )
    }

    fn run(&self, config: &Path, args: &[&str]) -> (i32, String, String) {
        let path = format!(
            "{}:{}",
            self.dir.path().join("fakebin").display(),
            std::env::var("PATH").unwrap_or_default()
        );
        run(Command::new(self.exe())
            .env_clear()
            .env("HOME", self.dir.path())
            .env("PATH", path)
            .arg("--config")
            .arg(config)
            .args(args))
    }
}

#[test]
fn self_update_check_shows_current_latest_and_what_changed() {
    let s = Setup::new();
    let current = env!("CARGO_PKG_VERSION");
    release(&s.releases, current, current, &s.key, "the running one");
    release(&s.releases, "90.1.0", "90.1.0", &s.key, "- faster feeds");
    release(&s.releases, "90.2.0", "90.2.0", &s.key, "- a new stage");
    let server = ReleaseServer::start(&s.releases);
    let config = s.config(&server, true);
    let (code, out, err) = s.run(&config, &["self-update", "--check"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains(&format!("current: {current}\n")), "{out}");
    assert!(out.contains("latest:  90.2.0"), "{out}");
    assert!(
        out.contains("faster feeds") && out.contains("a new stage"),
        "{out}"
    );
    assert!(!out.contains("the running one"), "{out}");
}

#[test]
fn self_update_installs_a_signed_release_keeping_the_previous_binary_and_a_backup() {
    let s = Setup::new();
    release(&s.releases, "90.2.0", "90.2.0", &s.key, "notes");
    let server = ReleaseServer::start(&s.releases);
    let config = s.config(&server, true);
    let (code, _, err) = s.run(&config, &["db", "migrate"]);
    assert_eq!(code, 0, "{err}");
    let original = std::fs::read(s.exe()).expect("read");
    let (code, out, err) = s.run(&config, &["self-update"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("verified 90.2.0"), "{out}");
    assert!(out.contains("pre-update backup"), "{out}");
    assert!(out.contains("was not running"), "{out}");
    let now = Command::new(s.exe())
        .args(["version", "--json"])
        .output()
        .expect("run");
    assert!(String::from_utf8_lossy(&now.stdout).contains("\"version\":\"90.2.0\""));
    let previous = s.dir.path().join("bin/blog-poster.previous");
    assert_eq!(std::fs::read(&previous).expect("previous kept"), original);
    let record: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(s.dir.path().join("data/updates/last-update.json"))
            .expect("record"),
    )
    .expect("json");
    assert_eq!(record["outcome"], "installed", "{record}");
    assert_eq!(record["to"], "90.2.0");
    let backup = record["backup"]["file_name"].as_str().expect("a backup");
    assert!(backup.contains("pre-update"), "{backup}");
    assert!(s.dir.path().join("data/backups").join(backup).is_file());
}

/// Runs self-update against a release made bad by `spoil`; it must fail
/// with `expect` and leave the binary as it was.
fn refused(spoil: impl FnOnce(&Setup, &Path), extra_args: &[&str], expect: &str) {
    let s = Setup::new();
    let dir = release(&s.releases, "90.2.0", "90.2.0", &s.key, "notes");
    spoil(&s, &dir);
    let server = ReleaseServer::start(&s.releases);
    let config = s.config(&server, true);
    let before = std::fs::read(s.exe()).expect("read");
    let mut args = vec!["self-update"];
    args.extend_from_slice(extra_args);
    let (code, out, err) = s.run(&config, &args);
    assert_eq!(code, 1, "{out}{err}");
    assert!(err.contains(expect), "expected {expect:?} in: {err}");
    assert_eq!(
        std::fs::read(s.exe()).expect("read"),
        before,
        "binary changed"
    );
    assert!(!s.dir.path().join("bin/blog-poster.previous").exists());
}

#[test]
fn self_update_refuses_a_tampered_tarball() {
    refused(
        |_, dir| {
            sh(&format!(
                "echo x >> {}/blog-poster-90.2.0-{TARGET}.tar.gz",
                dir.display()
            ))
        },
        &[],
        "does not match its checksum",
    );
}

#[test]
fn self_update_refuses_checksums_changed_after_signing() {
    refused(
        |_, dir| {
            sh(&format!(
                "cd {} && echo x >> blog-poster-90.2.0-{TARGET}.tar.gz && sha256sum blog-poster-90.2.0-{TARGET}.tar.gz > SHA256SUMS",
                dir.display()
            ))
        },
        &[],
        "signature of SHA256SUMS does not match any trusted key",
    );
}

#[test]
fn self_update_refuses_a_release_signed_by_another_key() {
    refused(
        |s, dir| {
            let (other, _) = keypair(s.dir.path(), "someone-else");
            sh(&format!(
                "cd {} && for f in blog-poster-90.2.0-{TARGET}.tar.gz SHA256SUMS; do openssl pkeyutl -sign -rawin -inkey {} -in $f -out $f.sig; done",
                dir.display(),
                other.display()
            ))
        },
        &[],
        "does not match any trusted key",
    );
}

#[test]
fn self_update_refuses_an_unsigned_release() {
    refused(
        |_, dir| sh(&format!("rm {}/*.sig", dir.display())),
        &[],
        "unsigned releases are refused",
    );
}

#[test]
fn self_update_refuses_a_binary_that_is_not_the_version_it_was_released_as() {
    refused(
        |s, _| {
            std::fs::remove_dir_all(s.releases.join("v90.2.0")).expect("rm");
            release(&s.releases, "90.2.0", "90.1.9", &s.key, "notes");
        },
        &[],
        "says it is 90.1.9",
    );
}

#[test]
fn self_update_refuses_an_older_version_unless_allowed() {
    let s = Setup::new();
    release(&s.releases, "0.0.1", "0.0.1", &s.key, "old");
    let server = ReleaseServer::start(&s.releases);
    let config = s.config(&server, true);
    let (code, _, err) = s.run(&config, &["self-update", "--version", "0.0.1"]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("older than the running"), "{err}");
    assert!(err.contains("--allow-downgrade"), "{err}");
    let (code, _, err) = s.run(&config, &["self-update", "--version", "7.7.7"]);
    assert_eq!(code, 1);
    assert!(err.contains("there is no release 7.7.7"), "{err}");
    let (code, out, err) = s.run(
        &config,
        &["self-update", "--version", "0.0.1", "--allow-downgrade"],
    );
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("→ 0.0.1"), "{out}");
}

#[test]
fn self_update_trusts_only_the_built_in_key_without_trusted_keys() {
    let s = Setup::new();
    release(&s.releases, "90.2.0", "90.2.0", &s.key, "notes");
    let server = ReleaseServer::start(&s.releases);
    let config = s.config(&server, false);
    let (code, _, err) = s.run(&config, &["self-update"]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("does not match any trusted key"), "{err}");
}

fn update_table(s: &Setup, server: &ReleaseServer, mode: &str) -> String {
    format!(
        "public_status = true\n[update]\nmode = \"{mode}\"\napi_url = \"{}\"\nrepository = \"o/blog-poster\"\ntrusted_keys = [\"{}\"]\n",
        server.url,
        s.public.display()
    )
}

fn status_update(addr: std::net::SocketAddr) -> serde_json::Value {
    request(addr, "GET", "/api/v1/status", None, None)
        .map(|r| r.json()["update"].clone())
        .unwrap_or_default()
}

#[test]
fn serve_in_notify_mode_says_an_update_is_available() {
    let s = Setup::new();
    release(&s.releases, "90.2.0", "90.2.0", &s.key, "notes");
    let server = ReleaseServer::start(&s.releases);
    let (dir, config) = prepare(&update_table(&s, &server, "notify"));
    let served = start(dir, config);
    let addr = served.addr;
    wait_for(Duration::from_secs(30), "the status to show 90.2.0", || {
        status_update(addr)["latest"] == "90.2.0"
    });
    let u = status_update(addr);
    assert_eq!(u["available"], true, "{u}");
    assert_eq!(u["current"], env!("CARGO_PKG_VERSION"), "{u}");
    assert!(u["staged"].is_null(), "notify stages nothing: {u}");
    assert!(!served.dir.path().join("data/updates/staged").exists());
    let ready = request(addr, "GET", "/readyz", None, None)
        .expect("readyz")
        .json();
    assert_eq!(ready["binary_version"], env!("CARGO_PKG_VERSION"));
}

#[test]
fn serve_in_install_mode_stages_a_verified_release_for_the_update_service() {
    let s = Setup::new();
    release(&s.releases, "90.2.0", "90.2.0", &s.key, "notes");
    let server = ReleaseServer::start(&s.releases);
    let (dir, config) = prepare(&update_table(&s, &server, "install"));
    let served = start(dir, config);
    let addr = served.addr;
    let data = served.dir.path().join("data");
    let request_file = data.join("updates/staged/request.json");
    wait_for(Duration::from_secs(30), "the staged request", || {
        request_file.is_file()
    });
    let req = std::fs::read_to_string(&request_file).expect("read");
    assert!(req.contains("\"version\":\"90.2.0\""), "{req}");
    assert!(
        data.join(format!(
            "updates/staged/90.2.0/blog-poster-90.2.0-{TARGET}.tar.gz.sig"
        ))
        .is_file()
    );
    wait_for(
        Duration::from_secs(10),
        "the status to show it staged",
        || status_update(addr)["staged"] == "90.2.0",
    );
    // What blog-poster-update.service runs: it verifies the staged files
    // again and installs them.
    let (code, out, err) = s.run(&served.config, &["self-update", "--staged"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("verified 90.2.0"), "{out}");
    assert!(!request_file.exists(), "the request is taken");
    let now = Command::new(s.exe())
        .args(["version", "--json"])
        .output()
        .expect("run");
    assert!(String::from_utf8_lossy(&now.stdout).contains("90.2.0"));
}

#[test]
fn self_update_staged_files_changed_after_staging_are_refused() {
    let s = Setup::new();
    release(&s.releases, "90.2.0", "90.2.0", &s.key, "notes");
    let server = ReleaseServer::start(&s.releases);
    let config = s.config(&server, true);
    // Stage by hand as serve would, then tamper as the service user could.
    let staged = s.dir.path().join("data/updates/staged");
    std::fs::create_dir_all(&staged).expect("mkdir");
    sh(&format!(
        "cp -r {}/v90.2.0 {}/90.2.0 && echo x >> {}/90.2.0/blog-poster-90.2.0-{TARGET}.tar.gz",
        s.releases.display(),
        staged.display(),
        staged.display()
    ));
    std::fs::write(staged.join("request.json"), "{\"version\":\"90.2.0\"}").expect("write");
    let before = std::fs::read(s.exe()).expect("read");
    let (code, _, err) = s.run(&config, &["self-update", "--staged"]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("does not match its checksum"), "{err}");
    assert_eq!(std::fs::read(s.exe()).expect("read"), before);
}
