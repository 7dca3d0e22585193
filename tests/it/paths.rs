//! Where config and data live when the config does not say: systemd's
//! directories first, then `directories`' ProjectDirs (checked here against
//! the XDG rule that `Environment::from_pairs` applies for tests), and a
//! clear error — not a crash — without any of them.

use std::collections::HashMap;
use std::path::Path;

use blog_poster::config::ProjectPaths;

use crate::harness::{bin, run};

fn config_check(vars: &[(&str, &Path)]) -> (i32, String, String) {
    let mut c = std::process::Command::new(bin());
    c.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .args(["config", "check"]);
    for (k, v) in vars {
        c.env(k, v);
    }
    run(&mut c)
}

fn line<'a>(out: &'a str, prefix: &str) -> &'a str {
    out.lines()
        .find_map(|l| l.strip_prefix(prefix))
        .unwrap_or_else(|| panic!("no line {prefix:?} in:\n{out}"))
}

fn xdg_rule(vars: &[(&str, &Path)]) -> ProjectPaths {
    let map: HashMap<String, String> = vars
        .iter()
        .map(|(k, v)| (k.to_string(), v.display().to_string()))
        .collect();
    ProjectPaths::by_xdg_rule(&map).expect("paths")
}

#[test]
fn project_dirs_under_home_match_the_xdg_rule() {
    let home = tempfile::tempdir().expect("tempdir");
    let vars = [("HOME", home.path())];
    let (code, out, err) = config_check(&vars);
    assert_eq!(code, 0, "{err}");
    let expected = home.path().join(".local/share/blog-poster");
    assert_eq!(line(&out, "data_dir: "), expected.display().to_string());
    assert_eq!(xdg_rule(&vars).data_dir, expected);
}

#[test]
fn xdg_variables_move_both_folders() {
    let home = tempfile::tempdir().expect("tempdir");
    let (xc, xd) = (home.path().join("xc"), home.path().join("xd"));
    let cfg = xc.join("blog-poster/config.toml");
    std::fs::create_dir_all(cfg.parent().expect("parent")).expect("mkdir");
    std::fs::write(&cfg, "[sites.blog]\n").expect("write");
    let vars = [
        ("HOME", home.path()),
        ("XDG_CONFIG_HOME", xc.as_path()),
        ("XDG_DATA_HOME", xd.as_path()),
    ];
    let (code, out, err) = config_check(&vars);
    assert_eq!(code, 0, "{err}");
    assert_eq!(line(&out, "config OK: "), cfg.display().to_string());
    assert_eq!(
        line(&out, "data_dir: "),
        xd.join("blog-poster").display().to_string()
    );
    let rule = xdg_rule(&vars);
    assert_eq!(rule.config_dir, xc.join("blog-poster"));
    assert_eq!(rule.data_dir, xd.join("blog-poster"));
}

#[test]
fn systemd_directories_win_over_the_per_user_ones() {
    let home = tempfile::tempdir().expect("tempdir");
    let (state, conf) = (home.path().join("state"), home.path().join("conf"));
    std::fs::create_dir_all(&conf).expect("mkdir");
    std::fs::write(conf.join("config.toml"), "[sites.blog]\n").expect("write");
    // A per-user config that must not be picked.
    let user_cfg = home.path().join(".config/blog-poster/config.toml");
    std::fs::create_dir_all(user_cfg.parent().expect("parent")).expect("mkdir");
    std::fs::write(&user_cfg, "[sites.other]\n").expect("write");
    let (code, out, err) = config_check(&[
        ("HOME", home.path()),
        ("STATE_DIRECTORY", state.as_path()),
        ("CONFIGURATION_DIRECTORY", conf.as_path()),
    ]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        line(&out, "config OK: "),
        conf.join("config.toml").display().to_string()
    );
    assert_eq!(line(&out, "data_dir: "), state.display().to_string());
}

#[test]
fn no_home_and_no_systemd_dirs_is_a_clear_error_not_a_crash() {
    let (code, _, err) = config_check(&[]);
    // A signal (the NSS fallback segfaulting) would give no exit code (-1).
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("data_dir"), "{err}");
    assert!(err.contains("$HOME"), "{err}");
}
