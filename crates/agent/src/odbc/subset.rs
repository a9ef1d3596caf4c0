//! The SQL the ProvideX ODBC driver accepts (../shared/reference/sage100.md §4), as a checker every
//! statement passes before it is sent: PostgreSQL and SQL Server accept far more, so a test
//! database alone would not notice a statement a real Sage 100 Standard/Advanced refuses.
//!
//! Accepted, and nothing else:
//! ```text
//! SELECT col {, col} FROM source [WHERE cond {AND|OR cond}] [ORDER BY col {, col}]
//! source := table | {IJ table alias INNER JOIN table alias ON col = col {AND col = col}}
//! cond   := col op literal            op := = | <> | < | > | <= | >=
//! literal:= 'text' | number | {d 'YYYY-MM-DD'}
//! ```
//! Rules from the driver's documented limits: no parameters (values inlined), dates only as
//! `{d …}` (a date column compared with plain text is refused), at most one join and only inside
//! `{IJ …}`, no ORDER BY with a join (misbehaves), no subqueries, UNION, TOP, functions,
//! quoted identifiers, square brackets or semicolons.

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    pub statement: String,
    pub reason: String,
}

impl fmt::Display for Refused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "a statement outside the ProvideX ODBC subset ({}): {}",
            self.reason, self.statement
        )
    }
}

impl std::error::Error for Refused {}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Word(String),
    Text(String),
    Number(String),
    Symbol(&'static str),
    Open,
    Close,
}

const SYMBOLS: &[&str] = &["<=", ">=", "<>", "=", "<", ">", ",", "."];

fn tokens(sql: &str) -> Result<Vec<Token>, String> {
    let chars: Vec<char> = sql.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
        } else if c.is_ascii_alphabetic() || c == '_' {
            let start = i;
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
            out.push(Token::Word(chars[start..i].iter().collect()));
        } else if c.is_ascii_digit()
            || (c == '-' && chars.get(i + 1).is_some_and(char::is_ascii_digit))
        {
            let start = i;
            i += 1;
            while i < chars.len() && (chars[i].is_ascii_digit() || chars[i] == '.') {
                i += 1;
            }
            out.push(Token::Number(chars[start..i].iter().collect()));
        } else if c == '\'' {
            let mut text = String::new();
            i += 1;
            loop {
                match chars.get(i) {
                    None => return Err("an unterminated string literal".into()),
                    Some('\'') if chars.get(i + 1) == Some(&'\'') => {
                        text.push('\'');
                        i += 2;
                    }
                    Some('\'') => {
                        i += 1;
                        break;
                    }
                    Some(ch) if ch.is_control() => {
                        return Err("a control character in a string literal".into())
                    }
                    Some(ch) => {
                        text.push(*ch);
                        i += 1;
                    }
                }
            }
            out.push(Token::Text(text));
        } else if c == '{' {
            out.push(Token::Open);
            i += 1;
        } else if c == '}' {
            out.push(Token::Close);
            i += 1;
        } else if let Some(s) = SYMBOLS
            .iter()
            .find(|s| chars[i..].iter().take(s.len()).copied().eq(s.chars()))
        {
            out.push(Token::Symbol(s));
            i += s.len();
        } else {
            return Err(format!("the character {c:?}"));
        }
    }
    Ok(out)
}

/// Words that end an identifier list or introduce a clause; never a column or table name.
const RESERVED: &[&str] = &[
    "SELECT", "FROM", "WHERE", "AND", "OR", "ORDER", "BY", "INNER", "JOIN", "ON", "IJ", "UNION",
    "TOP", "DISTINCT", "NOT", "IN", "LIKE", "IS", "NULL", "GROUP", "HAVING", "AS", "ALL", "LEFT",
    "RIGHT", "OUTER", "EXISTS", "BETWEEN",
];

struct Parser {
    tokens: Vec<Token>,
    at: usize,
    joins: usize,
}

fn is_kw(t: Option<&Token>, kw: &str) -> bool {
    matches!(t, Some(Token::Word(w)) if w.eq_ignore_ascii_case(kw))
}

/// A date column by Sage's naming (DateUpdated, OrderDate, ShipExpireDate, …).
fn is_date_column(name: &str) -> bool {
    let bare = name.rsplit('.').next().unwrap_or(name);
    bare.starts_with("Date") || bare.ends_with("Date")
}

fn valid_date(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 10
        && b[4] == b'-'
        && b[7] == b'-'
        && s.chars()
            .enumerate()
            .all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit())
        && (1..=12).contains(&s[5..7].parse::<u32>().unwrap_or(0))
        && (1..=31).contains(&s[8..10].parse::<u32>().unwrap_or(0))
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.at)
    }

    fn next(&mut self) -> Option<Token> {
        let t = self.tokens.get(self.at).cloned();
        self.at += 1;
        t
    }

    fn keyword(&mut self, kw: &str) -> Result<(), String> {
        if is_kw(self.peek(), kw) {
            self.at += 1;
            Ok(())
        } else {
            Err(format!("expected {kw}, found {}", self.describe_next()))
        }
    }

    fn describe_next(&self) -> String {
        match self.peek() {
            None => "the end".into(),
            Some(Token::Word(w)) => w.clone(),
            Some(Token::Text(_)) => "a string".into(),
            Some(Token::Number(n)) => n.clone(),
            Some(Token::Symbol(s)) => (*s).into(),
            Some(Token::Open) => "{".into(),
            Some(Token::Close) => "}".into(),
        }
    }

    /// A name, optionally qualified by an alias (`h.InvoiceNo`).
    fn name(&mut self) -> Result<String, String> {
        let mut name = match self.next() {
            Some(Token::Word(w)) if !RESERVED.iter().any(|r| r.eq_ignore_ascii_case(&w)) => w,
            Some(Token::Word(w)) => return Err(format!("{w} is not allowed here")),
            _ => {
                self.at -= 1;
                return Err(format!("expected a name, found {}", self.describe_next()));
            }
        };
        if self.peek() == Some(&Token::Symbol(".")) {
            self.at += 1;
            match self.next() {
                Some(Token::Word(w)) => name = format!("{name}.{w}"),
                _ => return Err("a qualified name without its column".into()),
            }
        }
        Ok(name)
    }

    fn names(&mut self) -> Result<(), String> {
        self.name()?;
        while self.peek() == Some(&Token::Symbol(",")) {
            self.at += 1;
            self.name()?;
        }
        Ok(())
    }

    fn source(&mut self) -> Result<(), String> {
        if self.peek() != Some(&Token::Open) {
            return self.name().map(drop);
        }
        self.at += 1;
        self.keyword("IJ")?;
        self.joins += 1;
        if self.joins > 1 {
            return Err("more than one join".into());
        }
        self.name()?;
        self.name()?; // alias
        self.keyword("INNER")?;
        self.keyword("JOIN")?;
        self.name()?;
        self.name()?;
        self.keyword("ON")?;
        loop {
            self.name()?;
            if self.next() != Some(Token::Symbol("=")) {
                return Err("a join condition other than column = column".into());
            }
            self.name()?;
            if is_kw(self.peek(), "AND") {
                self.at += 1;
            } else {
                break;
            }
        }
        if self.next() != Some(Token::Close) {
            return Err("an unclosed {IJ …} escape".into());
        }
        Ok(())
    }

    fn condition(&mut self) -> Result<(), String> {
        let column = self.name()?;
        match self.next() {
            Some(Token::Symbol(op)) if ["=", "<>", "<", ">", "<=", ">="].contains(&op) => {}
            _ => {
                return Err(format!(
                    "a comparison on {column} other than = <> < > <= >="
                ))
            }
        }
        match self.next() {
            Some(Token::Text(_)) if is_date_column(&column) => Err(format!(
                "{column} compared with plain text: dates must be {{d 'YYYY-MM-DD'}}"
            )),
            Some(Token::Text(_)) | Some(Token::Number(_)) => Ok(()),
            Some(Token::Open) => {
                if !is_kw(self.next().as_ref(), "d") {
                    return Err("an escape other than {d …} in a condition".into());
                }
                match (self.next(), self.next()) {
                    (Some(Token::Text(date)), Some(Token::Close)) if valid_date(&date) => Ok(()),
                    _ => Err("a {d …} escape without a valid 'YYYY-MM-DD'".into()),
                }
            }
            _ => Err(format!(
                "{column} compared with something other than a literal"
            )),
        }
    }

    fn statement(&mut self) -> Result<(), String> {
        self.keyword("SELECT")?;
        self.names()?;
        self.keyword("FROM")?;
        self.source()?;
        if is_kw(self.peek(), "WHERE") {
            self.at += 1;
            self.condition()?;
            while is_kw(self.peek(), "AND") || is_kw(self.peek(), "OR") {
                self.at += 1;
                self.condition()?;
            }
        }
        if is_kw(self.peek(), "ORDER") {
            if self.joins > 0 {
                return Err("ORDER BY with a join".into());
            }
            self.at += 1;
            self.keyword("BY")?;
            self.names()?;
        }
        match self.peek() {
            None => Ok(()),
            Some(_) => Err(format!("unexpected {}", self.describe_next())),
        }
    }
}

/// Accept `sql` if the ProvideX driver would, or say why not.
pub fn check(sql: &str) -> Result<(), Refused> {
    let refuse = |reason: String| Refused {
        statement: sql.to_string(),
        reason,
    };
    let tokens = tokens(sql).map_err(|what| refuse(format!("{what} is not allowed")))?;
    let mut p = Parser {
        tokens,
        at: 0,
        joins: 0,
    };
    p.statement().map_err(refuse)
}

#[cfg(test)]
mod tests {
    use super::check;

    #[test]
    fn accepts_the_subset() {
        for sql in [
            "SELECT SalesOrderNo, DateUpdated FROM SO_SalesOrderHeader WHERE DateUpdated >= {d '2026-12-01'}",
            "SELECT ItemCode FROM CI_Item WHERE ItemCode = 'WID''100'",
            "SELECT a FROM T WHERE x = 1 AND y <> 'b' OR z >= -2.5 ORDER BY a, b",
            "SELECT h.InvoiceNo FROM {IJ SO_ARInvoiceHistoryLink l INNER JOIN AR_InvoiceHistoryHeader h ON l.InvoiceNo = h.InvoiceNo AND l.InvoiceHistoryHeaderSeqNo = h.HeaderSeqNo} WHERE l.SalesOrderNo = '0000001'",
        ] {
            check(sql).unwrap_or_else(|e| panic!("{e}"));
        }
    }

    #[test]
    fn refuses_what_providex_does_not_take() {
        for (sql, why) in [
            ("SELECT a FROM T WHERE a = ?", "?"),
            ("SELECT a FROM T; DELETE FROM T", ";"),
            ("SELECT a FROM T WHERE DateUpdated >= '2026-12-01'", "plain text"),
            ("SELECT a FROM T WHERE OrderDate = '20261201'", "plain text"),
            ("SELECT a FROM T WHERE DateUpdated >= {d '2026-13-01'}", "valid"),
            ("SELECT a FROM T WHERE DateUpdated >= {ts '2026-12-01 00:00:00'}", "{d"),
            ("SELECT a FROM T WHERE a IN (SELECT b FROM U)", "("),
            ("SELECT a FROM T UNION SELECT a FROM U", "UNION"),
            ("SELECT TOP 10 a FROM T", "TOP"),
            ("SELECT [a] FROM T", "["),
            ("SELECT \"a\" FROM T", "\""),
            ("SELECT a FROM T INNER JOIN U ON T.a = U.a", "INNER"),
            ("SELECT a FROM {IJ T t INNER JOIN U u ON t.a = u.a} ORDER BY a", "ORDER BY with a join"),
            ("SELECT a FROM {IJ T t INNER JOIN {IJ U u INNER JOIN V v ON u.a = v.a} ON t.a = u.a}", "name"),
            ("SELECT a FROM T WHERE a = 'unterminated", "unterminated"),
            ("SELECT a FROM T WHERE a = 'x\ny'", "control"),
            ("SELECT COUNT(a) FROM T", "("),
            ("SELECT a FROM T WHERE a LIKE 'x%'", "comparison"),
            ("DELETE FROM T", "expected SELECT"),
        ] {
            let e = check(sql).expect_err(sql);
            assert!(e.to_string().contains(why), "{sql}: {e}");
        }
    }
}
