//! PostgreSQL refuses to run as root; when we are root we run the server as an unprivileged account.

use super::PgError;

#[derive(Debug, Clone, Copy)]
pub struct Account {
    pub uid: u32,
    pub gid: u32,
}

/// The account to run the server as: `None` when we are not root (run as ourselves).
pub fn server_account() -> Result<Option<Account>, PgError> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Ok(None);
    }
    let name = std::env::var("ML_CONNECTOR_PG_USER").unwrap_or_else(|_| "nobody".to_string());
    let passwd = std::fs::read_to_string("/etc/passwd")
        .map_err(|e| PgError::Setup(format!("reading /etc/passwd: {e}")))?;
    passwd
        .lines()
        .find_map(|line| parse_passwd_line(line, &name))
        .map(Some)
        .ok_or_else(|| {
            PgError::Setup(format!(
                "running as root, and the unprivileged account {name:?} for PostgreSQL does not exist \
                 (set ML_CONNECTOR_PG_USER to an existing non-root user)"
            ))
        })
}

fn parse_passwd_line(line: &str, name: &str) -> Option<Account> {
    let mut fields = line.split(':');
    if fields.next()? != name {
        return None;
    }
    let _password = fields.next()?;
    let uid = fields.next()?.parse().ok()?;
    let gid = fields.next()?.parse().ok()?;
    (uid != 0).then_some(Account { uid, gid })
}

/// Give a directory to the server account.
pub fn hand_over(path: &std::path::Path, account: Option<Account>) -> Result<(), PgError> {
    if let Some(a) = account {
        std::os::unix::fs::chown(path, Some(a.uid), Some(a.gid))
            .map_err(|e| PgError::Setup(format!("chown {}: {e}", path.display())))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_passwd_and_refuses_root() {
        let a = parse_passwd_line(
            "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin",
            "nobody",
        )
        .unwrap();
        assert_eq!((a.uid, a.gid), (65534, 65534));
        assert!(parse_passwd_line("root:x:0:0:root:/root:/bin/bash", "root").is_none());
        assert!(parse_passwd_line("daemon:x:1:1::/:/bin/false", "nobody").is_none());
    }
}
