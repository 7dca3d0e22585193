//! Where each secret comes from: `<name>_file`, `<name>_env`, a systemd
//! credential or a default environment variable. Secrets are only located
//! here; nothing is read, and the command that uses one reads it.

use super::*;

impl Validator<'_> {
    /// Where a secret comes from: `<name>_file`, else `<name>_env`, else the
    /// systemd credential `credential`, else the environment variable
    /// `default_env`. Nothing is read and nothing fails here: the command
    /// that uses the secret reads it (see [`super::secret`]).
    #[allow(
        clippy::too_many_arguments,
        reason = "each is one of the documented ways to name a secret"
    )]
    pub(super) fn secret(
        &mut self,
        env_key: &Option<S<String>>,
        file_key: &Option<S<String>>,
        name: &str,
        default_env: &str,
        credential: &str,
        table_span: std::ops::Range<usize>,
        purpose: SecretUse,
    ) -> Secret {
        self.secret_checked(
            env_key,
            file_key,
            name,
            default_env,
            credential,
            table_span,
            purpose,
            None,
        )
    }

    /// [`Self::secret`] with a check of the value once it is read.
    #[allow(
        clippy::too_many_arguments,
        reason = "each is one of the documented ways to name a secret"
    )]
    pub(super) fn secret_checked(
        &mut self,
        env_key: &Option<S<String>>,
        file_key: &Option<S<String>>,
        name: &str,
        default_env: &str,
        credential: &str,
        table_span: std::ops::Range<usize>,
        purpose: SecretUse,
        check: Option<SecretCheck>,
    ) -> Secret {
        let at = |v: &Self, span: std::ops::Range<usize>, key: &str| {
            let in_table = v.map.in_table(span.start);
            v.map
                .issue(span, key, format!("key \"{key}\"{in_table}: "), None)
        };
        let (source, at) = if let Some(f) = file_key {
            let path = self.path(f.get_ref());
            (
                SecretSource::File { path },
                Some(at(self, f.span(), &format!("{name}_file"))),
            )
        } else if let Some(e) = env_key {
            let var = e.get_ref();
            let key = format!("{name}_env");
            let source = match self.env.get(var).filter(|v| !v.is_empty()) {
                Some(value) => SecretSource::Known {
                    value,
                    origin: format!("env {var}"),
                },
                None => {
                    let in_table = self.map.in_table(e.span().start);
                    SecretSource::Missing(self.map.issue(
                        e.span(),
                        &key,
                        format!("key \"{key}\"{in_table}: environment variable {var} is not set"),
                        Some(format!(
                            "export {var}=… (for the service: put it in /etc/blog-poster/env), or use {name}_file = \"/path\""
                        )),
                    ))
                }
            };
            (source, Some(at(self, e.span(), &key)))
        } else {
            let fallback = match self.env.get(default_env).filter(|v| !v.is_empty()) {
                Some(value) => SecretSource::Known {
                    value,
                    origin: format!("env {default_env}"),
                },
                None => {
                    let line = self.map.line_of(table_span.start);
                    SecretSource::Missing(ConfigIssue {
                        file: self.map.file.to_string(),
                        line: Some(line),
                        key: Some(format!("{name}_env")),
                        table: self.map.table_at(table_span.start),
                        message: format!(
                            "missing secret \"{name}\"{}: none of {name}_env, {name}_file, the systemd credential \"{credential}\" or ${default_env} is set",
                            self.map.in_table(table_span.start)
                        ),
                        fix: Some(format!(
                            "export {default_env}=…, or set {name}_env = \"VAR\" or {name}_file = \"/path\""
                        )),
                    })
                }
            };
            let source = match self.env.credentials_dir() {
                Some(dir) => SecretSource::Credential {
                    path: dir.join(credential),
                    name: credential.to_string(),
                    otherwise: Box::new(fallback),
                },
                None => fallback,
            };
            let in_table = self.map.in_table(table_span.start);
            let at = self.map.issue(
                table_span,
                &format!("{name}_env"),
                format!("secret \"{name}\"{in_table}: "),
                None,
            );
            (source, Some(at))
        };
        self.new_secret(source, purpose, at, check)
    }

    /// A secret of this config: every one shares the command label and is
    /// listed in [`Config::secrets`].
    pub(super) fn new_secret(
        &mut self,
        source: SecretSource,
        purpose: SecretUse,
        at: Option<ConfigIssue>,
        check: Option<SecretCheck>,
    ) -> Secret {
        let secret = Secret::from_source(
            source,
            Some(purpose),
            at,
            check,
            self.secrets.command_cell(),
        );
        self.secrets.add(&secret);
        secret
    }
}
