//! Validation of `[update]`.

use super::*;
use crate::config::raw::RawConfig;
use crate::config::update::*;

impl Validator<'_> {
    pub(super) fn update(&mut self, raw: &RawConfig) -> UpdateConfig {
        let u = &raw.update;
        let mut out = UpdateConfig::default();
        if let Some(m) = &u.mode {
            out.mode = match m.get_ref().as_str() {
                "off" => UpdateMode::Off,
                "notify" => UpdateMode::Notify,
                "install" => UpdateMode::Install,
                other => {
                    self.push(
                        m.span(),
                        "mode",
                        format!("unknown update mode \"{other}\""),
                        Some("use \"off\", \"notify\" or \"install\"".into()),
                    );
                    UpdateMode::Off
                }
            };
        }
        out.check_interval = self.duration(&u.check_interval, "check_interval", out.check_interval);
        if out.check_interval < Duration::from_secs(60)
            && let Some(v) = &u.check_interval
        {
            self.push(
                v.span(),
                "check_interval",
                "shorter than a minute".into(),
                Some("use \"1h\" or more; releases are rare".into()),
            );
        }
        if let Some(r) = &u.repository {
            match r.get_ref().split_once('/') {
                Some((owner, name))
                    if !owner.is_empty() && !name.is_empty() && !name.contains('/') =>
                {
                    out.repo_owner = owner.into();
                    out.repo_name = name.into();
                }
                _ => self.push(
                    r.span(),
                    "repository",
                    format!("\"{}\" is not owner/name", r.get_ref()),
                    Some(format!("write it like \"{DEFAULT_REPOSITORY}\"")),
                ),
            }
        }
        if let Some(a) = &u.api_url {
            match url::Url::parse(a.get_ref()) {
                Ok(url) if matches!(url.scheme(), "http" | "https") && url.host().is_some() => {
                    out.api_url = a.get_ref().trim_end_matches('/').to_string();
                }
                _ => self.push(
                    a.span(),
                    "api_url",
                    format!("\"{}\" is not an http(s) URL", a.get_ref()),
                    Some(format!(
                        "use \"{DEFAULT_API_URL}\" or your mirror's API base"
                    )),
                ),
            }
        }
        out.ready_timeout = self.duration(&u.ready_timeout, "ready_timeout", out.ready_timeout);
        out.stable_for = self.duration(&u.stable_for, "stable_for", out.stable_for);
        if let Some(s) = &u.service {
            let ok = !s.get_ref().is_empty()
                && s.get_ref()
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_.@".contains(c));
            if ok {
                out.service = s.get_ref().clone();
            } else {
                self.push(
                    s.span(),
                    "service",
                    format!("\"{}\" is not a systemd unit name", s.get_ref()),
                    Some("use the unit's name, like \"blog-poster\"".into()),
                );
            }
        }
        for k in u.trusted_keys.iter().flatten() {
            let path = self.path(k.get_ref());
            if !path.is_file() {
                self.push(
                    k.span(),
                    "trusted_keys",
                    format!("{} does not exist", path.display()),
                    Some("give the path of a PEM public key (openssl pkey -pubout)".into()),
                );
            }
            out.trusted_keys.push(path);
        }
        out
    }
}
