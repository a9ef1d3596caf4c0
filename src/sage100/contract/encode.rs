//! A request body built from the contract: members in the order the schema gives them, each
//! element in its own namespace. Data with no place in the contract is an error, never dropped.

use super::{ContractError, Particle, SoapContract};
use crate::xml::escape;

/// A value to send: text, members by name (any order: the contract orders them), or the items of
/// a collection (written as the collection type's one repeated member, e.g. `SalesOrderLine`).
#[derive(Debug, Clone, PartialEq)]
pub enum Node {
    Text(String),
    Members(Vec<(String, Node)>),
    Items(Vec<Vec<(String, Node)>>),
}

struct Writer<'a> {
    contract: &'a SoapContract,
    out: String,
}

impl Writer<'_> {
    fn unknown(&self, member: &str, within: &str) -> ContractError {
        ContractError::UnknownMember {
            member: member.to_string(),
            within: within.to_string(),
            read_at: self
                .contract
                .read_at
                .format("%Y-%m-%d %H:%M UTC")
                .to_string(),
        }
    }

    /// `<name xmlns="ns">…</name>`: the namespace is restated whenever it differs from the parent's.
    fn element(
        &mut self,
        p: &Particle,
        parent_ns: &str,
        node: &Node,
        within: &str,
    ) -> Result<(), ContractError> {
        let name = &p.name;
        let xmlns = if p.namespace == parent_ns {
            String::new()
        } else {
            format!(r#" xmlns="{}""#, escape(&p.namespace))
        };
        match (node, &p.complex) {
            (Node::Text(t), None) => {
                self.out
                    .push_str(&format!("<{name}{xmlns}>{}</{name}>", escape(t)));
            }
            (Node::Members(members), Some(ty)) => {
                self.out.push_str(&format!("<{name}{xmlns}>"));
                self.members(ty, &p.namespace, members, name)?;
                self.out.push_str(&format!("</{name}>"));
            }
            (Node::Items(items), Some(ty)) => {
                let t = self
                    .contract
                    .types
                    .get(ty)
                    .ok_or_else(|| self.unknown(name, within))?;
                let [item] = t.members.as_slice() else {
                    return Err(self.unknown(&format!("the items of {name}"), within));
                };
                let item = item.clone();
                self.out.push_str(&format!("<{name}{xmlns}>"));
                for members in items {
                    self.element(&item, &p.namespace, &Node::Members(members.clone()), name)?;
                }
                self.out.push_str(&format!("</{name}>"));
            }
            // A text where the contract has a structure, or the other way round.
            _ => return Err(self.unknown(name, within)),
        }
        Ok(())
    }

    /// The members of a complex type, in the contract's order.
    fn members(
        &mut self,
        ty: &str,
        parent_ns: &str,
        given: &[(String, Node)],
        within: &str,
    ) -> Result<(), ContractError> {
        let t = self
            .contract
            .types
            .get(ty)
            .ok_or_else(|| self.unknown(ty, within))?;
        if let Some((name, _)) = given
            .iter()
            .find(|(n, _)| !t.members.iter().any(|m| &m.name == n))
        {
            return Err(self.unknown(name, within));
        }
        for m in &t.members {
            for (_, node) in given.iter().filter(|(n, _)| *n == m.name) {
                self.element(m, parent_ns, node, within)?;
            }
        }
        Ok(())
    }
}

/// The body element of one operation (the wrapper with its parameters).
pub fn encode_operation(
    contract: &SoapContract,
    op: &str,
    params: &[(String, Node)],
) -> Result<(String, String), ContractError> {
    let operation = contract.operation(op)?;
    let mut w = Writer {
        contract,
        out: String::new(),
    };
    let input = operation.input.clone();
    match &input.complex {
        Some(_) => w.element(&input, "", &Node::Members(params.to_vec()), op)?,
        None if params.is_empty() => {
            let ns = escape(&input.namespace);
            w.out
                .push_str(&format!(r#"<{} xmlns="{ns}"/>"#, input.name));
        }
        None => return Err(w.unknown(&params[0].0, op)),
    }
    Ok((operation.soap_action.clone(), w.out))
}
