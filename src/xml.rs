//! A small XML element tree on quick-xml, for SOAP envelopes and WSDL documents: elements by
//! local name, each with its resolved namespace and the prefixes it declares (a WSDL names types
//! as `prefix:name` in attribute values). Generic: it knows nothing of any system's wire format. Bounded: a document deeper, larger or
//! with more elements than the limits is an error, and trees are dropped without recursion, so a
//! hostile answer cannot exhaust the stack or the memory.

/// Deepest nesting accepted (a SOAP sales order is about 8 levels deep).
pub const MAX_DEPTH: usize = 64;
/// Largest document accepted, in bytes.
pub const MAX_BYTES: usize = 16 << 20;
/// Most elements accepted in one document.
pub const MAX_ELEMENTS: usize = 200_000;

use quick_xml::events::Event;
use quick_xml::name::ResolveResult;
use quick_xml::NsReader;

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Element {
    /// Local name (prefix stripped).
    pub name: String,
    /// The element's namespace URI (empty: none).
    pub ns: String,
    /// Namespace declarations on this element: (prefix, URI); the default namespace has prefix "".
    pub namespaces: Vec<(String, String)>,
    /// Attributes by local name (namespace declarations included, as before).
    pub attrs: Vec<(String, String)>,
    pub children: Vec<Element>,
    pub text: String,
}

/// Iterative, so a deep tree cannot overflow the stack (cloning recurses, but parsed trees are at
/// most MAX_DEPTH deep).
impl Drop for Element {
    fn drop(&mut self) {
        let mut pending = std::mem::take(&mut self.children);
        while let Some(mut e) = pending.pop() {
            pending.append(&mut e.children);
        }
    }
}

impl Element {
    pub fn child(&self, name: &str) -> Option<&Element> {
        self.children.iter().find(|c| c.name == name)
    }

    pub fn children_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Element> + 'a {
        self.children.iter().filter(move |c| c.name == name)
    }

    /// Text of a direct child (trimmed), if present.
    pub fn text_of(&self, name: &str) -> Option<&str> {
        self.child(name).map(|c| c.text.trim())
    }

    /// Follow a path of local names.
    pub fn path(&self, names: &[&str]) -> Option<&Element> {
        names.iter().try_fold(self, |e, n| e.child(n))
    }

    pub fn is_nil(&self) -> bool {
        self.attrs.iter().any(|(k, v)| k == "nil" && v == "true")
    }

    /// An attribute's value by local name.
    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// The local part of an element or attribute name, if the name is an XML name. quick-xml reads
/// any run of characters up to whitespace, `/` or `>` as a name (`<a<b`, `<x&y`, `<p:`); such a
/// name written back into a request would change that request's structure, so it is refused.
fn local(name: &[u8]) -> Result<String, String> {
    let s = String::from_utf8_lossy(name);
    let local = s.rsplit(':').next().unwrap_or_default();
    if !is_name(&s) || !is_name(local) {
        return Err(format!("malformed XML: {:?} is not an XML name", s));
    }
    Ok(local.to_string())
}

/// XML 1.0 names, simplified to: a letter, `_` or `:` first, then letters, digits, `-`, `.`,
/// `_`, `:` (any non-ASCII letter or digit counts as one).
fn is_name(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_alphanumeric() || matches!(c, '-' | '.' | '_' | ':'))
}

/// Parse a document into its root element. Errors name the position.
pub fn parse(text: &str) -> Result<Element, String> {
    if text.len() > MAX_BYTES {
        return Err(format!(
            "XML document of {} bytes refused (the limit is {MAX_BYTES})",
            text.len()
        ));
    }
    let mut reader = NsReader::from_str(text);
    reader.config_mut().trim_text(false);
    let mut stack: Vec<Element> = Vec::new();
    let mut root: Option<Element> = None;
    let mut elements = 0usize;
    loop {
        // An unknown prefix reads as no namespace: answers are read by local name anyway.
        let step = reader.read_resolved_event().map(|(resolved, event)| {
            let ns = match resolved {
                ResolveResult::Bound(n) => String::from_utf8_lossy(n.as_ref()).into_owned(),
                _ => String::new(),
            };
            (ns, event)
        });
        let (ns, event) = match step {
            Ok(x) => x,
            Err(e) => {
                return Err(format!(
                    "malformed XML at byte {}: {e}",
                    reader.buffer_position()
                ))
            }
        };
        match event {
            Event::Start(ref s) | Event::Empty(ref s) if root.is_none() => {
                elements += 1;
                if stack.len() >= MAX_DEPTH {
                    return Err(format!(
                        "XML nested deeper than {MAX_DEPTH} elements refused"
                    ));
                }
                if elements > MAX_ELEMENTS {
                    return Err(format!(
                        "XML with more than {MAX_ELEMENTS} elements refused"
                    ));
                }
                let mut el = Element {
                    name: local(s.name().as_ref())?,
                    ns,
                    namespaces: Vec::new(),
                    attrs: Vec::new(),
                    children: Vec::new(),
                    text: String::new(),
                };
                for a in s.attributes().flatten() {
                    let v = a
                        .unescape_value()
                        .map(|v| v.into_owned())
                        .unwrap_or_default();
                    let key = String::from_utf8_lossy(a.key.as_ref()).into_owned();
                    if key == "xmlns" {
                        el.namespaces.push((String::new(), v.clone()));
                    } else if let Some(prefix) = key.strip_prefix("xmlns:") {
                        el.namespaces.push((prefix.to_string(), v.clone()));
                    }
                    el.attrs.push((local(a.key.as_ref())?, v));
                }
                stack.push(el);
                if matches!(event, Event::Empty(_)) {
                    close(&mut stack, &mut root);
                }
            }
            Event::End(_) => close(&mut stack, &mut root),
            Event::Text(t) => {
                if let Some(top) = stack.last_mut() {
                    let s = t.decode().map_err(|e| format!("bad text: {e}"))?;
                    top.text.push_str(&s);
                }
            }
            Event::GeneralRef(r) => {
                if let Some(top) = stack.last_mut() {
                    let resolved = match r
                        .resolve_char_ref()
                        .map_err(|e| format!("bad character reference: {e}"))?
                    {
                        Some(ch) => ch.to_string(),
                        None => {
                            let name = r.decode().map_err(|e| format!("bad entity: {e}"))?;
                            quick_xml::escape::resolve_predefined_entity(&name)
                                .ok_or_else(|| format!("unknown entity &{name};"))?
                                .to_string()
                        }
                    };
                    top.text.push_str(&resolved);
                }
            }
            Event::CData(c) => {
                if let Some(top) = stack.last_mut() {
                    top.text.push_str(&String::from_utf8_lossy(&c));
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    if !stack.is_empty() {
        return Err(format!(
            "malformed XML: <{}> is never closed",
            stack.last().map(|e| e.name.as_str()).unwrap_or("?")
        ));
    }
    root.ok_or_else(|| "malformed XML: no root element".to_string())
}

fn close(stack: &mut Vec<Element>, root: &mut Option<Element>) {
    if let Some(done) = stack.pop() {
        match stack.last_mut() {
            Some(parent) => parent.children.push(done),
            None => *root = Some(done),
        }
    }
}

/// Escape text for element content and attribute values.
pub fn escape(s: &str) -> String {
    quick_xml::escape::escape(s).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_namespaced_soap() {
        let doc = r#"<?xml version="1.0"?><s:Envelope xmlns:s="x"><s:Body><GetSalesOrder xmlns="y"><logon><Username>u &amp; v</Username><Password/></logon><salesOrderNo>0001</salesOrderNo></GetSalesOrder></s:Body></s:Envelope>"#;
        let e = parse(doc).unwrap();
        assert_eq!(e.name, "Envelope");
        let op = &e.child("Body").unwrap().children[0];
        assert_eq!(op.name, "GetSalesOrder");
        assert_eq!(op.path(&["logon", "Username"]).unwrap().text, "u & v");
        assert_eq!(op.path(&["logon", "Password"]).unwrap().text, "");
        assert_eq!(op.text_of("salesOrderNo"), Some("0001"));
        assert_eq!((e.ns.as_str(), op.ns.as_str()), ("x", "y"));
        assert_eq!(op.namespaces, vec![(String::new(), "y".to_string())]);
        assert_eq!(op.path(&["logon", "Username"]).unwrap().ns, "y");
    }

    #[test]
    /// Found by the `soap_answer` fuzz target: `<00</OrderDate>` was read as an element named
    /// `00</OrderDate`, and writing the order back (UpdateSalesOrder) produced malformed XML
    /// shaped by the answer.
    fn names_that_are_not_xml_names_are_refused() {
        for bad in [
            "<r><00</OrderDate>x</00</OrderDate></r>",
            "<r><a&b>x</a&b></r>",
            "<r><p:>x</p:></r>",
            "<r><a\"b>x</a\"b></r>",
            "<r a<b=\"1\"/>",
        ] {
            let err = parse(bad).unwrap_err();
            assert!(err.contains("not an XML name"), "{bad}: {err}");
        }
        let ok = parse(
            r#"<s:Envelope xmlns:s="u"><s:Body><Ré_sumé-1.x i:nil="true"/></s:Body></s:Envelope>"#,
        )
        .unwrap();
        assert_eq!(ok.path(&["Body", "Ré_sumé-1.x"]).unwrap().attrs[0].0, "nil");
    }

    #[test]
    fn hostile_documents_are_refused_not_a_crash() {
        // 10,000 nested elements (about 70 KB) used to overflow the stack.
        let deep = format!("{}{}", "<a>".repeat(10_000), "</a>".repeat(10_000));
        let err = parse(&deep).unwrap_err();
        assert!(err.contains("deeper than"), "{err}");
        let ok_depth = format!("{}{}", "<a>".repeat(MAX_DEPTH), "</a>".repeat(MAX_DEPTH));
        assert!(parse(&ok_depth).is_ok());
        let wide = format!("<r>{}</r>", "<b/>".repeat(MAX_ELEMENTS + 1));
        assert!(parse(&wide).unwrap_err().contains("more than"));
        let big = format!("<r>{}</r>", "x".repeat(MAX_BYTES));
        assert!(parse(&big).unwrap_err().contains("refused"));
    }

    #[test]
    fn a_deep_built_tree_drops_without_recursion() {
        let mut e = Element::default();
        for _ in 0..200_000 {
            e = Element {
                name: "a".into(),
                ns: String::new(),
                namespaces: Vec::new(),
                attrs: Vec::new(),
                children: vec![e],
                text: String::new(),
            };
        }
        drop(e);
    }

    #[test]
    fn malformed_xml_is_an_error_not_a_panic() {
        for bad in [
            "",
            "<a><b></a>",
            "<a>",
            "not xml at all <",
            "<a attr=\"x></a>",
        ] {
            assert!(parse(bad).is_err(), "{bad:?}");
        }
    }
}
