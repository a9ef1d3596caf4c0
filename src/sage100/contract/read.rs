//! WSDL 1.1 + XML Schema documents → `SoapContract`. Reads what a WCF service publishes: a
//! definitions document (possibly importing others), schemas inline or imported, named and
//! anonymous complex types, `sequence` / `all`, `complexContent/extension` (data contract
//! inheritance: base members first), `element ref`, and the SOAP 1.1 binding's `soapAction`s.

use std::collections::BTreeMap;

use super::{type_key, ComplexType, ContractError, Operation, Particle, SoapContract};
use crate::xml::Element;

const XSD_NS: &str = "http://www.w3.org/2001/XMLSchema";
const WSDL_NS: &str = "http://schemas.xmlsoap.org/wsdl/";
const SOAP11_NS: &str = "http://schemas.xmlsoap.org/wsdl/soap/";

/// One document read: where it came from and its root element.
pub struct Document {
    pub url: String,
    pub root: Element,
}

/// Prefixes in scope while walking a document.
#[derive(Clone, Default)]
struct Scope(Vec<(String, String)>);

impl Scope {
    fn enter(&self, e: &Element) -> Scope {
        let mut s = self.clone();
        s.0.extend(e.namespaces.iter().cloned());
        s
    }

    /// `prefix:local` (or `local`, in the default namespace) → (namespace, local).
    fn resolve(&self, qname: &str) -> Result<(String, String), String> {
        let (prefix, local) = qname.split_once(':').unwrap_or(("", qname));
        let ns = self
            .0
            .iter()
            .rev()
            .find(|(p, _)| p == prefix)
            .map(|(_, u)| u.clone());
        match ns {
            Some(ns) => Ok((ns, local.to_string())),
            None if prefix.is_empty() => Ok((String::new(), local.to_string())),
            None => Err(format!(
                "the prefix {prefix:?} of {qname:?} is not declared"
            )),
        }
    }
}

/// A schema's defaults for its local elements.
#[derive(Clone)]
struct SchemaCtx {
    target: String,
    qualified: bool,
}

/// A complex type before `extension` bases are folded in.
#[derive(Default)]
struct RawType {
    base: Option<String>,
    members: Vec<Particle>,
}

#[derive(Default)]
struct Reader {
    types: BTreeMap<String, RawType>,
    /// Global elements: key → (namespace, name, complex type key).
    elements: BTreeMap<String, Particle>,
    /// Element references to resolve once every schema is read: (type key, index, ref key).
    refs: Vec<(String, usize, String)>,
    /// Type references to resolve likewise (a `type=` may name a type defined later).
    type_refs: Vec<(TypeSlot, String)>,
    messages: BTreeMap<String, String>,
    port_ops: BTreeMap<String, String>,
    actions: BTreeMap<String, String>,
}

/// Where a named type reference must be written once known.
enum TypeSlot {
    Member(String, usize),
    Element(String),
}

fn attr<'a>(e: &'a Element, name: &str) -> Option<&'a str> {
    e.attr(name)
}

fn is(e: &Element, ns: &str, name: &str) -> bool {
    e.ns == ns && e.name == name
}

impl Reader {
    fn schema(&mut self, e: &Element, scope: &Scope) -> Result<(), String> {
        let scope = scope.enter(e);
        let ctx = SchemaCtx {
            target: attr(e, "targetNamespace").unwrap_or_default().to_string(),
            qualified: attr(e, "elementFormDefault") == Some("qualified"),
        };
        for c in &e.children {
            if is(c, XSD_NS, "complexType") {
                let name = attr(c, "name").ok_or("a top-level complexType has no name")?;
                let key = type_key(&ctx.target, name);
                self.complex_type(c, &key, &ctx, &scope)?;
            } else if is(c, XSD_NS, "element") {
                let name = attr(c, "name").ok_or("a top-level element has no name")?;
                let key = type_key(&ctx.target, name);
                let particle = Particle {
                    name: name.to_string(),
                    namespace: ctx.target.clone(),
                    complex: None,
                    repeated: false,
                };
                self.elements.insert(key.clone(), particle);
                self.element_type(c, TypeSlot::Element(key.clone()), &key, &ctx, &scope)?;
            }
        }
        Ok(())
    }

    /// The type of an element: `type=` (resolved later) or an inline complexType.
    fn element_type(
        &mut self,
        e: &Element,
        slot: TypeSlot,
        anon_key: &str,
        ctx: &SchemaCtx,
        scope: &Scope,
    ) -> Result<(), String> {
        let scope = scope.enter(e);
        if let Some(t) = attr(e, "type") {
            let (ns, local) = scope.resolve(t)?;
            if ns != XSD_NS {
                self.type_refs.push((slot, type_key(&ns, &local)));
            }
        } else if let Some(inline) = e.children.iter().find(|c| is(c, XSD_NS, "complexType")) {
            let key = format!("{anon_key}#");
            self.complex_type(inline, &key, ctx, &scope)?;
            self.set_type(&slot, Some(key));
        }
        Ok(())
    }

    fn set_type(&mut self, slot: &TypeSlot, key: Option<String>) {
        match slot {
            TypeSlot::Member(t, i) => {
                if let Some(m) = self.types.get_mut(t).and_then(|t| t.members.get_mut(*i)) {
                    m.complex = key;
                }
            }
            TypeSlot::Element(k) => {
                if let Some(p) = self.elements.get_mut(k) {
                    p.complex = key;
                }
            }
        }
    }

    fn complex_type(
        &mut self,
        e: &Element,
        key: &str,
        ctx: &SchemaCtx,
        scope: &Scope,
    ) -> Result<(), String> {
        let scope = scope.enter(e);
        self.types.insert(key.to_string(), RawType::default());
        let mut body = e;
        if let Some(cc) = e.children.iter().find(|c| is(c, XSD_NS, "complexContent")) {
            let cc_scope = scope.enter(cc);
            if let Some(ext) = cc.children.iter().find(|c| is(c, XSD_NS, "extension")) {
                let base = attr(ext, "base").ok_or("an extension has no base")?;
                let (ns, local) = cc_scope.enter(ext).resolve(base)?;
                if let Some(t) = self.types.get_mut(key) {
                    t.base = Some(type_key(&ns, &local));
                }
                body = ext;
            }
        }
        self.particles(body, key, ctx, &scope)
    }

    /// The elements of the `sequence` / `all` / `choice` groups under `e`, in order.
    fn particles(
        &mut self,
        e: &Element,
        key: &str,
        ctx: &SchemaCtx,
        scope: &Scope,
    ) -> Result<(), String> {
        let scope = scope.enter(e);
        for group in e
            .children
            .iter()
            .filter(|c| c.ns == XSD_NS && matches!(c.name.as_str(), "sequence" | "all" | "choice"))
        {
            let gscope = scope.enter(group);
            for m in &group.children {
                if c_is_group(m) {
                    self.particles(&wrap(m), key, ctx, &gscope)?;
                    continue;
                }
                if !is(m, XSD_NS, "element") {
                    continue;
                }
                let repeated = matches!(attr(m, "maxOccurs"), Some(v) if v != "1" && v != "0");
                let index = self.types.get(key).map_or(0, |t| t.members.len());
                if let Some(r) = attr(m, "ref") {
                    let (ns, local) = gscope.enter(m).resolve(r)?;
                    self.push_member(
                        key,
                        Particle {
                            name: local.clone(),
                            namespace: ns.clone(),
                            complex: None,
                            repeated,
                        },
                    );
                    self.refs
                        .push((key.to_string(), index, type_key(&ns, &local)));
                    continue;
                }
                let name = attr(m, "name").ok_or("an element in a sequence has no name")?;
                let qualified = match attr(m, "form") {
                    Some(f) => f == "qualified",
                    None => ctx.qualified,
                };
                self.push_member(
                    key,
                    Particle {
                        name: name.to_string(),
                        namespace: if qualified {
                            ctx.target.clone()
                        } else {
                            String::new()
                        },
                        complex: None,
                        repeated,
                    },
                );
                let anon = format!("{key}/{name}");
                self.element_type(
                    m,
                    TypeSlot::Member(key.to_string(), index),
                    &anon,
                    ctx,
                    &gscope,
                )?;
            }
        }
        Ok(())
    }

    fn push_member(&mut self, key: &str, p: Particle) {
        if let Some(t) = self.types.get_mut(key) {
            t.members.push(p);
        }
    }

    fn wsdl(&mut self, e: &Element, scope: &Scope) -> Result<(), String> {
        let scope = scope.enter(e);
        for c in &e.children {
            let cs = scope.enter(c);
            match (c.ns.as_str(), c.name.as_str()) {
                (WSDL_NS, "types") => {
                    for s in c.children.iter().filter(|s| is(s, XSD_NS, "schema")) {
                        self.schema(s, &cs)?;
                    }
                }
                (WSDL_NS, "message") => {
                    let name = attr(c, "name").unwrap_or_default();
                    if let Some(part) = c.children.iter().find(|p| is(p, WSDL_NS, "part")) {
                        if let Some(el) = attr(part, "element") {
                            let (ns, local) = cs.enter(part).resolve(el)?;
                            self.messages
                                .insert(name.to_string(), type_key(&ns, &local));
                        }
                    }
                }
                (WSDL_NS, "portType") => {
                    for op in c.children.iter().filter(|o| is(o, WSDL_NS, "operation")) {
                        let input = op.children.iter().find(|i| is(i, WSDL_NS, "input"));
                        if let (Some(name), Some(msg)) =
                            (attr(op, "name"), input.and_then(|i| attr(i, "message")))
                        {
                            let (_, local) = cs.enter(op).resolve(msg)?;
                            self.port_ops.insert(name.to_string(), local);
                        }
                    }
                }
                (WSDL_NS, "binding") => {
                    if !c.children.iter().any(|b| is(b, SOAP11_NS, "binding")) {
                        continue; // SOAP 1.2 or another transport
                    }
                    for op in c.children.iter().filter(|o| is(o, WSDL_NS, "operation")) {
                        let action = op
                            .children
                            .iter()
                            .find(|s| is(s, SOAP11_NS, "operation"))
                            .and_then(|s| attr(s, "soapAction"));
                        if let (Some(name), Some(action)) = (attr(op, "name"), action) {
                            self.actions
                                .entry(name.to_string())
                                .or_insert_with(|| action.to_string());
                        }
                    }
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// Resolve references, fold extension bases in, and check every type a member names exists.
    fn finish(mut self, wsdl_url: &str, target: String) -> Result<SoapContract, String> {
        for (slot, key) in std::mem::take(&mut self.type_refs) {
            // A name that is no complex type is a simple type (string, guid, an enumeration…).
            let known = self.types.contains_key(&key).then_some(key);
            self.set_type(&slot, known);
        }
        for (t, i, r) in std::mem::take(&mut self.refs) {
            let el = self
                .elements
                .get(&r)
                .cloned()
                .ok_or_else(|| format!("element {r} is referenced but never declared"))?;
            if let Some(m) = self.types.get_mut(&t).and_then(|t| t.members.get_mut(i)) {
                m.complex = el.complex;
            }
        }
        let mut types = BTreeMap::new();
        for key in self.types.keys() {
            let mut chain = Vec::new();
            let mut at = Some(key.clone());
            while let Some(k) = at {
                if chain.contains(&k) || chain.len() > 32 {
                    return Err(format!("type {key} extends itself"));
                }
                let raw = self
                    .types
                    .get(&k)
                    .ok_or_else(|| format!("type {key} extends {k}, which is never declared"))?;
                chain.push(k);
                at = raw.base.clone();
            }
            let members = chain
                .iter()
                .rev()
                .flat_map(|k| self.types[k].members.clone())
                .collect();
            types.insert(key.clone(), ComplexType { members });
        }
        let mut operations = BTreeMap::new();
        for (op, msg) in &self.port_ops {
            let Some(action) = self.actions.get(op) else {
                continue; // not in the SOAP 1.1 binding
            };
            let el_key = self
                .messages
                .get(msg)
                .ok_or_else(|| format!("operation {op}: message {msg} is not declared"))?;
            let input = self
                .elements
                .get(el_key)
                .cloned()
                .ok_or_else(|| format!("operation {op}: element {el_key} is not declared"))?;
            operations.insert(
                op.clone(),
                Operation {
                    soap_action: action.clone(),
                    input,
                },
            );
        }
        if operations.is_empty() {
            return Err("no operation of a SOAP 1.1 binding was found".into());
        }
        Ok(SoapContract {
            wsdl_url: wsdl_url.to_string(),
            read_at: chrono::Utc::now(),
            target_namespace: target,
            operations,
            types,
        })
    }
}

/// A nested group (`sequence` inside `sequence`) is read like its parent's content.
fn c_is_group(e: &Element) -> bool {
    e.ns == XSD_NS && matches!(e.name.as_str(), "sequence" | "all" | "choice")
}

fn wrap(group: &Element) -> Element {
    Element {
        name: "group".into(),
        ns: String::new(),
        namespaces: Vec::new(),
        attrs: Vec::new(),
        children: vec![group.clone()],
        text: String::new(),
    }
}

/// Build the contract from the documents read (the first is the `?wsdl` itself).
pub fn contract_from_documents(docs: &[Document]) -> Result<SoapContract, ContractError> {
    let first = docs
        .first()
        .ok_or_else(|| ContractError::Read("no document".into()))?;
    let mut r = Reader::default();
    let mut target = None;
    for d in docs {
        let scope = Scope::default();
        let outcome = if is(&d.root, WSDL_NS, "definitions") {
            target.get_or_insert_with(|| {
                attr(&d.root, "targetNamespace")
                    .unwrap_or_default()
                    .to_string()
            });
            r.wsdl(&d.root, &scope)
        } else if is(&d.root, XSD_NS, "schema") {
            r.schema(&d.root, &scope)
        } else {
            Err(format!(
                "<{}> is neither a WSDL nor an XML schema",
                d.root.name
            ))
        };
        outcome.map_err(|e| ContractError::Read(format!("{}: {e}", d.url)))?;
    }
    r.finish(&first.url, target.unwrap_or_default())
        .map_err(|e| ContractError::Read(format!("{}: {e}", first.url)))
}
