//! Validation of `[alerts]` and `[alerts.smtp]`: the webhook URL (a secret,
//! as Slack's carry their token), the SMTP relay and addresses, and the
//! rate limits, each problem reported with its line and a fix.

use std::time::Duration;

use super::super::alerts::{AlertsConfig, SmtpConfig, SmtpTls, WebhookConfig, WebhookFormat};
use super::super::raw::{RawAlerts, RawConfig, RawSmtp, S};
use super::super::secret::{SecretSource, SecretUse};
use super::Validator;

impl Validator<'_> {
    pub(super) fn alerts(&mut self, raw: &RawConfig) -> AlertsConfig {
        let d = AlertsConfig::default();
        let Some(table) = &raw.alerts else {
            return d;
        };
        let span = table.span();
        let a: &RawAlerts = table.get_ref();
        let min_interval = self.duration(&a.min_interval, "min_interval", d.min_interval);
        let max_per_hour = self.positive(&a.max_per_hour, "max_per_hour", d.max_per_hour);
        let source_failing_after = self.duration(
            &a.source_failing_after,
            "source_failing_after",
            d.source_failing_after,
        );
        let check_interval = self.duration(&a.check_interval, "check_interval", d.check_interval);
        if check_interval < Duration::from_secs(1)
            && let Some(v) = &a.check_interval
        {
            self.push(
                v.span(),
                "check_interval",
                "must be at least 1s".into(),
                Some("use \"5m\" (the default)".into()),
            );
        }
        let webhook = self.webhook(a, span);
        let smtp = a.smtp.as_ref().and_then(|s| self.smtp(s));
        AlertsConfig {
            webhook,
            smtp,
            min_interval,
            max_per_hour,
            source_failing_after,
            check_interval: check_interval.max(Duration::from_secs(1)),
        }
    }

    fn webhook(&mut self, a: &RawAlerts, span: std::ops::Range<usize>) -> Option<WebhookConfig> {
        let given = [&a.webhook_url, &a.webhook_url_env, &a.webhook_url_file]
            .iter()
            .filter(|k| k.is_some())
            .count();
        if given > 1 {
            let s = a
                .webhook_url_file
                .as_ref()
                .or(a.webhook_url_env.as_ref())
                .map_or(span.clone(), |v| v.span());
            self.push(
                s,
                "webhook_url",
                "more than one of webhook_url, webhook_url_env and webhook_url_file is set".into(),
                Some("keep one of them".into()),
            );
            return None;
        }
        let url = match (&a.webhook_url, given) {
            (_, 0) => {
                if let Some(f) = &a.format {
                    self.push(
                        f.span(),
                        "format",
                        "format is set but no webhook is configured".into(),
                        Some(
                            "add webhook_url_env = \"VAR\" (or webhook_url_file / webhook_url)"
                                .into(),
                        ),
                    );
                }
                return None;
            }
            (Some(u), _) => match check_webhook_url(u.get_ref()) {
                // Written in the file: checked now, like every other key.
                Ok(url) => Some(self.new_secret(
                    SecretSource::Known {
                        value: url,
                        origin: "config webhook_url".into(),
                    },
                    SecretUse::AlertWebhook,
                    None,
                    None,
                )),
                // The value may be a secret: describe the problem, never echo it.
                Err((message, fix)) => {
                    self.push(u.span(), "webhook_url", message, Some(fix));
                    None
                }
            },
            // From outside the file: checked when the command that sends an
            // alert reads it.
            (None, _) => Some(self.secret_checked(
                &a.webhook_url_env,
                &a.webhook_url_file,
                "webhook_url",
                "BLOG_POSTER_ALERT_WEBHOOK_URL",
                "alert-webhook-url",
                span.clone(),
                SecretUse::AlertWebhook,
                Some(check_webhook_url),
            )),
        };
        let format = match a.format.as_ref().map(|f| (f.get_ref().as_str(), f.span())) {
            None | Some(("json", _)) => WebhookFormat::Json,
            Some(("slack", _)) => WebhookFormat::Slack,
            Some((other, s)) => {
                self.push(
                    s,
                    "format",
                    format!("unknown webhook format \"{other}\""),
                    Some("use json or slack".into()),
                );
                WebhookFormat::Json
            }
        };
        let url = url?;
        let timeout = self.duration(
            &a.webhook_timeout,
            "webhook_timeout",
            Duration::from_secs(10),
        );
        Some(WebhookConfig {
            url,
            format,
            timeout,
        })
    }

    fn smtp(&mut self, table: &S<RawSmtp>) -> Option<SmtpConfig> {
        let span = table.span();
        let s = table.get_ref();
        let host = s.host.get_ref().trim().to_string();
        if host.is_empty() || host.contains(char::is_whitespace) {
            self.push(
                s.host.span(),
                "host",
                format!("\"{host}\" is not a host name"),
                Some("use the relay's name, like smtp.example.com".into()),
            );
            return None;
        }
        let tls = match s.tls.as_ref().map(|t| (t.get_ref().as_str(), t.span())) {
            None | Some(("starttls", _)) => SmtpTls::StartTls,
            Some(("tls", _)) => SmtpTls::Tls,
            Some(("none", _)) => SmtpTls::None,
            Some((other, sp)) => {
                self.push(
                    sp,
                    "tls",
                    format!("unknown SMTP TLS mode \"{other}\""),
                    Some(
                        "use starttls (port 587), tls (port 465) or none (a relay on this host)"
                            .into(),
                    ),
                );
                SmtpTls::StartTls
            }
        };
        let port = match &s.port {
            Some(p) if *p.get_ref() == 0 => {
                self.push(
                    p.span(),
                    "port",
                    "0 is not a port".into(),
                    Some("use 587 or 465".into()),
                );
                return None;
            }
            Some(p) => *p.get_ref(),
            None => match tls {
                SmtpTls::Tls => 465,
                SmtpTls::StartTls => 587,
                SmtpTls::None => 25,
            },
        };
        let from = s.from.get_ref().trim().to_string();
        if !plausible_address(&from) {
            self.push(
                s.from.span(),
                "from",
                format!("\"{from}\" is not an email address"),
                Some("write it like alerts@example.com".into()),
            );
            return None;
        }
        let to: Vec<String> =
            s.to.get_ref()
                .iter()
                .map(|t| t.trim().to_string())
                .collect();
        if to.is_empty() {
            self.push(
                s.to.span(),
                "to",
                "no recipients".into(),
                Some("list at least one, like to = [\"ops@example.com\"]".into()),
            );
            return None;
        }
        if let Some(bad) = to.iter().find(|t| !plausible_address(t)) {
            self.push(
                s.to.span(),
                "to",
                format!("\"{bad}\" is not an email address"),
                Some("write it like ops@example.com".into()),
            );
            return None;
        }
        let username = s.username.as_ref().map(|u| u.get_ref().clone());
        let password = match &username {
            Some(_) => Some(self.secret(
                &s.password_env,
                &s.password_file,
                "password",
                "BLOG_POSTER_SMTP_PASSWORD",
                "smtp-password",
                span,
                SecretUse::AlertEmail,
            )),
            None => {
                if let Some(p) = s.password_env.as_ref().or(s.password_file.as_ref()) {
                    self.push(
                        p.span(),
                        "password_env",
                        "a password is given without a username".into(),
                        Some("add username = \"…\" or remove the password key".into()),
                    );
                }
                None
            }
        };
        let timeout = self.duration(&s.timeout, "timeout", Duration::from_secs(30));
        Some(SmtpConfig {
            host,
            port,
            tls,
            username,
            password,
            from,
            to,
            timeout,
        })
    }
}

/// A bare `local@domain` with nothing that could break an SMTP command or a
/// header (no spaces, angle brackets or line breaks), and one that lettre,
/// which writes the alert email, accepts: refused here with the key and
/// line rather than when the first alert goes out.
fn plausible_address(a: &str) -> bool {
    let Some((local, domain)) = a.rsplit_once('@') else {
        return false;
    };
    !local.is_empty()
        && !domain.is_empty()
        && !a
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || matches!(c, '<' | '>' | ',' | ';'))
        && a.parse::<lettre::Address>().is_ok()
}

/// A webhook URL must be a full http(s) URL. The message never holds the
/// value: Slack's URLs carry their token.
fn check_webhook_url(value: &str) -> Result<String, (String, String)> {
    let value = value.trim();
    match reqwest::Url::parse(value) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host_str().is_some() => {
            Ok(value.to_string())
        }
        _ => Err((
            "the webhook URL is not an http(s) URL".into(),
            "use the full URL, like https://hooks.slack.com/services/…".into(),
        )),
    }
}
