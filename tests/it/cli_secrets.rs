//! Secrets are read only by the command that uses them: with a config that
//! names a WordPress password, an LLM key, an alert webhook and S3 keys and
//! none of them in the environment (as outside a unit with
//! `LoadCredential=`), the read-only commands work, and each command that
//! does use a secret exits 2 naming the secret's key and line, the command
//! and the fix — with no "no provider named …" follow-on.

use std::path::{Path, PathBuf};

use crate::harness::{command, run, write_config};

const CONFIG: &str = "data_dir = \"data\"

[llm]
provider = \"claude\"

[llm.providers.claude]
kind = \"anthropic\"
api_key_env = \"BP_TEST_ANTHROPIC_KEY\"

[sites.blog]
publisher = \"wordpress\"

[sites.blog.wordpress]
url = \"https://blog.example\"
username = \"bot\"
app_password_env = \"BLOG_WP_APP_PASSWORD\"

[alerts]
webhook_url_env = \"BP_TEST_WEBHOOK_URL\"

[backup.s3]
endpoint = \"http://127.0.0.1:9\"
bucket = \"b\"
path_style = true
access_key_env = \"BP_TEST_S3_ACCESS\"
secret_key_env = \"BP_TEST_S3_SECRET\"
";

fn setup() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = write_config(dir.path(), CONFIG);
    (dir, cfg)
}

/// Runs `args` with no secret in the environment.
fn bp(home: &Path, cfg: &Path, args: &[&str]) -> (i32, String, String) {
    let mut c = command(home);
    c.arg("--config").arg(cfg).args(args);
    run(&mut c)
}

#[test]
fn read_only_commands_exit_0_without_any_site_secret() {
    let (dir, cfg) = setup();
    for args in [
        &["db", "migrate"][..],
        &["db", "status"],
        &["article", "list"],
        &["token", "list"],
        &["backup", "list"],
        &["article", "list", "--status", "all"],
    ] {
        let (code, out, err) = bp(dir.path(), &cfg, args);
        assert_eq!(code, 0, "{args:?} exited {code}: {out}{err}");
        assert!(!err.contains("not set"), "{args:?} complained: {err}");
    }
    let (_, out, _) = bp(dir.path(), &cfg, &["db", "status"]);
    assert!(out.contains("schema: version"), "{out}");
}

#[test]
fn a_command_that_needs_a_secret_names_it_and_the_command() {
    let (dir, cfg) = setup();
    // run --once writes (LLM key) and publishes (WordPress password).
    let (code, _, err) = bp(dir.path(), &cfg, &["run", "--once"]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("config.toml:8: key \"api_key_env\" in [llm.providers.claude]: environment variable BP_TEST_ANTHROPIC_KEY is not set; `blog-poster run --once` needs it to call the LLM provider \"claude\""),
        "{err}"
    );
    assert!(
        err.contains("config.toml:16: key \"app_password_env\" in [sites.blog.wordpress]: environment variable BLOG_WP_APP_PASSWORD is not set; `blog-poster run --once` needs it for the WordPress of site \"blog\""),
        "{err}"
    );
    assert!(err.contains("export BLOG_WP_APP_PASSWORD="), "{err}");
    assert!(!err.contains("no provider named"), "misleading: {err}");
    // Secrets the run does not use are not asked for.
    assert!(!err.contains("BP_TEST_S3_ACCESS"), "{err}");
    assert!(!err.contains("BP_TEST_WEBHOOK_URL"), "{err}");

    // A run that stops before generate needs neither.
    let (code, _, err) = bp(
        dir.path(),
        &cfg,
        &["run", "--once", "--until", "topics", "--max-wait", "1s"],
    );
    assert!(
        !err.contains("is not set"),
        "run --until topics asked for a secret (exit {code}): {err}"
    );

    // The off-site copy needs the S3 keys; the local list did not.
    let (code, _, err) = bp(dir.path(), &cfg, &["backup", "create"]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("environment variable BP_TEST_S3_ACCESS is not set; `blog-poster backup create` needs it for the off-site backup copy ([backup.s3])"),
        "{err}"
    );
    assert!(err.contains("BP_TEST_S3_SECRET"), "{err}");
    assert!(!err.contains("BLOG_WP_APP_PASSWORD"), "{err}");

    // doctor logs in to WordPress.
    let (code, _, err) = bp(dir.path(), &cfg, &["doctor"]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("`blog-poster doctor` needs it for the WordPress of site \"blog\""),
        "{err}"
    );

    // config check and serve check everything serve will use.
    for args in [&["config", "check"][..], &["serve"]] {
        let (code, _, err) = bp(dir.path(), &cfg, args);
        assert_eq!(code, 2, "{args:?}: {err}");
        for var in [
            "BP_TEST_ANTHROPIC_KEY",
            "BLOG_WP_APP_PASSWORD",
            "BP_TEST_WEBHOOK_URL",
            "BP_TEST_S3_ACCESS",
            "BP_TEST_S3_SECRET",
        ] {
            assert!(err.contains(var), "{args:?} did not name {var}: {err}");
        }
        assert!(
            err.contains(&format!("`blog-poster {}` needs it", args.join(" "))),
            "{err}"
        );
        assert!(!err.contains("no provider named"), "misleading: {err}");
    }
}

#[test]
fn secrets_set_in_the_environment_satisfy_the_command_that_needs_them() {
    let (dir, cfg) = setup();
    let mut c = command(dir.path());
    c.env("BP_TEST_ANTHROPIC_KEY", "sk-ant-test-key")
        .env("BLOG_WP_APP_PASSWORD", "abcd efgh ijkl mnop")
        .env("BP_TEST_WEBHOOK_URL", "https://hooks.example/T0/B0/secret")
        .env("BP_TEST_S3_ACCESS", "AKIA")
        .env("BP_TEST_S3_SECRET", "s3-secret")
        .arg("--config")
        .arg(&cfg)
        .args(["config", "check"]);
    let (code, out, err) = run(&mut c);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("app password from env BLOG_WP_APP_PASSWORD, redacted"),
        "{out}"
    );
    for value in ["sk-ant-test-key", "abcd efgh", "hooks.example", "s3-secret"] {
        assert!(!out.contains(value), "config check showed a secret: {out}");
    }
}

#[test]
fn a_secret_file_is_read_only_by_the_command_that_uses_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let unreadable = dir.path().join("no-such-secret");
    let cfg = write_config(
        dir.path(),
        &format!(
            "data_dir = \"data\"\n[sites.blog]\npublisher = \"wordpress\"\n[sites.blog.wordpress]\nurl = \"https://blog.example\"\nusername = \"bot\"\napp_password_file = \"{}\"\n",
            unreadable.display()
        ),
    );
    let (code, out, err) = bp(dir.path(), &cfg, &["article", "list"]);
    assert_eq!(code, 0, "{out}{err}");
    let (code, _, err) = bp(dir.path(), &cfg, &["doctor", "--site", "blog"]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("config.toml:7: key \"app_password_file\" in [sites.blog.wordpress]: cannot read secret file"),
        "{err}"
    );
    assert!(err.contains("`blog-poster doctor` needs it"), "{err}");
}
