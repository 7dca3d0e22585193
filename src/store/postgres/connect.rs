//! Opening connections: the URL parsed once (sslmode mapped to what the
//! `postgres` crate understands), TLS with rustls (our CA file, the system
//! roots, or — only when asked — no verification, logged loudly on every
//! connect), connect and statement timeouts, TCP keepalives.
//!
//! sslmode, as libpq users expect it:
//! - `disable`: no TLS.
//! - `prefer` (the default): TLS when the server offers it. Like libpq, the
//!   certificate is checked only when `ca_file` is set: this protects against
//!   eavesdropping, not against a server in the middle.
//! - `require`, `verify-ca`, `verify-full`: TLS or no connection, and the
//!   certificate must chain to `ca_file` (or the system roots without it)
//!   and name the host. `tls_insecure = true` skips that check.

use std::sync::Arc;
use std::time::Duration;

use ::postgres::Client;
use ::postgres::config::{Host, SslMode};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use tokio_postgres_rustls::MakeRustlsConnect;

use super::map_err;
use crate::config::PgOptions;
use crate::store::{StoreError, StoreResult};

/// The URL with any password replaced by `***` — in the userinfo or as a
/// `password=` parameter — safe for logs and output (see [`crate::redact::url`]).
pub fn redact_url(url: &str) -> String {
    crate::redact::url(url)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verify {
    /// Chain to the configured CA or the system roots, host name checked.
    Full,
    /// Anything the server presents (prefer without a CA, or tls_insecure).
    Nothing,
}

pub(super) struct Connector {
    config: ::postgres::Config,
    tls: MakeRustlsConnect,
    insecure_warning: bool,
    setup: String,
    described: String,
}

fn config_error(message: String) -> StoreError {
    StoreError::Schema(message)
}

impl Connector {
    pub(super) fn new(url: &str, options: &PgOptions) -> StoreResult<Connector> {
        let described = redact_url(url);
        // tokio-postgres knows disable/prefer/require only: verify-ca and
        // verify-full become require (we always verify under require).
        let mut requested = "prefer".to_string();
        let mut parsed = url::Url::parse(url).map_err(|e| {
            config_error(format!(
                "database.url {described} is not a valid URL ({e}); use postgres://user:password@host:5432/dbname?sslmode=require"
            ))
        })?;
        let pairs: Vec<(String, String)> = parsed
            .query_pairs()
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        {
            let mut q = parsed.query_pairs_mut();
            q.clear();
            for (k, v) in &pairs {
                if k == "sslmode" {
                    requested = v.clone();
                    let mapped = match v.as_str() {
                        "disable" | "prefer" | "require" => v.as_str(),
                        "verify-ca" | "verify-full" => "require",
                        "allow" => "prefer",
                        other => {
                            return Err(config_error(format!(
                                "database.url: unknown sslmode \"{other}\"; use disable, prefer, require or verify-full"
                            )));
                        }
                    };
                    q.append_pair(k, mapped);
                } else {
                    q.append_pair(k, v);
                }
            }
        }
        let mut text = parsed.to_string();
        if text.ends_with('?') {
            text.pop();
        }
        let mut config: ::postgres::Config = text
            .parse()
            .map_err(|e| config_error(format!("database.url {described} cannot be used: {e}")))?;
        if config.get_user().is_none() {
            // Without a user the driver asks the OS for the login name, a
            // passwd lookup the static binary must never make.
            return Err(config_error(format!(
                "database.url {described} names no user; write postgres://USER:PASSWORD@host/dbname"
            )));
        }
        if config.get_hosts().is_empty() {
            return Err(config_error(format!(
                "database.url {described} names no host; write postgres://user:password@HOST:5432/dbname"
            )));
        }
        config
            .connect_timeout(options.connect_timeout)
            .keepalives(true)
            .keepalives_idle(Duration::from_secs(30))
            .application_name(&options.application_name);
        let ssl_mode = config.get_ssl_mode();
        let verify = match (ssl_mode, options.tls_insecure, &options.ca_file) {
            (_, true, _) => Verify::Nothing,
            (SslMode::Prefer, false, None) => Verify::Nothing,
            _ => Verify::Full,
        };
        let tls = MakeRustlsConnect::new(tls_config(verify, options.ca_file.as_deref())?);
        let mut setup = format!(
            "SET statement_timeout = {}; SET lock_timeout = {}; SET client_min_messages = warning",
            options.statement_timeout.as_millis(),
            options.statement_timeout.as_millis()
        );
        if let Some(schema) = &options.schema {
            setup.push_str(&format!("; SET search_path TO {}", quote_ident(schema)));
        }
        tracing::debug!(database = %described, sslmode = %requested, "PostgreSQL settings");
        Ok(Connector {
            config,
            tls,
            insecure_warning: options.tls_insecure && ssl_mode != SslMode::Disable,
            setup,
            described,
        })
    }

    pub(super) fn describe(&self) -> String {
        format!("postgres {}", self.described)
    }

    pub(super) fn connect(&self) -> StoreResult<Client> {
        let config = resolved(&self.config)?;
        if self.insecure_warning {
            tracing::warn!(
                database = %self.described,
                "database.tls_insecure = true: the server's certificate is NOT checked; anyone between \
                 here and the database can read and change the data. Set database.ca_file instead"
            );
        }
        let mut client = config.connect(self.tls.clone()).map_err(|e| {
            let hosts: Vec<String> = self
                .config
                .get_hosts()
                .iter()
                .map(|h| match h {
                    Host::Tcp(name) => name.clone(),
                    Host::Unix(path) => path.display().to_string(),
                })
                .collect();
            match map_err(e) {
                StoreError::Unavailable(m) | StoreError::Backend(m) => StoreError::Unavailable(
                    format!(
                        "cannot connect to PostgreSQL at {} ({}): {m}. Check that the server runs and \
                         database.url (host, port, user, password, sslmode; ca_file for a managed database)",
                        hosts.join(","),
                        self.described
                    ),
                ),
                other => other,
            }
        })?;
        client.batch_execute(&self.setup).map_err(map_err)?;
        Ok(client)
    }
}

/// The config with each host name resolved by hickory (`hostaddr`; the name
/// stays for TLS). The driver would call glibc's getaddrinfo, whose NSS
/// modules can crash the static binary. Resolved at every connect: a
/// managed database's failover moves the name to another address.
fn resolved(config: &::postgres::Config) -> StoreResult<::postgres::Config> {
    let names: Vec<&str> = config
        .get_hosts()
        .iter()
        .filter_map(|h| match h {
            Host::Tcp(name) => Some(name.as_str()),
            Host::Unix(_) => None,
        })
        .collect();
    let needs_lookup = names.iter().any(|n| n.parse::<std::net::IpAddr>().is_err());
    if !config.get_hostaddrs().is_empty()
        || names.len() != config.get_hosts().len()
        || !needs_lookup
    {
        return Ok(config.clone());
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| StoreError::Unavailable(format!("cannot start the DNS lookup: {e}")))?;
    let addrs = rt.block_on(async {
        // IPv4 first: database servers often listen on one family only,
        // and `hostaddr` takes one address per host.
        let resolver = hickory_resolver::TokioResolver::builder_tokio()
            .and_then(|mut b| {
                b.options_mut().ip_strategy =
                    hickory_resolver::config::LookupIpStrategy::Ipv4thenIpv6;
                b.build()
            })
            .map_err(|e| StoreError::Unavailable(format!("cannot read the DNS configuration: {e}")))?;
        let mut addrs = Vec::with_capacity(names.len());
        for name in &names {
            let ip = match name.parse::<std::net::IpAddr>() {
                Ok(ip) => ip,
                Err(_) => resolver
                    .lookup_ip(*name)
                    .await
                    .ok()
                    .and_then(|l| l.iter().next())
                    .ok_or_else(|| {
                        StoreError::Unavailable(format!(
                            "cannot resolve the database host \"{name}\"; check database.url and DNS"
                        ))
                    })?,
            };
            addrs.push(ip);
        }
        Ok::<_, StoreError>(addrs)
    })?;
    let mut config = config.clone();
    for ip in addrs {
        config.hostaddr(ip);
    }
    Ok(config)
}

/// `"name"` with inner quotes doubled: a safe SQL identifier.
fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

fn tls_config(
    verify: Verify,
    ca_file: Option<&std::path::Path>,
) -> StoreResult<rustls::ClientConfig> {
    let builder = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| StoreError::Backend(format!("TLS set-up failed: {e}")))?;
    if verify == Verify::Nothing {
        return Ok(builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AcceptAnyCertificate(provider())))
            .with_no_client_auth());
    }
    let mut roots = rustls::RootCertStore::empty();
    match ca_file {
        Some(path) => {
            let pem = std::fs::read(path).map_err(|e| {
                config_error(format!(
                    "database.ca_file {}: cannot read it: {e}",
                    path.display()
                ))
            })?;
            let mut added = 0;
            for cert in rustls_pemfile_certs(&pem) {
                if roots.add(cert).is_ok() {
                    added += 1;
                }
            }
            if added == 0 {
                return Err(config_error(format!(
                    "database.ca_file {} holds no PEM certificate (expected -----BEGIN CERTIFICATE-----)",
                    path.display()
                )));
            }
        }
        None => {
            let found = rustls_native_certs::load_native_certs();
            roots.add_parsable_certificates(found.certs);
            if roots.is_empty() {
                return Err(config_error(
                    "sslmode=require needs a CA to check the server against: set database.ca_file \
                     (your provider's CA certificate) or install the ca-certificates package"
                        .into(),
                ));
            }
        }
    }
    Ok(builder.with_root_certificates(roots).with_no_client_auth())
}

/// The certificates of a PEM file.
fn rustls_pemfile_certs(pem: &[u8]) -> Vec<CertificateDer<'static>> {
    use rustls::pki_types::pem::PemObject;
    CertificateDer::pem_slice_iter(pem)
        .filter_map(Result::ok)
        .collect()
}

/// libpq's `sslmode=require`/`prefer` without a CA: encryption only.
#[derive(Debug)]
struct AcceptAnyCertificate(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for AcceptAnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacted_url_hides_the_password() {
        let r = redact_url("postgres://app:s3cret@db.example:25060/bp?sslmode=require");
        assert!(!r.contains("s3cret"), "{r}");
        assert!(r.contains("app:***@db.example:25060"), "{r}");
    }

    #[test]
    fn verify_full_is_accepted_and_unknown_sslmode_is_refused() {
        let opts = PgOptions::default();
        assert!(Connector::new("postgres://u@localhost/db?sslmode=verify-full", &opts).is_ok());
        let err = Connector::new("postgres://u@localhost/db?sslmode=bogus", &opts)
            .err()
            .expect("refused");
        assert!(
            err.to_string().contains("unknown sslmode \"bogus\""),
            "{err}"
        );
    }

    #[test]
    fn a_url_without_user_is_refused_before_any_passwd_lookup() {
        let err = Connector::new("postgres://localhost/db", &PgOptions::default())
            .err()
            .expect("refused");
        assert!(err.to_string().contains("names no user"), "{err}");
    }

    #[test]
    fn missing_ca_file_is_named() {
        let opts = PgOptions {
            ca_file: Some("/nonexistent/ca.pem".into()),
            ..PgOptions::default()
        };
        let err = Connector::new("postgres://u@localhost/db?sslmode=require", &opts)
            .err()
            .expect("refused");
        assert!(err.to_string().contains("database.ca_file"), "{err}");
    }
}
