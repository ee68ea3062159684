//! The backend-neutral SQL layer: statements written once, in PostgreSQL's `$N` form, and
//! the small dialect that turns them into SQLite's.
//!
//! - [`Statement`]: a statement both backends run as it is, apart from placeholders.
//!   SQLite numbers `$name` parameters by first appearance, so `$2` before `$1` would bind
//!   the wrong values there; [`Statement::sqlite`] rewrites `$N` as `?N`, which SQLite binds
//!   by number. The rewritten text is made once per statement and kept.
//! - [`Dialect`] and [`Args`]: what dynamic SQL (filters built per request) needs to know
//!   of an engine: how a placeholder is written and how a case-blind `LIKE` is.
//! - [`statements`]: the statements the backends share; [`office`]: the office queries'
//!   shared fragments and the one filter builder.
//!
//! What really differs stays in each backend: locking and sequence numbering, the office
//! index refresh's batching, the coverage query, the DDL.

use std::sync::OnceLock;

pub mod office;
pub mod rows;
pub mod statements;

/// A statement written once for both engines (`$N` placeholders, plain SQL otherwise).
#[derive(Debug)]
pub struct Statement {
    text: &'static str,
    sqlite: OnceLock<String>,
}

impl Statement {
    /// A statement with `$N` placeholders.
    pub const fn new(text: &'static str) -> Statement {
        Statement {
            text,
            sqlite: OnceLock::new(),
        }
    }

    /// The text for PostgreSQL.
    pub fn pg(&self) -> &'static str {
        self.text
    }

    /// The text for SQLite (`?N` for `$N`).
    pub fn sqlite(&self) -> &str {
        self.sqlite.get_or_init(|| to_sqlite(self.text))
    }
}

/// `$N` placeholders rewritten as SQLite's `?N`; a `$` not followed by a digit stays.
pub fn to_sqlite(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '$' && chars.peek().is_some_and(char::is_ascii_digit) {
            out.push('?');
        } else {
            out.push(c);
        }
    }
    out
}

/// The engine dynamic SQL is written for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// SQLite: `?N` placeholders; `LIKE` ignores ASCII case, `\` escapes only when told.
    Sqlite,
    /// PostgreSQL: `$N` placeholders; `LIKE` is case-sensitive, `\` escapes by default.
    Postgres,
}

impl Dialect {
    /// The placeholder of argument number `n` (1-based).
    pub fn placeholder(self, n: usize) -> String {
        match self {
            Dialect::Sqlite => format!("?{n}"),
            Dialect::Postgres => format!("${n}"),
        }
    }

    /// `col` matches the `LIKE` pattern `arg` ignoring ASCII case, with `\` as escape.
    pub fn like_ignoring_case(self, col: &str, arg: &str) -> String {
        match self {
            Dialect::Sqlite => format!("{col} LIKE {arg} ESCAPE '\\'"),
            Dialect::Postgres => format!("{col} ILIKE {arg}"),
        }
    }
}

/// An argument of dynamic SQL, before a backend converts it to its own value type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Arg {
    /// Text.
    Text(String),
    /// A 64-bit integer.
    Int(i64),
}

/// The arguments of a statement built at run time, with the placeholder of each.
#[derive(Debug, Clone)]
pub struct Args {
    dialect: Dialect,
    values: Vec<Arg>,
}

impl Args {
    /// No arguments yet, for `dialect`.
    pub fn new(dialect: Dialect) -> Args {
        Args {
            dialect,
            values: Vec::new(),
        }
    }

    /// The engine the statement is for.
    pub fn dialect(&self) -> Dialect {
        self.dialect
    }

    /// Adds an argument and returns its placeholder.
    pub fn push(&mut self, v: Arg) -> String {
        self.values.push(v);
        self.dialect.placeholder(self.values.len())
    }

    /// Adds a text argument and returns its placeholder.
    pub fn text(&mut self, v: impl Into<String>) -> String {
        self.push(Arg::Text(v.into()))
    }

    /// Adds an integer argument and returns its placeholder.
    pub fn int(&mut self, v: i64) -> String {
        self.push(Arg::Int(v))
    }

    /// The arguments, in placeholder order.
    pub fn values(&self) -> &[Arg] {
        &self.values
    }
}

/// `col` starts with `prefix`, as a range an index on `col` can serve (regions are digits,
/// and `:` sorts right after `9`; on PostgreSQL the column is `"C"`-collated).
pub fn prefix_range(col: &str, prefix: &str, args: &mut Args) -> String {
    let lo = args.text(prefix);
    let hi = args.text(format!("{prefix}:"));
    format!("({col} >= {lo} AND {col} < {hi})")
}

/// ` WHERE a AND b …` for the given conditions, or nothing.
pub fn where_sql(conds: &[String]) -> String {
    if conds.is_empty() {
        String::new()
    } else {
        format!(" WHERE {}", conds.join(" AND "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_become_sqlite_numbered_ones_and_nothing_else_changes() {
        assert_eq!(
            to_sqlite("UPDATE t SET a = $2, b = '$x' WHERE id = $1 AND c = $10"),
            "UPDATE t SET a = ?2, b = '$x' WHERE id = ?1 AND c = ?10"
        );
        static S: Statement = Statement::new("SELECT $1");
        assert_eq!(S.sqlite(), "SELECT ?1");
        assert_eq!(S.pg(), "SELECT $1");
    }

    #[test]
    fn arguments_are_numbered_in_the_order_they_are_pushed() {
        let mut a = Args::new(Dialect::Sqlite);
        assert_eq!(prefix_range("r", "7371", &mut a), "(r >= ?1 AND r < ?2)");
        assert_eq!(a.int(5), "?3");
        let mut p = Args::new(Dialect::Postgres);
        assert_eq!(p.text("x"), "$1");
        assert_eq!(
            a.values(),
            &[
                Arg::Text("7371".into()),
                Arg::Text("7371:".into()),
                Arg::Int(5)
            ]
        );
    }
}
