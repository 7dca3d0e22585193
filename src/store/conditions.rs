//! The WHERE clause of a paged list query, built from the filters that are
//! set — only those, so the database can use its indexes — with numbered
//! `$N` placeholders (the shared SQL's style; SQLite rewrites them) and
//! their values in the same order.

pub(crate) struct Conditions<V> {
    clauses: Vec<String>,
    values: Vec<V>,
}

impl<V> Conditions<V> {
    pub fn new() -> Self {
        Conditions {
            clauses: Vec::new(),
            values: Vec::new(),
        }
    }

    /// Adds `{expr} <placeholder>`; `expr` ends with its operator ("s.name =").
    pub fn and(&mut self, expr: &str, value: V) {
        self.values.push(value);
        self.clauses.push(format!("{expr} ${}", self.values.len()));
    }

    /// `{select} WHERE … ORDER BY {order} LIMIT <placeholder>` and the values,
    /// `limit` last.
    pub fn query(mut self, select: &str, order: &str, limit: V) -> (String, Vec<V>) {
        self.values.push(limit);
        let filter = if self.clauses.is_empty() {
            String::new()
        } else {
            format!("WHERE {}", self.clauses.join(" AND "))
        };
        let sql = format!(
            "{select} {filter} ORDER BY {order} LIMIT ${}",
            self.values.len()
        );
        (sql, self.values)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_number_the_values_in_order_with_the_limit_last() {
        let mut c = Conditions::new();
        c.and("s.name =", "blog");
        c.and("j.id <", "7");
        let (sql, values) = c.query("SELECT 1 FROM j", "j.id DESC", "50");
        assert_eq!(
            sql,
            "SELECT 1 FROM j WHERE s.name = $1 AND j.id < $2 ORDER BY j.id DESC LIMIT $3"
        );
        assert_eq!(values, ["blog", "7", "50"]);
        let (sql, values) = Conditions::new().query("SELECT 1 FROM j", "j.id", 5);
        assert_eq!(sql, "SELECT 1 FROM j  ORDER BY j.id LIMIT $1");
        assert_eq!(values, [5]);
    }
}
