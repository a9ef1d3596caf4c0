//! Which SOAP faults mean what. Sage's texts differ by version and no public source lists them, so
//! they are settings (`sage.record_lock_texts`, `sage.not_on_file_codes`, `sage.not_on_file_texts`)
//! whose defaults are what the connector matched before they existed.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FaultTexts {
    /// A fault whose message contains one of these (any case) is a record lock: retried.
    pub record_lock: Vec<String>,
    /// Fault codes meaning "not on file".
    pub not_on_file_codes: Vec<String>,
    /// Message texts meaning "not on file" (any case, anywhere in the message).
    pub not_on_file_texts: Vec<String>,
}

impl Default for FaultTexts {
    fn default() -> Self {
        Self {
            record_lock: vec!["in use by another user".into()],
            not_on_file_codes: vec!["CI_NoKey".into()],
            not_on_file_texts: Vec::new(),
        }
    }
}

fn contains_any(message: &str, texts: &[String]) -> bool {
    let lower = message.to_lowercase();
    texts
        .iter()
        .map(|t| t.trim().to_lowercase())
        .any(|t| !t.is_empty() && lower.contains(&t))
}

impl FaultTexts {
    pub fn is_record_lock(&self, message: &str) -> bool {
        contains_any(message, &self.record_lock)
    }

    pub fn is_not_on_file(&self, code: &str, message: &str) -> bool {
        self.not_on_file_codes
            .iter()
            .any(|c| c.trim().eq_ignore_ascii_case(code.trim()))
            || contains_any(message, &self.not_on_file_texts)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_match_what_was_matched_before_and_sites_add_their_own() {
        let f = FaultTexts::default();
        assert!(f.is_record_lock("The record is in use by another user."));
        assert!(!f.is_record_lock("Datensatz ist gesperrt"));
        assert!(f.is_not_on_file("CI_NoKey", "The SalesOrderNo 0000042 does not exist."));
        assert!(!f.is_not_on_file("CI_NOF", "Sales order is not on file."));
        let site = FaultTexts {
            record_lock: vec!["gesperrt".into()],
            not_on_file_codes: vec![],
            not_on_file_texts: vec!["not on file".into()],
        };
        assert!(site.is_record_lock("Datensatz ist GESPERRT"));
        assert!(site.is_not_on_file("CI_NOF", "Sales order is Not On File."));
        assert!(!site.is_not_on_file("CI_NoKey", "gone"));
    }
}
