//! Releases on the release server (the GitHub Releases API, or a mirror or
//! test server speaking it at `[update] api_url`): listing them through
//! `self_update`, picking one, downloading its assets and checking every
//! one against SHA256SUMS and its signature before anything uses it.

use std::cmp::Ordering;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::config::UpdateConfig;

use super::UpdateError;
use super::signature::{SignedSums, TrustedKeys};

/// The build target every release ships (the only one built so far).
pub const TARGET: &str = "x86_64-unknown-linux-gnu";

pub fn tarball_name(version: &str) -> String {
    format!("blog-poster-{version}-{TARGET}.tar.gz")
}

/// The .deb, named with the release's version as tagged (Debian's own
/// version turns `-` into `~`, which GitHub would rename in an asset name).
pub fn deb_name(version: &str) -> String {
    format!("blog-poster_{version}_amd64.deb")
}

/// The binary inside the tarball.
pub fn tarball_binary(version: &str) -> String {
    format!("blog-poster-{version}-{TARGET}/blog-poster")
}

/// One release as the server lists it.
#[derive(Debug, Clone)]
pub struct ReleaseInfo {
    pub version: String,
    pub date: String,
    pub notes: Option<String>,
    assets: Vec<(String, String)>,
}

impl ReleaseInfo {
    fn asset_url(&self, name: &str) -> Option<&str> {
        self.assets
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, u)| u.as_str())
    }
}

/// Compares two versions by semver; what does not parse sorts first.
pub fn cmp_versions(a: &str, b: &str) -> Ordering {
    self_update::version::cmp_versions(a, b).unwrap_or(Ordering::Less)
}

/// The releases at the configured server, newest first.
pub fn list(cfg: &UpdateConfig) -> Result<Vec<ReleaseInfo>, UpdateError> {
    let list = self_update::backends::github::ReleaseList::configure()
        .repo_owner(cfg.repo_owner.clone())
        .repo_name(cfg.repo_name.clone())
        .api_base_url(cfg.api_url.clone())
        .build()
        .map_err(|e| UpdateError::Network(format!("release list: {e}")))?;
    let releases = list.fetch().map_err(|e| {
        UpdateError::Network(format!(
            "cannot list the releases of {}/{} at {}: {e}",
            cfg.repo_owner, cfg.repo_name, cfg.api_url
        ))
    })?;
    let mut out: Vec<ReleaseInfo> = releases
        .into_vec()
        .into_iter()
        .filter(|r| self_update::version::cmp_versions(r.version(), "0.0.0").is_ok())
        .map(|r| ReleaseInfo {
            version: r.version().to_string(),
            date: r.date().to_string(),
            notes: r.body().map(str::to_string),
            assets: r
                .assets()
                .iter()
                .map(|a| (a.name().to_string(), a.download_url().to_string()))
                .collect(),
        })
        .collect();
    out.sort_by(|a, b| cmp_versions(&b.version, &a.version));
    Ok(out)
}

/// The newest release, or the one asked for.
pub fn pick<'a>(
    releases: &'a [ReleaseInfo],
    version: Option<&str>,
) -> Result<&'a ReleaseInfo, UpdateError> {
    match version {
        None => releases
            .first()
            .ok_or_else(|| UpdateError::NotFound("the release server lists no release".into())),
        Some(v) => {
            let v = v.trim_start_matches('v');
            releases.iter().find(|r| r.version == v).ok_or_else(|| {
                let known: Vec<&str> = releases
                    .iter()
                    .take(10)
                    .map(|r| r.version.as_str())
                    .collect();
                UpdateError::NotFound(format!(
                    "there is no release {v} (known: {})",
                    if known.is_empty() {
                        "none".to_string()
                    } else {
                        known.join(", ")
                    }
                ))
            })
        }
    }
}

/// The releases after `current` up to and including `target`, newest
/// first: what an update to `target` brings.
pub fn between<'a>(
    releases: &'a [ReleaseInfo],
    current: &str,
    target: &str,
) -> Vec<&'a ReleaseInfo> {
    releases
        .iter()
        .filter(|r| {
            cmp_versions(&r.version, current) == Ordering::Greater
                && cmp_versions(&r.version, target) != Ordering::Greater
        })
        .collect()
}

/// A release's files on disk, every one checked.
#[derive(Debug, Clone)]
pub struct Verified {
    pub version: String,
    pub dir: PathBuf,
    pub tarball: PathBuf,
    pub deb: Option<PathBuf>,
    /// Which key signed it.
    pub signer: String,
}

const MAX_ASSET: u64 = 256 * 1024 * 1024;

fn download(release: &ReleaseInfo, name: &str, dest: &Path) -> Result<(), UpdateError> {
    let url = release.asset_url(name).ok_or_else(|| {
        UpdateError::Refused(format!(
            "release {} has no asset {name}: unsigned releases are refused (and incomplete ones)",
            release.version
        ))
    })?;
    let tmp = dest.with_extension("partial");
    let file = std::fs::File::create(&tmp).map_err(|e| UpdateError::Io {
        what: format!("cannot create {}", tmp.display()),
        source: e,
    })?;
    self_update::Download::from_url(url)
        .request_header("Accept", "application/octet-stream")
        .timeout(Duration::from_secs(300))
        .max_download_size(MAX_ASSET)
        .download_to(std::io::BufWriter::new(file))
        .map_err(|e| UpdateError::Network(format!("cannot download {name}: {e}")))?;
    std::fs::rename(&tmp, dest).map_err(|e| UpdateError::Io {
        what: format!("cannot rename {}", tmp.display()),
        source: e,
    })
}

/// The files of `version` a download brings, signatures included.
fn asset_names(version: &str, with_deb: bool) -> Vec<String> {
    let mut names = vec![tarball_name(version)];
    if with_deb {
        names.push(deb_name(version));
    }
    names
}

/// Downloads the release into `dir` (created; emptied of old files) and
/// verifies it. `with_deb`: the .deb is needed (a .deb install).
pub fn download_verified(
    release: &ReleaseInfo,
    dir: &Path,
    keys: &TrustedKeys,
    with_deb: bool,
) -> Result<Verified, UpdateError> {
    if dir.exists() {
        std::fs::remove_dir_all(dir).map_err(|e| UpdateError::Io {
            what: format!("cannot empty {}", dir.display()),
            source: e,
        })?;
    }
    std::fs::create_dir_all(dir).map_err(|e| UpdateError::Io {
        what: format!("cannot create {}", dir.display()),
        source: e,
    })?;
    for name in ["SHA256SUMS".to_string(), "SHA256SUMS.sig".to_string()]
        .into_iter()
        .chain(
            asset_names(&release.version, with_deb)
                .into_iter()
                .flat_map(|n| [format!("{n}.sig"), n]),
        )
    {
        download(release, &name, &dir.join(&name))?;
    }
    verify_dir(dir, &release.version, keys, with_deb)
}

/// Checks release files already on disk (downloaded by the unprivileged
/// daemon, so trusted only through their signatures).
pub fn verify_dir(
    dir: &Path,
    version: &str,
    keys: &TrustedKeys,
    with_deb: bool,
) -> Result<Verified, UpdateError> {
    let read = |name: &str| {
        std::fs::read(dir.join(name)).map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                UpdateError::Refused(format!(
                    "{name} is missing from the release: unsigned releases are refused"
                ))
            } else {
                UpdateError::Io {
                    what: format!("cannot read {}", dir.join(name).display()),
                    source: e,
                }
            }
        })
    };
    let sums = SignedSums::verify(keys, &read("SHA256SUMS")?, &read("SHA256SUMS.sig")?)?;
    for name in asset_names(version, with_deb) {
        let sig = read(&format!("{name}.sig"))?;
        sums.check_artifact(keys, &name, &dir.join(&name), &sig)?;
    }
    Ok(Verified {
        version: version.to_string(),
        dir: dir.to_path_buf(),
        tarball: dir.join(tarball_name(version)),
        deb: with_deb.then(|| dir.join(deb_name(version))),
        signer: sums.signer,
    })
}

impl Verified {
    /// Unpacks the binary from the (verified) tarball to `dest`.
    pub fn extract_binary(&self, dest: &Path) -> Result<(), UpdateError> {
        let tmp = self.dir.join("unpacked");
        let _ = std::fs::remove_dir_all(&tmp);
        let inner = tarball_binary(&self.version);
        self_update::Extract::from_source(&self.tarball)
            .archive(self_update::ArchiveKind::Tar(Some(
                self_update::Compression::Gz,
            )))
            .extract_into(&tmp)
            .map_err(|e| {
                UpdateError::Refused(format!(
                    "{} has no {inner}: not a blog-poster release ({e})",
                    self.tarball.display()
                ))
            })?;
        let from = tmp.join(&inner);
        if !from.is_file() {
            return Err(UpdateError::Refused(format!(
                "{} has no {inner}: not a blog-poster release",
                self.tarball.display()
            )));
        }
        std::fs::copy(&from, dest).map_err(|e| UpdateError::Io {
            what: format!("cannot copy the new binary to {}", dest.display()),
            source: e,
        })?;
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dest, std::fs::Permissions::from_mode(0o755)).map_err(|e| {
            UpdateError::Io {
                what: format!("cannot make {} executable", dest.display()),
                source: e,
            }
        })?;
        let _ = std::fs::remove_dir_all(&tmp);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(v: &str) -> ReleaseInfo {
        ReleaseInfo {
            version: v.into(),
            date: String::new(),
            notes: None,
            assets: vec![],
        }
    }

    #[test]
    fn between_lists_what_an_update_brings() {
        let list = vec![r("0.4.0"), r("0.3.0"), r("0.2.0"), r("0.1.0")];
        let got: Vec<&str> = between(&list, "0.1.0", "0.3.0")
            .iter()
            .map(|r| r.version.as_str())
            .collect();
        assert_eq!(got, ["0.3.0", "0.2.0"]);
        assert!(pick(&list, Some("v0.2.0")).is_ok());
        assert!(pick(&list, Some("9.9.9")).is_err());
        assert_eq!(pick(&list, None).expect("latest").version, "0.4.0");
    }

    #[test]
    fn pre_releases_sort_before_their_release() {
        assert_eq!(cmp_versions("0.2.0-test", "0.2.0"), Ordering::Less);
        assert_eq!(cmp_versions("0.2.0", "0.1.0"), Ordering::Greater);
    }
}
