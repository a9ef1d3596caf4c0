//! A small JSON-Schema checker for the subset the ShipStation V2 OpenAPI file uses: type,
//! properties, required, enum, items, $ref, allOf/anyOf/oneOf, pattern-free. `additionalProperties:
//! false` is checked against the properties gathered from the schema and its allOf parts.

use serde_json::Value;

pub struct Spec {
    doc: Value,
}

impl Spec {
    pub fn load(path: &std::path::Path) -> Self {
        let text = std::fs::read_to_string(path).expect("spec file");
        let yaml: serde_yaml::Value = serde_yaml::from_str(&text).expect("YAML");
        Self {
            doc: serde_json::to_value(yaml).expect("YAML as JSON"),
        }
    }

    /// The schema of a response: path, method, status (follows a `$ref` to components/responses).
    pub fn response_schema(&self, path: &str, method: &str, status: &str) -> Value {
        let mut resp = self.doc["paths"][path][method]["responses"][status].clone();
        if let Some(r) = resp["$ref"].as_str() {
            resp = self.resolve(r);
        }
        let schema = resp["content"]["application/json"]["schema"].clone();
        assert!(!schema.is_null(), "no schema for {method} {path} {status}");
        schema
    }

    fn resolve(&self, r: &str) -> Value {
        let mut v = &self.doc;
        for part in r.trim_start_matches("#/").split('/') {
            v = &v[part];
        }
        assert!(!v.is_null(), "unresolved $ref {r}");
        v.clone()
    }

    fn deref(&self, s: &Value) -> Value {
        match s["$ref"].as_str() {
            Some(r) => self.deref(&self.resolve(r)),
            None => s.clone(),
        }
    }

    /// Property names a schema allows (its own and those of its allOf parts).
    fn known_properties(&self, s: &Value, out: &mut Vec<String>) {
        let s = self.deref(s);
        if let Some(p) = s["properties"].as_object() {
            out.extend(p.keys().cloned());
        }
        for part in s["allOf"].as_array().into_iter().flatten() {
            self.known_properties(part, out);
        }
    }

    /// Errors of `value` against `schema` (empty = valid).
    pub fn validate(&self, schema: &Value, value: &Value, at: &str) -> Vec<String> {
        let s = self.deref(schema);
        let mut errors = Vec::new();
        for part in s["allOf"].as_array().into_iter().flatten() {
            errors.extend(self.validate(part, value, at));
        }
        for key in ["anyOf", "oneOf"] {
            if let Some(options) = s[key].as_array() {
                if !options
                    .iter()
                    .any(|o| self.validate(o, value, at).is_empty())
                {
                    errors.push(format!("{at}: matches none of {key}"));
                }
            }
        }
        if let Some(t) = s.get("type") {
            let types: Vec<&str> = match t {
                Value::String(x) => vec![x.as_str()],
                Value::Array(xs) => xs.iter().filter_map(Value::as_str).collect(),
                _ => vec![],
            };
            let ok = types.iter().any(|t| match *t {
                "object" => value.is_object(),
                "array" => value.is_array(),
                "string" => value.is_string(),
                "integer" => value.is_i64() || value.is_u64(),
                "number" => value.is_number(),
                "boolean" => value.is_boolean(),
                "null" => value.is_null(),
                _ => true,
            });
            if !ok {
                errors.push(format!("{at}: expected {types:?}, got {value}"));
                return errors;
            }
        }
        if let Some(e) = s["enum"].as_array() {
            if !e.contains(value) {
                errors.push(format!("{at}: {value} not in enum"));
            }
        }
        if let Some(obj) = value.as_object() {
            for r in s["required"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
            {
                if !obj.contains_key(r) {
                    errors.push(format!("{at}: missing required {r}"));
                }
            }
            let props = s["properties"].as_object().cloned().unwrap_or_default();
            for (k, v) in obj {
                if let Some(ps) = props.get(k) {
                    errors.extend(self.validate(ps, v, &format!("{at}.{k}")));
                }
            }
            if s["additionalProperties"] == Value::Bool(false) {
                let mut known = Vec::new();
                self.known_properties(&s, &mut known);
                for k in obj.keys() {
                    if !known.contains(k) {
                        errors.push(format!("{at}: unexpected property {k}"));
                    }
                }
            }
        }
        if let (Some(items), Some(arr)) = (s.get("items"), value.as_array()) {
            for (i, v) in arr.iter().enumerate() {
                errors.extend(self.validate(items, v, &format!("{at}[{i}]")));
            }
        }
        errors
    }
}
