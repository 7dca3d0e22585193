//! The ids of the rows the pipeline passes around (sites, runs, jobs,
//! articles): distinct types over the database's integer keys, so a job id
//! is never taken for a run id.

use serde::{Deserialize, Serialize};

macro_rules! id_type {
    ($name:ident) => {
        #[derive(
            Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
        )]
        #[serde(transparent)]
        pub struct $name(pub i64);

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                write!(f, "{}", self.0)
            }
        }
    };
}

id_type!(SiteId);
id_type!(RunId);
id_type!(JobId);
id_type!(ArticleId);
