//! Sage's country codes → ISO 3166 alpha-2 for ShipStation. Sage keeps three characters, normally
//! ISO alpha-3 ("USA", "AUT"); a site's own codes ("UK") are mapped by `orders.countries`. An
//! unknown code is refused with its name: cutting "AUT" to "AU" would ship to Australia.

use crate::connections::OrderSettings;

/// The ISO alpha-2 code for a Sage country code, or a sentence saying what to fix.
pub fn alpha2(settings: &OrderSettings, code: &str, what: &str) -> Result<String, String> {
    let code = code.trim().to_ascii_uppercase();
    if code.is_empty() {
        return Ok(settings.blank_country.trim().to_ascii_uppercase());
    }
    if let Some((_, iso)) = settings
        .countries
        .iter()
        .find(|(k, _)| k.trim().eq_ignore_ascii_case(&code))
    {
        return Ok(iso.trim().to_ascii_uppercase());
    }
    let found = match code.len() {
        3 => celes::Country::from_alpha3(&code).ok(),
        2 => celes::Country::from_alpha2(&code).ok(),
        _ => None,
    };
    found.map(|c| c.alpha2.to_string()).ok_or_else(|| {
        format!(
            "{what} country code {code:?} is not an ISO 3166 country code: correct it in Sage, or map it in the connection setting orders.countries (e.g. {{\"{code}\": \"GB\"}})"
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_alpha3_maps_to_its_own_alpha2_never_a_truncation() {
        let s = OrderSettings::default();
        for (sage, iso) in [
            ("USA", "US"),
            ("AUT", "AT"),
            ("CHN", "CN"),
            ("IRL", "IE"),
            ("PRT", "PT"),
            ("DEU", "DE"),
            ("CHE", "CH"),
            ("GBR", "GB"),
            ("can", "CA"),
            ("MX", "MX"),
            ("", "US"),
        ] {
            assert_eq!(alpha2(&s, sage, "ship-to").unwrap(), iso, "{sage}");
        }
        let e = alpha2(&s, "UK", "sales order 0000042 ship-to").unwrap_err();
        assert!(
            e.contains("\"UK\"") && e.contains("orders.countries"),
            "{e}"
        );
        assert!(alpha2(&s, "XYZ", "ship-to").is_err());
        let mut site = OrderSettings::default();
        site.countries.insert("UK".into(), "GB".into());
        assert_eq!(alpha2(&site, "uk", "ship-to").unwrap(), "GB");
    }
}
