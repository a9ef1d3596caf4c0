//! String columns on the wire: BOI hands back whatever the column holds, so a number or a boolean
//! in a `$` column is read as its text and `null` as empty, instead of failing the whole answer.

use serde::de::{self, Visitor};
use serde::Deserializer;

pub fn lenient<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    d.deserialize_any(TextVisitor)
}

struct TextVisitor;

impl Visitor<'_> for TextVisitor {
    type Value = String;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a string, a number, a boolean or null")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<String, E> {
        Ok(v.to_string())
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<String, E> {
        Ok(v)
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<String, E> {
        Ok(v.to_string())
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<String, E> {
        Ok(v.to_string())
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<String, E> {
        Ok(v.to_string())
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<String, E> {
        Ok(if v { "Y" } else { "N" }.to_string())
    }
    fn visit_unit<E: de::Error>(self) -> Result<String, E> {
        Ok(String::new())
    }
    fn visit_none<E: de::Error>(self) -> Result<String, E> {
        Ok(String::new())
    }
}

#[cfg(test)]
mod tests {
    #[derive(serde::Deserialize)]
    struct Row {
        #[serde(deserialize_with = "super::lenient", default)]
        v: String,
    }

    #[test]
    fn any_scalar_reads_as_text() {
        for (json, want) in [
            (r#"{"v": "x"}"#, "x"),
            (r#"{"v": 2.5}"#, "2.5"),
            (r#"{"v": 7}"#, "7"),
            (r#"{"v": null}"#, ""),
            (r#"{}"#, ""),
        ] {
            let r: Row = serde_json::from_str(json).unwrap();
            assert_eq!(r.v, want, "{json}");
        }
    }
}
