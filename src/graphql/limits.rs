//! Limits applied to every document before it runs (HTTP and WebSocket alike): at most
//! [`MAX_ROOT_FIELDS`] root fields per operation and [`MAX_ALIASES`] aliased fields in total
//! (fragments counted where they are spread). Depth and cost (which multiplies by `first`) are
//! checked by async-graphql's validation; every validation refusal carries `BAD_USER_INPUT`.

use std::collections::HashMap;
use std::sync::Arc;

use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextParseQuery, NextValidation,
};
use async_graphql::parser::types::{
    ExecutableDocument, FragmentDefinition, Selection, SelectionSet,
};
use async_graphql::{Name, Positioned, ServerError, ServerResult, ValidationResult, Variables};

/// Root fields in one operation.
pub const MAX_ROOT_FIELDS: usize = 20;
/// Aliased fields in a document, counted once per place a fragment is spread.
pub const MAX_ALIASES: usize = 50;
/// Fields visited while counting (fragments spread inside fragments multiply).
const MAX_VISITS: usize = 10_000;

fn refusal(message: String) -> ServerError {
    let mut e = ServerError::new(message, None);
    e.extensions
        .get_or_insert_with(Default::default)
        .set("code", "BAD_USER_INPUT");
    e
}

struct Count<'a> {
    fragments: &'a HashMap<Name, Positioned<FragmentDefinition>>,
    aliases: usize,
    visits: usize,
    stack: Vec<&'a str>,
}

impl<'a> Count<'a> {
    /// Fields of a selection set (fragments expanded); aliases accumulate in `self`.
    fn walk(&mut self, set: &'a SelectionSet) -> Result<usize, ServerError> {
        let mut fields = 0;
        for item in &set.items {
            match &item.node {
                Selection::Field(f) => {
                    fields += 1;
                    self.visits += 1;
                    if f.node.alias.is_some() {
                        self.aliases += 1;
                    }
                    if self.aliases > MAX_ALIASES {
                        return Err(refusal(format!(
                            "the document has more than {MAX_ALIASES} aliases"
                        )));
                    }
                    if self.visits > MAX_VISITS {
                        return Err(refusal(format!(
                            "the document selects more than {MAX_VISITS} fields"
                        )));
                    }
                    self.walk(&f.node.selection_set.node)?;
                }
                Selection::InlineFragment(i) => fields += self.walk(&i.node.selection_set.node)?,
                Selection::FragmentSpread(s) => {
                    let name = s.node.fragment_name.node.as_str();
                    // A cycle is refused by validation later; here it just is not followed.
                    if self.stack.contains(&name) {
                        continue;
                    }
                    if let Some(def) = self.fragments.get(name) {
                        self.stack.push(name);
                        fields += self.walk(&def.node.selection_set.node)?;
                        self.stack.pop();
                    }
                }
            }
        }
        Ok(fields)
    }
}

/// Check a parsed document against the root-field and alias caps.
pub fn check(doc: &ExecutableDocument) -> Result<(), ServerError> {
    let mut count = Count {
        fragments: &doc.fragments,
        aliases: 0,
        visits: 0,
        stack: Vec::new(),
    };
    for (_, op) in doc.operations.iter() {
        let roots = count.walk(&op.node.selection_set.node)?;
        if roots > MAX_ROOT_FIELDS {
            return Err(refusal(format!(
                "an operation may select at most {MAX_ROOT_FIELDS} root fields; this one selects {roots}"
            )));
        }
    }
    Ok(())
}

/// The schema extension applying [`check`] and coding validation refusals.
pub struct Limits;

impl ExtensionFactory for Limits {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(LimitsExtension)
    }
}

struct LimitsExtension;

#[async_trait::async_trait]
impl Extension for LimitsExtension {
    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        let doc = next.run(ctx, query, variables).await?;
        check(&doc)?;
        Ok(doc)
    }

    async fn validation(
        &self,
        ctx: &ExtensionContext<'_>,
        next: NextValidation<'_>,
    ) -> Result<ValidationResult, Vec<ServerError>> {
        next.run(ctx).await.map_err(|errors| {
            errors
                .into_iter()
                .map(|mut e| {
                    let ext = e.extensions.get_or_insert_with(Default::default);
                    if ext.get("code").is_none() {
                        ext.set("code", "BAD_USER_INPUT");
                    }
                    e
                })
                .collect()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn checked(doc: &str) -> Result<(), String> {
        check(&async_graphql::parser::parse_query(doc).unwrap()).map_err(|e| e.message)
    }

    #[test]
    fn aliases_and_root_fields_are_counted_through_fragments() {
        let aliases = |n: usize| {
            (0..n)
                .map(|i| format!("a{i}: kind"))
                .collect::<Vec<_>>()
                .join(" ")
        };
        assert!(checked(&format!(
            "{{ stats {{ workflows {{ {} }} }} }}",
            aliases(50)
        ))
        .is_ok());
        assert!(checked(&format!(
            "{{ stats {{ workflows {{ {} }} }} }}",
            aliases(51)
        ))
        .unwrap_err()
        .contains("aliases"));
        let spread = format!(
            "fragment F on Stats {{ workflows {{ {} }} }} {{ x: stats {{ ...F }} y: stats {{ ...F }} }}",
            aliases(25)
        );
        assert!(checked(&spread).unwrap_err().contains("aliases"));
        let roots = |n: usize| {
            (0..n)
                .map(|i| format!("c{i}: connections {{ name }}"))
                .collect::<Vec<_>>()
                .join(" ")
        };
        assert!(checked(&format!("{{ {} }}", roots(20))).is_ok());
        let inline = format!(
            "fragment R on Query {{ {} }} {{ ...R ... on Query {{ stats {{ alerts }} }} }}",
            roots(20)
        );
        assert!(checked(&inline).unwrap_err().contains("root fields"));
        // A fragment cycle is left to validation; counting does not loop.
        assert!(
            checked("fragment A on Query { ...B } fragment B on Query { ...A } { ...A }").is_ok()
        );
    }
}
