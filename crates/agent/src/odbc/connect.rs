//! ODBC connections: the connection string for a company, and what a failed connection means in
//! one plain sentence (the driver manager's codes: IM002 no such DSN or driver, IM014 a 32/64-bit
//! mismatch, 28000 a refused logon).

use mlc_secret::Secret;

/// How the agent reaches a company's files.
#[derive(Clone)]
pub struct OdbcSettings {
    /// The connection string with `{company}` where the company code goes, e.g.
    /// `DSN=MLC_SAGE;COMPANY={company}` (ProvideX) or `DSN=MAS_SQL;Database=MAS_{company}` (Premium).
    /// It never holds the password: `user` and `password` are added as UID and PWD.
    pub connection: String,
    pub user: String,
    pub password: Secret,
    /// The most a statement may run (a ProvideX scan of a large file is slow, but not endless).
    pub query_timeout_secs: usize,
}

/// One attribute of a connection string; a value with `;`, `{` or `}` is braced (and `}` doubled),
/// so a password cannot end the attribute or add another.
fn attribute(key: &str, value: &str) -> String {
    if value.contains([';', '{', '}']) || value.starts_with(' ') || value.ends_with(' ') {
        format!("{key}={{{}}};", value.replace('}', "}}"))
    } else {
        format!("{key}={value};")
    }
}

impl OdbcSettings {
    /// The full connection string for `company` (holds the password: never log it).
    pub fn connection_string(&self, company: &str) -> Secret {
        let mut s = self.connection.replace("{company}", company);
        if !s.is_empty() && !s.ends_with(';') {
            s.push(';');
        }
        if !self.user.is_empty() {
            s.push_str(&attribute("UID", &self.user));
        }
        if !self.password.expose().is_empty() {
            s.push_str(&attribute("PWD", self.password.expose()));
        }
        Secret::new(s)
    }

    /// The connection string as it can be shown: no password.
    pub fn describe(&self) -> String {
        format!("odbc ({})", self.connection)
    }
}

/// The SQLSTATE of an ODBC error, when the driver manager gave one.
pub fn sql_state(e: &odbc_api::Error) -> Option<String> {
    match e {
        odbc_api::Error::Diagnostics { record, .. } => {
            Some(String::from_utf8_lossy(&record.state.0).into_owned())
        }
        _ => None,
    }
}

/// A failed connection in words a Sage partner can act on. The driver's own text follows; it
/// holds no password (drivers do not echo the connection string).
pub fn explain_connect_failure(e: &odbc_api::Error, company: &str) -> String {
    let detail = e.to_string().replace('\n', " ");
    match sql_state(e).as_deref() {
        Some("IM002") => format!(
            "The ODBC data source or driver for company {company} is not installed: create the System DSN named in the agent's settings (Sage 100 Standard/Advanced: the \"MAS 90 4.0 ODBC Driver\"; Premium: a SQL Server driver) in the ODBC Data Source Administrator of the same bitness as the agent. ({detail})"
        ),
        Some("IM014") => format!(
            "The ODBC driver for company {company} and the agent differ in bitness (32 vs 64 bit): install the {} ProvideX ODBC driver and create the DSN in that ODBC Data Source Administrator, or run the agent build that matches the driver. ({detail})",
            if cfg!(target_pointer_width = "64") { "64-bit" } else { "32-bit" }
        ),
        Some("28000") => format!(
            "Sage refused the logon for company {company}: check the Sage user and password in the agent's settings and that the user may use company {company}. ({detail})"
        ),
        _ => format!("No ODBC connection to company {company}: {detail}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_password_cannot_add_attributes() {
        let s = OdbcSettings {
            connection: "DSN=SOTAMAS90;COMPANY={company}".into(),
            user: "integration".into(),
            password: Secret::new("p;w}d"),
            query_timeout_secs: 60,
        };
        assert_eq!(
            s.connection_string("ABC").expose(),
            "DSN=SOTAMAS90;COMPANY=ABC;UID=integration;PWD={p;w}}d};"
        );
        assert!(!s.describe().contains("p;w"));
    }
}
