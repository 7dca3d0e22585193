//! Embedded, numbered, append-only migrations and the checks that keep them
//! honest: an applied migration whose text changed, or a database migrated
//! by a newer binary, stops the program with a message that says what to do.
//! Backend-neutral; each backend applies the plan in its own transaction.

use sha2::{Digest, Sha256};

use super::{AppliedMigration, StoreError};

/// One migration file, embedded at build time.
#[derive(Debug, Clone, Copy)]
pub struct Migration {
    pub version: u32,
    pub name: &'static str,
    pub sql: &'static str,
}

impl Migration {
    pub fn checksum(&self) -> String {
        checksum(self.sql)
    }

    /// "0001_initial", as the file is named.
    pub fn file_stem(&self) -> String {
        format!("{:04}_{}", self.version, self.name)
    }
}

/// Both backends' migration lists from one table, so they cannot drift
/// apart in versions or names: each entry (version, its four-digit file
/// prefix, name) is embedded from migrations/sqlite/ and migrations/postgres/.
macro_rules! migrations {
    ($($version:literal $number:literal $name:literal),* $(,)?) => {
        /// The SQLite migrations, in order. A test checks this list against
        /// the files in migrations/sqlite/, so a new file cannot be forgotten.
        pub const SQLITE: &[Migration] = &[$(Migration {
            version: $version,
            name: $name,
            sql: include_str!(concat!(
                "../../migrations/sqlite/", $number, "_", $name, ".sql"
            )),
        }),*];

        /// The PostgreSQL migrations: the same versions and names as SQLITE
        /// (a test checks both lists against their folders), each written in
        /// PostgreSQL's types. Checksummed the same way.
        pub const POSTGRES: &[Migration] = &[$(Migration {
            version: $version,
            name: $name,
            sql: include_str!(concat!(
                "../../migrations/postgres/", $number, "_", $name, ".sql"
            )),
        }),*];
    };
}

migrations! {
    1 "0001" "initial",
    2 "0002" "publishing",
    3 "0003" "llm_budget",
    4 "0004" "api_tokens",
    5 "0005" "backups",
    6 "0006" "poison_pill",
    7 "0007" "source_skipped_entries",
    8 "0008" "wait_kinds",
    9 "0009" "topic_reservations",
}

/// sha256 of the migration text, hex.
pub fn checksum(sql: &str) -> String {
    hex::encode(Sha256::digest(sql.as_bytes()))
}

/// Checks the applied migrations against the known ones and returns those
/// still to apply, in order.
pub fn plan<'a>(
    applied: &[AppliedMigration],
    known: &'a [Migration],
) -> Result<Vec<&'a Migration>, StoreError> {
    let latest = known.last().map_or(0, |m| m.version);
    if let Some(newest) = applied.iter().map(|a| a.version).max()
        && newest > latest
    {
        return Err(StoreError::Schema(format!(
            "the database is at schema version {newest}, but this blog-poster knows only up to {latest}: \
             it was used by a newer blog-poster. Install that version again (or newer), or restore a backup \
             taken before the upgrade; nothing was changed"
        )));
    }
    for a in applied {
        let Some(m) = known.iter().find(|m| m.version == a.version) else {
            return Err(StoreError::Schema(format!(
                "the database has migration {} ({}) that this blog-poster does not know; install the version \
                 that created this database",
                a.version, a.name
            )));
        };
        if m.checksum() != a.checksum {
            return Err(StoreError::Schema(format!(
                "migration {} was changed after it was applied to this database (checksum {} in the database, \
                 {} in this binary). Migrations are append-only: restore the original file and add a new \
                 migration for the change; nothing was changed",
                m.file_stem(),
                short(&a.checksum),
                short(&m.checksum())
            )));
        }
    }
    Ok(known
        .iter()
        .filter(|m| !applied.iter().any(|a| a.version == m.version))
        .collect())
}

fn short(sum: &str) -> &str {
    &sum[..sum.len().min(12)]
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;

    const KNOWN: &[Migration] = &[
        Migration {
            version: 1,
            name: "initial",
            sql: "CREATE TABLE a (x);",
        },
        Migration {
            version: 2,
            name: "more",
            sql: "CREATE TABLE b (y);",
        },
    ];

    fn applied(version: u32, sql: &str) -> AppliedMigration {
        AppliedMigration {
            version,
            name: format!("m{version}"),
            checksum: checksum(sql),
            applied_at: Utc::now(),
        }
    }

    #[test]
    fn fresh_database_gets_every_migration_in_order() {
        let plan = plan(&[], KNOWN).expect("plan");
        assert_eq!(plan.iter().map(|m| m.version).collect::<Vec<_>>(), [1, 2]);
    }

    #[test]
    fn partially_migrated_database_gets_the_rest() {
        let plan = plan(&[applied(1, KNOWN[0].sql)], KNOWN).expect("plan");
        assert_eq!(plan.iter().map(|m| m.version).collect::<Vec<_>>(), [2]);
    }

    #[test]
    fn edited_migration_is_refused_by_name() {
        let err = plan(&[applied(1, "CREATE TABLE a (x, z);")], KNOWN).expect_err("edited");
        let msg = err.to_string();
        assert!(
            msg.contains("0001_initial was changed after it was applied"),
            "{msg}"
        );
    }

    #[test]
    fn newer_database_is_refused() {
        let err = plan(&[applied(1, KNOWN[0].sql), applied(3, "x")], KNOWN).expect_err("newer");
        assert!(err.to_string().contains("schema version 3"), "{err}");
    }

    #[test]
    fn both_backends_have_the_same_migrations() {
        let names = |list: &[Migration]| list.iter().map(Migration::file_stem).collect::<Vec<_>>();
        assert_eq!(
            names(SQLITE),
            names(POSTGRES),
            "every SQLite migration needs its PostgreSQL mirror with the same number and name"
        );
    }

    #[test]
    fn embedded_postgres_list_matches_the_migration_files() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/migrations/postgres");
        let mut files: Vec<String> = std::fs::read_dir(dir)
            .expect("migrations dir")
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".sql"))
            .collect();
        files.sort();
        let listed: Vec<String> = POSTGRES
            .iter()
            .map(|m| format!("{}.sql", m.file_stem()))
            .collect();
        assert_eq!(
            files, listed,
            "every file in migrations/postgres must be listed in POSTGRES"
        );
    }

    #[test]
    fn embedded_list_matches_the_migration_files() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/migrations/sqlite");
        let mut files: Vec<String> = std::fs::read_dir(dir)
            .expect("migrations dir")
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".sql"))
            .collect();
        files.sort();
        let listed: Vec<String> = SQLITE
            .iter()
            .map(|m| format!("{}.sql", m.file_stem()))
            .collect();
        assert_eq!(
            files, listed,
            "every file in migrations/sqlite must be listed in SQLITE, in order"
        );
        for (i, m) in SQLITE.iter().enumerate() {
            assert_eq!(m.version as usize, i + 1, "versions are consecutive from 1");
        }
    }
}
