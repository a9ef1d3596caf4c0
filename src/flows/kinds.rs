//! The workflow kinds and their states as types. Each state names its handler and the states its
//! handler may move to; a test holds these declarations equal to workflows/*.toml (no transition a
//! handler returns is refused by the definition, no state of the definition is dead), and the
//! registration wrapper refuses, at run time, a transition a handler was not declared to make.

use std::fmt;
use std::future::Future;

use crate::engine::{HandlerRegistry, StepError, StepInput, StepResult};

/// The states of one workflow kind.
pub trait WorkflowStates: Copy + Eq + fmt::Debug + fmt::Display + Send + Sync + 'static {
    const KIND: Kind;
    const INITIAL: Self;
    const ALL: &'static [Self];
    fn as_str(self) -> &'static str;
    /// The handler that runs in this state (`None`: terminal).
    fn handler(self) -> Option<&'static str>;
    /// The states this state's handler may move to.
    fn next(self) -> &'static [Self];
    fn parse(name: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|s| s.as_str() == name)
    }
}

macro_rules! states {
    ($(#[$doc:meta])* $name:ident, $kind:expr, initial $initial:ident {
        $($v:ident = $s:literal $(handler $h:literal => [$($n:ident),*])?;)*
    }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name {
            $($v),*
        }

        impl WorkflowStates for $name {
            const KIND: Kind = $kind;
            const INITIAL: Self = $name::$initial;
            const ALL: &'static [Self] = &[$($name::$v),*];
            fn as_str(self) -> &'static str {
                match self {
                    $($name::$v => $s),*
                }
            }
            fn handler(self) -> Option<&'static str> {
                match self {
                    $($name::$v => None$(.or(Some($h)))?),*
                }
            }
            fn next(self) -> &'static [Self] {
                match self {
                    $($name::$v => &[$($($name::$n),*)?]),*
                }
            }
        }

        impl $name {
            pub fn as_str(self) -> &'static str {
                WorkflowStates::as_str(self)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl From<$name> for String {
            fn from(s: $name) -> String {
                s.as_str().to_string()
            }
        }
    };
}

/// Every workflow kind the service runs (one TOML in workflows/ and one file in src/flows each).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    Order,
    OrdersPoll,
    OrdersProbe,
    Inventory,
    Shipment,
    ShipmentsPoll,
    Webhook,
    AlertsCheck,
    Notification,
}

impl Kind {
    pub const ALL: &'static [Kind] = &[
        Kind::Order,
        Kind::OrdersPoll,
        Kind::OrdersProbe,
        Kind::Inventory,
        Kind::Shipment,
        Kind::ShipmentsPoll,
        Kind::Webhook,
        Kind::AlertsCheck,
        Kind::Notification,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Order => "order",
            Kind::OrdersPoll => "orders_poll",
            Kind::OrdersProbe => "orders_probe",
            Kind::Inventory => "inventory",
            Kind::Shipment => "shipment",
            Kind::ShipmentsPoll => "shipments_poll",
            Kind::Webhook => "webhook",
            Kind::AlertsCheck => "alerts_check",
            Kind::Notification => "notification",
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

states!(
    /// A Sage sales order's life (workflows/order.toml).
    OrderState, Kind::Order, initial Fetch {
        Fetch = "fetch" handler "order.fetch" => [Fetch, Post, Skipped, CancelRemote, Check];
        Post = "post" handler "order.post" => [Check];
        Check = "check" handler "order.check" => [Check, Fetch, CancelRemote, TrackSo, Skipped];
        TrackSo = "track_so" handler "order.track_so" => [TrackInvoice];
        TrackInvoice = "track_invoice" handler "order.track_invoice" =>
            [TrackInvoice, TrackSo, Shipped, Check, ManualAction];
        Shipped = "shipped" handler "order.shipped" => [Shipped, TrackSo];
        ManualAction = "manual_action" handler "order.manual_action" =>
            [ManualAction, TrackSo, TrackInvoice, Shipped, Check];
        CancelRemote = "cancel_remote" handler "order.cancel_remote" => [Cancelled];
        Skipped = "skipped";
        Cancelled = "cancelled";
    }
);

states!(
    /// One run of a connection's orders poll (workflows/orders_poll.toml).
    OrdersPollState, Kind::OrdersPoll, initial Poll {
        Poll = "poll" handler "orders_poll.run" => [Done];
        Done = "done";
    }
);

states!(
    /// One light check for changed Sage orders (workflows/orders_probe.toml).
    OrdersProbeState, Kind::OrdersProbe, initial Probe {
        Probe = "probe" handler "orders_probe.run" => [Done];
        Done = "done";
    }
);

states!(
    /// One inventory sync (workflows/inventory.toml).
    InventoryState, Kind::Inventory, initial Plan {
        Plan = "plan" handler "inventory.plan" => [Apply];
        Apply = "apply" handler "inventory.apply" => [Apply, Done];
        Done = "done";
    }
);

states!(
    /// One ShipStation label or fulfillment (workflows/shipment.toml).
    ShipmentState, Kind::Shipment, initial Resolve {
        Resolve = "resolve" handler "shipment.resolve" => [Applied, Unmatched, Ignored];
        Applied = "applied";
        Unmatched = "unmatched";
        Ignored = "ignored";
    }
);

states!(
    /// One reconciliation poll of shipments (workflows/shipments_poll.toml).
    ShipmentsPollState, Kind::ShipmentsPoll, initial Poll {
        Poll = "poll" handler "shipments_poll.run" => [Done];
        Done = "done";
    }
);

states!(
    /// One accepted webhook delivery (workflows/webhook.toml).
    WebhookState, Kind::Webhook, initial Fetch {
        Fetch = "fetch" handler "webhook.fetch" => [Done];
        Done = "done";
    }
);

states!(
    /// One comparison of a connection's alerts with the notices sent (workflows/alerts_check.toml).
    AlertsCheckState, Kind::AlertsCheck, initial Check {
        Check = "check" handler "alerts_check.run" => [Done];
        Done = "done";
    }
);

states!(
    /// One notice through one channel (workflows/notification.toml).
    NotificationState, Kind::Notification, initial Send {
        Send = "send" handler "notification.send" => [Sent];
        Sent = "sent";
    }
);

/// A new workflow of the kind `S`, in its initial state (what the engine's `create` takes).
pub fn new_workflow<S: WorkflowStates>(
    connection_id: i64,
    business_key: impl Into<String>,
    context: serde_json::Value,
) -> crate::engine::NewWorkflow {
    crate::engine::NewWorkflow {
        kind: S::KIND.to_string(),
        connection_id,
        business_key: business_key.into(),
        initial_state: S::INITIAL.to_string(),
        context,
        run_at: None,
    }
}

/// Register the handler of `state`: a transition the state was not declared to make fails the
/// step with a message naming the bug, instead of reaching the engine as a string.
pub fn register<S, F, Fut>(r: &mut HandlerRegistry, state: S, handler: F)
where
    S: WorkflowStates,
    F: Fn(StepInput) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = StepResult> + Send + 'static,
{
    let name = state
        .handler()
        .unwrap_or_else(|| panic!("{:?} is terminal: it has no handler", state));
    r.register(name, move |input: StepInput| {
        let fut = handler(input);
        async move {
            let t = fut.await?;
            match S::parse(&t.target) {
                Some(to) if state.next().contains(&to) => Ok(t),
                _ => Err(StepError::fatal(format!(
                    "internal error: {} state {} returned a transition to {:?}, which it does not declare",
                    S::KIND,
                    state.as_str(),
                    t.target
                ))),
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;
    use crate::engine::Definitions;

    fn check<S: WorkflowStates>(defs: &Definitions) {
        let kind = S::KIND.as_str();
        let def = defs
            .get(kind)
            .unwrap_or_else(|| panic!("no workflows/{kind}.toml"));
        assert_eq!(def.initial, S::INITIAL.as_str(), "{kind}: initial state");
        let declared: BTreeSet<&str> = S::ALL.iter().map(|s| s.as_str()).collect();
        let defined: BTreeSet<&str> = def.states.keys().map(String::as_str).collect();
        assert_eq!(declared, defined, "{kind}: states in Rust vs TOML");
        for s in S::ALL {
            let d = def.state(s.as_str()).unwrap();
            assert_eq!(d.handler.as_deref(), s.handler(), "{kind}.{s:?}: handler");
            assert_eq!(d.terminal, s.handler().is_none(), "{kind}.{s:?}: terminal");
            let rust: BTreeSet<&str> = s.next().iter().map(|n| n.as_str()).collect();
            let toml: BTreeSet<&str> = d.next.iter().map(String::as_str).collect();
            assert_eq!(
                rust, toml,
                "{kind}.{s:?}: what the handler may return vs what the TOML allows"
            );
        }
    }

    #[test]
    fn declared_states_and_transitions_match_the_toml_files() {
        let defs =
            Definitions::from_sources(super::super::BUILTIN_WORKFLOWS.iter().copied(), &|_| true)
                .unwrap();
        check::<OrderState>(&defs);
        check::<OrdersPollState>(&defs);
        check::<OrdersProbeState>(&defs);
        check::<InventoryState>(&defs);
        check::<ShipmentState>(&defs);
        check::<ShipmentsPollState>(&defs);
        check::<WebhookState>(&defs);
        check::<AlertsCheckState>(&defs);
        check::<NotificationState>(&defs);
        let kinds: BTreeSet<String> = defs.kinds().into_iter().collect();
        let ours: BTreeSet<String> = Kind::ALL.iter().map(|k| k.to_string()).collect();
        assert_eq!(kinds, ours, "every TOML kind has its state type");
    }

    #[tokio::test]
    async fn an_undeclared_transition_is_refused() {
        let mut r = HandlerRegistry::new();
        register(&mut r, OrderState::Post, |i: StepInput| async move {
            Ok(crate::engine::Transition::to(if i.attempt == 1 {
                OrderState::Check
            } else {
                OrderState::Shipped
            }))
        });
        let input = |attempt| StepInput {
            workflow_id: 1,
            kind: "order".into(),
            connection_id: 0,
            business_key: "0000042".into(),
            state: "post".into(),
            attempt,
            context: serde_json::json!({}),
            next: vec!["check".into()],
            db: sqlx::PgPool::connect_lazy("postgres://nobody@127.0.0.1:1/none").unwrap(),
            signal_seen: None,
        };
        let h = r.get("order.post").unwrap();
        assert!(h.run(input(1)).await.is_ok());
        let err = h.run(input(2)).await.unwrap_err();
        assert!(!err.retryable);
        assert!(err.message.contains("does not declare"), "{}", err.message);
    }
}
