//! The explicit type mapping between SQLite values and PostgreSQL columns,
//! the COPY text encoding, and the canonical encoding both sides are hashed
//! with. A value that does not fit its target column (text in a BIGINT,
//! 2 in a BOOLEAN, NUL inside text, an integer too large for a REAL) is an
//! error naming the table, column and row — never a silent conversion.
//!
//! | PostgreSQL column | accepted SQLite value | notes |
//! |---|---|---|
//! | bigint | INTEGER | i64 exact, extremes included |
//! | integer, smallint | INTEGER in range | |
//! | boolean | INTEGER 0 or 1 | anything else is refused |
//! | double precision, real | REAL, or INTEGER with \|n\| ≤ 2^53 | bit-exact |
//! | text, character varying | TEXT (UTF-8, no NUL) | JSON is TEXT on both sides |
//! | any | NULL | |

use sha2::{Digest, Sha256};

/// The PostgreSQL column types `db copy` knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PgType {
    BigInt,
    Integer,
    SmallInt,
    Boolean,
    Double,
    Real,
    Text,
}

impl PgType {
    /// From `information_schema.columns.data_type`.
    pub fn parse(data_type: &str) -> Option<PgType> {
        Some(match data_type {
            "bigint" => PgType::BigInt,
            "integer" => PgType::Integer,
            "smallint" => PgType::SmallInt,
            "boolean" => PgType::Boolean,
            "double precision" => PgType::Double,
            "real" => PgType::Real,
            "text" | "character varying" => PgType::Text,
            _ => return None,
        })
    }
}

/// One value, already in the target's terms.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Int(i64),
    Bool(bool),
    Float(f64),
    Text(String),
}

/// Why a value cannot go into its column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mismatch(pub String);

const MAX_EXACT_FLOAT_INT: i64 = 1 << 53;

/// Maps one SQLite value to the target column's type.
pub fn from_sqlite(v: rusqlite::types::ValueRef<'_>, ty: PgType) -> Result<Value, Mismatch> {
    use rusqlite::types::ValueRef as V;
    let got = |what: &str| Mismatch(format!("{what} cannot go into a {ty:?} column"));
    Ok(match (v, ty) {
        (V::Null, _) => Value::Null,
        (V::Integer(n), PgType::BigInt) => Value::Int(n),
        (V::Integer(n), PgType::Integer) if i32::try_from(n).is_ok() => Value::Int(n),
        (V::Integer(n), PgType::SmallInt) if i16::try_from(n).is_ok() => Value::Int(n),
        (V::Integer(n), PgType::Integer | PgType::SmallInt) => {
            return Err(Mismatch(format!("{n} is out of range for a {ty:?} column")));
        }
        (V::Integer(0), PgType::Boolean) => Value::Bool(false),
        (V::Integer(1), PgType::Boolean) => Value::Bool(true),
        (V::Integer(n), PgType::Boolean) => {
            return Err(Mismatch(format!("{n} is not a boolean (0 or 1)")));
        }
        (V::Integer(n), PgType::Double | PgType::Real) if n.abs() <= MAX_EXACT_FLOAT_INT => {
            Value::Float(n as f64)
        }
        (V::Integer(n), PgType::Double | PgType::Real) => {
            return Err(Mismatch(format!("{n} has no exact floating-point value")));
        }
        (V::Real(f), PgType::Double) => Value::Float(f),
        (V::Real(f), PgType::Real) if (f as f32) as f64 == f || !f.is_finite() => Value::Float(f),
        (V::Real(f), PgType::Real) => {
            return Err(Mismatch(format!("{f} does not fit a REAL (f32) exactly")));
        }
        (V::Text(t), PgType::Text) => {
            let s = std::str::from_utf8(t).map_err(|_| got("text that is not UTF-8"))?;
            if s.contains('\0') {
                return Err(got("text with a NUL character"));
            }
            Value::Text(s.to_string())
        }
        (V::Integer(_), _) => return Err(got("an integer")),
        (V::Real(_), _) => return Err(got("a real number")),
        (V::Text(_), _) => return Err(got("text")),
        (V::Blob(_), _) => return Err(got("a blob")),
    })
}

/// Reads column `i` of a PostgreSQL row typed as `ty`.
pub fn from_pg(row: &postgres::Row, i: usize, ty: PgType) -> Result<Value, postgres::Error> {
    Ok(match ty {
        PgType::BigInt => row
            .try_get::<_, Option<i64>>(i)?
            .map_or(Value::Null, Value::Int),
        PgType::Integer => row
            .try_get::<_, Option<i32>>(i)?
            .map_or(Value::Null, |n| Value::Int(n.into())),
        PgType::SmallInt => row
            .try_get::<_, Option<i16>>(i)?
            .map_or(Value::Null, |n| Value::Int(n.into())),
        PgType::Boolean => row
            .try_get::<_, Option<bool>>(i)?
            .map_or(Value::Null, Value::Bool),
        PgType::Double => row
            .try_get::<_, Option<f64>>(i)?
            .map_or(Value::Null, Value::Float),
        PgType::Real => row
            .try_get::<_, Option<f32>>(i)?
            .map_or(Value::Null, |f| Value::Float(f.into())),
        PgType::Text => row
            .try_get::<_, Option<String>>(i)?
            .map_or(Value::Null, Value::Text),
    })
}

/// Appends the value in COPY's text format.
pub fn copy_text(v: &Value, out: &mut Vec<u8>) {
    match v {
        Value::Null => out.extend_from_slice(b"\\N"),
        Value::Int(n) => out.extend_from_slice(n.to_string().as_bytes()),
        Value::Bool(b) => out.push(if *b { b't' } else { b'f' }),
        Value::Float(f) if f.is_nan() => out.extend_from_slice(b"NaN"),
        Value::Float(f) if f.is_infinite() => {
            out.extend_from_slice(if *f > 0.0 { b"Infinity" } else { b"-Infinity" })
        }
        // Rust prints the shortest text that reads back to the same bits.
        Value::Float(f) => out.extend_from_slice(format!("{f:?}").as_bytes()),
        Value::Text(s) => {
            for b in s.bytes() {
                match b {
                    b'\\' => out.extend_from_slice(b"\\\\"),
                    b'\n' => out.extend_from_slice(b"\\n"),
                    b'\r' => out.extend_from_slice(b"\\r"),
                    b'\t' => out.extend_from_slice(b"\\t"),
                    _ => out.push(b),
                }
            }
        }
    }
}

/// Feeds the value's canonical encoding to `hash`: a type tag, then an
/// unambiguous body (integers in decimal, floats by their bits, text
/// length-prefixed), so equal hashes mean equal typed values.
pub fn canonical(v: &Value, hash: &mut Sha256) {
    match v {
        Value::Null => hash.update(b"N;"),
        Value::Int(n) => hash.update(format!("I{n};").as_bytes()),
        Value::Bool(b) => hash.update(if *b { b"B1;" } else { b"B0;" }),
        Value::Float(f) => hash.update(format!("F{:016x};", f.to_bits()).as_bytes()),
        Value::Text(s) => {
            hash.update(format!("T{}:", s.len()).as_bytes());
            hash.update(s.as_bytes());
            hash.update(b";");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rusqlite::types::ValueRef as V;

    #[test]
    fn booleans_are_zero_or_one_only() {
        assert_eq!(
            from_sqlite(V::Integer(1), PgType::Boolean),
            Ok(Value::Bool(true))
        );
        assert_eq!(
            from_sqlite(V::Integer(0), PgType::Boolean),
            Ok(Value::Bool(false))
        );
        assert!(from_sqlite(V::Integer(2), PgType::Boolean).is_err());
        assert!(from_sqlite(V::Text(b"true"), PgType::Boolean).is_err());
    }

    #[test]
    fn integers_keep_their_extremes_and_refuse_text() {
        for n in [i64::MIN, -1, 0, i64::MAX] {
            assert_eq!(
                from_sqlite(V::Integer(n), PgType::BigInt),
                Ok(Value::Int(n))
            );
        }
        assert!(from_sqlite(V::Integer(1 << 40), PgType::Integer).is_err());
        assert!(from_sqlite(V::Text(b"12"), PgType::BigInt).is_err());
        assert!(from_sqlite(V::Real(1.5), PgType::BigInt).is_err());
    }

    #[test]
    fn floats_are_bit_exact_and_integers_only_when_exact() {
        assert_eq!(
            from_sqlite(V::Integer(3), PgType::Double),
            Ok(Value::Float(3.0))
        );
        assert!(from_sqlite(V::Integer(i64::MAX), PgType::Double).is_err());
        let mut out = Vec::new();
        copy_text(&Value::Float(0.1 + 0.2), &mut out);
        let back: f64 = std::str::from_utf8(&out)
            .expect("utf8")
            .parse()
            .expect("f64");
        assert_eq!(back.to_bits(), (0.1f64 + 0.2).to_bits());
    }

    #[test]
    fn text_is_escaped_for_copy_and_nul_is_refused() {
        let mut out = Vec::new();
        copy_text(&Value::Text("a\\b\tc\nd\re ü {\"k\": 1}".into()), &mut out);
        assert_eq!(out, "a\\\\b\\tc\\nd\\re ü {\"k\": 1}".as_bytes());
        assert!(from_sqlite(V::Text(b"a\0b"), PgType::Text).is_err());
        let mut null = Vec::new();
        copy_text(&Value::Null, &mut null);
        assert_eq!(null, b"\\N");
    }

    #[test]
    fn canonical_encoding_tells_types_and_boundaries_apart() {
        let h = |vals: &[Value]| {
            let mut s = Sha256::new();
            for v in vals {
                canonical(v, &mut s);
            }
            hex::encode(s.finalize())
        };
        assert_ne!(h(&[Value::Int(1)]), h(&[Value::Bool(true)]));
        assert_ne!(h(&[Value::Text("1".into())]), h(&[Value::Int(1)]));
        assert_ne!(h(&[Value::Null]), h(&[Value::Text(String::new())]));
        assert_ne!(
            h(&[Value::Text("ab".into()), Value::Text("c".into())]),
            h(&[Value::Text("a".into()), Value::Text("bc".into())])
        );
    }
}
