//! PostgreSQL-only behaviour of the store: a connection the server drops
//! (restart, failover, idle timeout of a proxy) is replaced and the call
//! succeeds; a URL with a password never shows it. Needs PostgreSQL
//! (services.rs).

use blog_poster::store::Store;

use crate::harness::t;
use crate::pg_env::TestSchema;

#[test]
fn postgres_store_reconnects_after_the_server_drops_its_connections() {
    let schema = TestSchema::create("reconnect");
    let store = schema.open();
    store.migrate(t(0)).expect("migrate");
    assert!(store.list_sites().expect("sites").is_empty());
    // The server ends every session of this schema's store (what a restart
    // or a failover does to a pool of open connections).
    let mut admin = schema.client();
    let killed: i64 = admin
        .query_one(
            "SELECT COUNT(pg_terminate_backend(pid)) FROM pg_stat_activity
             WHERE application_name = $1 AND pid <> pg_backend_pid()",
            &[&schema.name],
        )
        .expect("terminate")
        .get(0);
    assert!(killed >= 1, "the store had an open connection");
    // pg_terminate_backend only signals: wait until the sessions are gone.
    crate::harness::wait_for(
        std::time::Duration::from_secs(30),
        "the store's sessions to end",
        || {
            let left: i64 = admin
                .query_one(
                    "SELECT COUNT(*) FROM pg_stat_activity WHERE application_name = $1",
                    &[&schema.name],
                )
                .expect("count sessions")
                .get(0);
            left == 0
        },
    );
    // The next calls succeed on a new connection, reads and writes alike.
    assert!(store.list_sites().expect("sites after the drop").is_empty());
    store
        .sync_sites(
            &[blog_poster::store::SiteSpec {
                name: "a".into(),
                enabled: true,
                max_concurrency: 1,
                sources: vec![],
            }],
            t(1),
        )
        .expect("write after the drop");
    assert_eq!(store.list_sites().expect("sites").len(), 1);
}

#[test]
fn postgres_store_describes_itself_without_the_password() {
    let described = blog_poster::store::postgres::redact_url(
        "postgres://app:hunter2@db.example.com:25060/defaultdb?sslmode=require",
    );
    assert!(!described.contains("hunter2"), "{described}");
    assert!(described.contains("db.example.com:25060/defaultdb"));
}

/// A host name (not an IP) is resolved by hickory, not by glibc, and the
/// store connects; an unknown name fails with the name in the message.
#[test]
fn postgres_store_resolves_host_names_itself() {
    let schema = TestSchema::create("resolve");
    let mut url = url::Url::parse(&schema.url).expect("url");
    url.set_host(Some("localhost")).expect("host");
    let store = blog_poster::store::postgres::PgStore::open(url.as_str(), &schema.options())
        .expect("open through localhost");
    store.migrate(t(0)).expect("migrate");
    url.set_host(Some("no-such-host.invalid")).expect("host");
    let err = blog_poster::store::postgres::PgStore::open(url.as_str(), &schema.options())
        .expect_err("unknown host");
    assert!(err.to_string().contains("no-such-host.invalid"), "{err}");
    assert!(
        err.is_transient(),
        "an unreachable server is worth retrying: {err}"
    );
}
