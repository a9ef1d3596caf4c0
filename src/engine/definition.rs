//! Workflow definitions as data: workflows/*.toml, parsed and validated at start-up.
//!
//! ```toml
//! kind = "order"
//! initial = "fetch"
//! lease_secs = 60          # a claim's lease; heartbeats extend it
//! step_timeout_secs = 30   # default per-step timeout
//! [retry]                  # default for every state
//! max_attempts = 8
//! base_delay_ms = 1000
//! max_delay_ms = 300000
//! jitter = 0.2
//! [states.fetch]
//! handler = "order.fetch"
//! next = ["post"]
//! [states.done]
//! terminal = true
//! ```

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;

use super::retry::RetryPolicy;

/// A definition problem, naming the file it is in.
#[derive(Debug, thiserror::Error)]
#[error("{}: {problem}", file.display())]
pub struct DefinitionError {
    pub file: PathBuf,
    pub problem: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDefinition {
    kind: String,
    #[serde(default)]
    description: String,
    initial: String,
    lease_secs: Option<f64>,
    step_timeout_secs: Option<f64>,
    retry: Option<RawRetry>,
    states: BTreeMap<String, RawState>,
}

#[derive(Debug, Deserialize, Clone)]
#[serde(deny_unknown_fields)]
struct RawRetry {
    max_attempts: Option<u32>,
    base_delay_ms: Option<u64>,
    max_delay_ms: Option<u64>,
    jitter: Option<f64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawState {
    handler: Option<String>,
    #[serde(default)]
    next: Vec<String>,
    #[serde(default)]
    terminal: bool,
    #[serde(default)]
    description: String,
    timeout_secs: Option<f64>,
    retry: Option<RawRetry>,
}

#[derive(Debug, Clone)]
pub struct StateDef {
    pub name: String,
    pub description: String,
    /// `None` for terminal states.
    pub handler: Option<String>,
    pub next: Vec<String>,
    pub terminal: bool,
    pub timeout: Duration,
    pub retry: RetryPolicy,
}

#[derive(Debug, Clone)]
pub struct WorkflowDefinition {
    pub kind: String,
    pub description: String,
    pub initial: String,
    pub lease: Duration,
    pub states: HashMap<String, StateDef>,
    pub source: PathBuf,
}

impl WorkflowDefinition {
    pub fn state(&self, name: &str) -> Option<&StateDef> {
        self.states.get(name)
    }

    /// Parse and validate one file's text. `handler_known` says whether a handler name exists.
    pub fn parse(
        source: &Path,
        text: &str,
        handler_known: &dyn Fn(&str) -> bool,
    ) -> Result<Self, DefinitionError> {
        let err = |problem: String| DefinitionError {
            file: source.to_path_buf(),
            problem,
        };
        let raw: RawDefinition = toml::from_str(text)
            .map_err(|e| err(format!("invalid TOML: {}", e.message().trim())))?;
        if raw.kind.trim().is_empty() {
            return Err(err("`kind` is empty".into()));
        }
        if let Some(stem) = source.file_stem().and_then(|s| s.to_str()) {
            if source.extension().is_some() && stem != raw.kind {
                return Err(err(format!(
                    "kind {:?} must match the file name ({stem}.toml)",
                    raw.kind
                )));
            }
        }
        let lease = positive_secs(raw.lease_secs.unwrap_or(60.0)).ok_or_else(|| {
            err("`lease_secs` must be a positive number of seconds, at most 7 days".into())
        })?;
        let default_timeout =
            positive_secs(raw.step_timeout_secs.unwrap_or(30.0)).ok_or_else(|| {
                err(
                    "`step_timeout_secs` must be a positive number of seconds, at most 7 days"
                        .into(),
                )
            })?;
        let default_retry = retry_policy(&RetryPolicy::default(), raw.retry.as_ref())
            .map_err(|p| err(format!("[retry]: {p}")))?;
        if raw.states.is_empty() {
            return Err(err("no [states.*] defined".into()));
        }
        if !raw.states.contains_key(&raw.initial) {
            return Err(err(format!(
                "initial state {:?} is not defined",
                raw.initial
            )));
        }

        let mut states = HashMap::new();
        for (name, s) in &raw.states {
            let here = |p: String| err(format!("state {name:?}: {p}"));
            if s.terminal {
                if s.handler.is_some() || !s.next.is_empty() {
                    return Err(here("a terminal state has no handler and no `next`".into()));
                }
            } else {
                let handler = s
                    .handler
                    .as_deref()
                    .ok_or_else(|| here("no `handler` (or mark it `terminal = true`)".into()))?;
                if !handler_known(handler) {
                    return Err(here(format!("unknown handler {handler:?}")));
                }
                if s.next.is_empty() {
                    return Err(here("no transitions in `next` and not terminal".into()));
                }
            }
            for target in &s.next {
                if !raw.states.contains_key(target) {
                    return Err(here(format!("transition to unknown state {target:?}")));
                }
            }
            let timeout = match s.timeout_secs {
                Some(t) => positive_secs(t).ok_or_else(|| {
                    here(
                        "`timeout_secs` must be a positive number of seconds, at most 7 days"
                            .into(),
                    )
                })?,
                None => default_timeout,
            };
            let retry = retry_policy(&default_retry, s.retry.as_ref())
                .map_err(|p| here(format!("[retry]: {p}")))?;
            states.insert(
                name.clone(),
                StateDef {
                    name: name.clone(),
                    description: s.description.clone(),
                    handler: s.handler.clone(),
                    next: s.next.clone(),
                    terminal: s.terminal,
                    timeout,
                    retry,
                },
            );
        }
        if !states.values().any(|s| s.terminal) {
            return Err(err(
                "no terminal state: the workflow could never complete".into()
            ));
        }
        let reachable = reachable_from(&raw.initial, &states);
        let mut unreachable: Vec<&String> =
            states.keys().filter(|s| !reachable.contains(*s)).collect();
        unreachable.sort();
        if !unreachable.is_empty() {
            return Err(err(format!(
                "states unreachable from {:?}: {unreachable:?}",
                raw.initial
            )));
        }
        Ok(Self {
            kind: raw.kind,
            description: raw.description,
            initial: raw.initial,
            lease,
            states,
            source: source.to_path_buf(),
        })
    }
}

fn reachable_from(initial: &str, states: &HashMap<String, StateDef>) -> HashSet<String> {
    let mut seen = HashSet::from([initial.to_string()]);
    let mut queue = VecDeque::from([initial.to_string()]);
    while let Some(s) = queue.pop_front() {
        for n in &states[&s].next {
            if seen.insert(n.clone()) {
                queue.push_back(n.clone());
            }
        }
    }
    seen
}

/// Longest lease or step timeout: beyond it a value is a typo (and `1e300` used to panic).
const MAX_SECS: f64 = 7.0 * 24.0 * 3600.0;

/// A positive number of seconds, at most `MAX_SECS`.
fn positive_secs(secs: f64) -> Option<Duration> {
    (secs.is_finite() && secs > 0.0 && secs <= MAX_SECS).then(|| Duration::from_secs_f64(secs))
}

fn retry_policy(base: &RetryPolicy, raw: Option<&RawRetry>) -> Result<RetryPolicy, String> {
    let Some(r) = raw else {
        return Ok(base.clone());
    };
    let p = RetryPolicy {
        max_attempts: r.max_attempts.unwrap_or(base.max_attempts),
        base_delay: r
            .base_delay_ms
            .map(Duration::from_millis)
            .unwrap_or(base.base_delay),
        max_delay: r
            .max_delay_ms
            .map(Duration::from_millis)
            .unwrap_or(base.max_delay),
        jitter: r.jitter.unwrap_or(base.jitter),
    };
    if p.max_attempts == 0 {
        return Err("max_attempts must be at least 1".into());
    }
    if p.base_delay > p.max_delay {
        return Err("base_delay_ms is larger than max_delay_ms".into());
    }
    if !(0.0..=1.0).contains(&p.jitter) {
        return Err("jitter must be between 0 and 1".into());
    }
    Ok(p)
}

/// Every workflow kind this process runs.
#[derive(Debug, Clone, Default)]
pub struct Definitions {
    by_kind: HashMap<String, Arc<WorkflowDefinition>>,
}

impl Definitions {
    /// Parse (name, text) pairs; used for the built-in definitions and for generated ones.
    pub fn from_sources<'a>(
        sources: impl IntoIterator<Item = (&'a str, &'a str)>,
        handler_known: &dyn Fn(&str) -> bool,
    ) -> Result<Self, DefinitionError> {
        let mut defs = Self::default();
        for (name, text) in sources {
            defs.add(WorkflowDefinition::parse(
                Path::new(name),
                text,
                handler_known,
            )?)?;
        }
        Ok(defs)
    }

    /// Load every `*.toml` in a folder.
    pub fn load_dir(
        dir: &Path,
        handler_known: &dyn Fn(&str) -> bool,
    ) -> Result<Self, DefinitionError> {
        let io_err = |e: std::io::Error| DefinitionError {
            file: dir.to_path_buf(),
            problem: format!("cannot read workflow folder: {e}"),
        };
        let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
            .map_err(io_err)?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "toml"))
            .collect();
        files.sort();
        let mut defs = Self::default();
        for file in files {
            let text = std::fs::read_to_string(&file).map_err(|e| DefinitionError {
                file: file.clone(),
                problem: format!("cannot read: {e}"),
            })?;
            defs.add(WorkflowDefinition::parse(&file, &text, handler_known)?)?;
        }
        if defs.by_kind.is_empty() {
            return Err(DefinitionError {
                file: dir.to_path_buf(),
                problem: "no *.toml workflow definitions found".into(),
            });
        }
        Ok(defs)
    }

    pub fn add(&mut self, def: WorkflowDefinition) -> Result<(), DefinitionError> {
        if let Some(existing) = self.by_kind.get(&def.kind) {
            return Err(DefinitionError {
                file: def.source.clone(),
                problem: format!(
                    "kind {:?} is already defined in {}",
                    def.kind,
                    existing.source.display()
                ),
            });
        }
        self.by_kind.insert(def.kind.clone(), Arc::new(def));
        Ok(())
    }

    pub fn get(&self, kind: &str) -> Option<&Arc<WorkflowDefinition>> {
        self.by_kind.get(kind)
    }

    pub fn kinds(&self) -> Vec<String> {
        let mut k: Vec<String> = self.by_kind.keys().cloned().collect();
        k.sort();
        k
    }

    pub fn iter(&self) -> impl Iterator<Item = &Arc<WorkflowDefinition>> {
        self.by_kind.values()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<WorkflowDefinition, DefinitionError> {
        WorkflowDefinition::parse(Path::new("workflows/demo.toml"), text, &|h| {
            h.starts_with("ok.")
        })
    }

    const GOOD: &str = r#"
kind = "demo"
initial = "a"
lease_secs = 10
[retry]
max_attempts = 3
base_delay_ms = 100
max_delay_ms = 1000
jitter = 0.1
[states.a]
handler = "ok.a"
next = ["b", "done"]
timeout_secs = 5
[states.b]
handler = "ok.b"
next = ["done"]
[states.b.retry]
max_attempts = 7
[states.done]
terminal = true
"#;

    #[test]
    fn parses_a_good_definition() {
        let d = parse(GOOD).unwrap();
        assert_eq!(d.kind, "demo");
        assert_eq!(d.lease, Duration::from_secs(10));
        assert_eq!(d.state("a").unwrap().timeout, Duration::from_secs(5));
        assert_eq!(d.state("b").unwrap().timeout, Duration::from_secs(30));
        assert_eq!(d.state("a").unwrap().retry.max_attempts, 3);
        assert_eq!(d.state("b").unwrap().retry.max_attempts, 7);
        assert_eq!(
            d.state("b").unwrap().retry.base_delay,
            Duration::from_millis(100)
        );
    }

    fn problem(text: &str) -> String {
        let e = parse(text).unwrap_err();
        assert_eq!(e.file, PathBuf::from("workflows/demo.toml"));
        e.to_string()
    }

    #[test]
    fn rejects_bad_definitions_with_file_and_problem() {
        let cases = [
            (
                GOOD.replace("next = [\"done\"]", "next = [\"nowhere\"]"),
                "transition to unknown state \"nowhere\"",
            ),
            (
                GOOD.replace("initial = \"a\"", "initial = \"zz\""),
                "initial state \"zz\" is not defined",
            ),
            (GOOD.replace("ok.b", "nope.b"), "unknown handler \"nope.b\""),
            (
                GOOD.replace("kind = \"demo\"", "kind = \"other\""),
                "must match the file name",
            ),
            (
                GOOD.replace("jitter = 0.1", "jitter = 3.0"),
                "jitter must be between 0 and 1",
            ),
            (
                GOOD.replace("lease_secs = 10", "lease_secs = 10\nbogus = 1"),
                "unknown field `bogus`",
            ),
            (
                GOOD.replace("next = [\"b\", \"done\"]", "next = [\"done\"]"),
                "unreachable",
            ),
            (
                GOOD.replace("terminal = true", "handler = \"ok.x\"\nnext = [\"a\"]"),
                "no terminal state",
            ),
            ("kind = ".to_string(), "invalid TOML"),
            // Seconds beyond what a Duration holds used to panic.
            (
                GOOD.replace("lease_secs = 10", "lease_secs = 1e300"),
                "`lease_secs` must be a positive number",
            ),
            (
                GOOD.replace("timeout_secs = 5", "timeout_secs = 1e20"),
                "timeout_secs",
            ),
        ];
        for (text, expected) in cases {
            let msg = problem(&text);
            assert!(msg.starts_with("workflows/demo.toml: "), "{msg}");
            assert!(msg.contains(expected), "expected {expected:?} in {msg:?}");
        }
    }

    #[test]
    fn duplicate_kinds_are_rejected() {
        let mut defs = Definitions::default();
        defs.add(parse(GOOD).unwrap()).unwrap();
        let e = defs.add(parse(GOOD).unwrap()).unwrap_err();
        assert!(e.to_string().contains("already defined"));
    }
}
