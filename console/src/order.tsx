// One order's whole story: where it waits, the ShipStation order and packages, what was written
// to Sage, and every audit event; operators can restart, re-check, replay a step or cancel.

import { useCallback, useEffect, useState } from "preact/hooks";
import { gql, watchWorkflows } from "./api";
import { ConfirmDialog, PendingAction, ResultNote, Section } from "./actions";
import { packages, time, whereItWaits, WorkflowLike } from "./format";

interface Event {
  id: string;
  at: string;
  actor: string;
  event: string;
  fromState: string | null;
  toState: string | null;
  attempt: number | null;
  durationMs: number | null;
  error: string | null;
  detail: Record<string, unknown> | null;
  replayable: boolean;
}

interface Order extends WorkflowLike {
  id: string;
  kind: string;
  businessKey: string;
  attempt: number;
  createdAt: string;
  needsAttention: boolean;
  events: { edges: { node: Event }[]; pageInfo: { hasNextPage: boolean } };
}

const QUERY = `query($id: ID!) { workflow(id: $id) {
  id kind businessKey state status attempt runAt createdAt updatedAt lastError needsAttention context
  events(first: 1000) { edges { node {
    id at actor event fromState toState attempt durationMs error detail replayable } }
    pageInfo { hasNextPage } } } }`;

const WF = "id state status lastError";

function Json(props: { value: unknown }) {
  return <pre class="json">{JSON.stringify(props.value, null, 2)}</pre>;
}

export function OrderPage(props: { id: string; canAct: boolean }) {
  const [order, setOrder] = useState<Order | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [pending, setPending] = useState<PendingAction | null>(null);
  const [result, setResult] = useState<{ ok: boolean; text: string } | null>(null);
  const [live, setLive] = useState(false);
  const load = useCallback(async () => {
    try {
      const d = await gql<{ workflow: Order }>(QUERY, { id: props.id });
      setOrder(d.workflow);
      setError(null);
    } catch (e) {
      setError((e as Error).message);
    }
  }, [props.id]);
  useEffect(() => { void load(); }, [load]);
  const key = order?.businessKey;
  useEffect(() => {
    if (!key) return;
    return watchWorkflows({ businessKey: key }, (w) => { if (w.id === props.id) void load(); }, setLive);
  }, [key, props.id, load]);
  if (error) return <p role="alert" class="note bad">{error}</p>;
  if (!order) return <p class="note">Loading…</p>;
  const events = order.events.edges.map((e) => e.node);
  const ctx = order.context;
  const payload = (ctx.payload ?? ctx.posted_payload ?? null) as Record<string, unknown> | null;
  const soWrite = [...events].reverse().find((e) => e.detail && (e.detail as Record<string, unknown>).sales_order);
  const invoiceWrite = [...events].reverse().find((e) => e.detail && (e.detail as Record<string, unknown>).invoice);
  const act = (a: PendingAction) => { setResult(null); setPending(a); };
  const done = (r: { ok: boolean; text: string }) => { setPending(null); setResult(r); void load(); };
  const terminal = order.status === "COMPLETED" || order.status === "CANCELLED";
  return (
    <>
      <h1>Sales order <span data-testid="order-number">{order.businessKey}</span></h1>
      <p class={`now status ${order.status.toLowerCase()}`} data-testid="order-now">
        <strong data-testid="order-status">{order.status.toLowerCase()}</strong> · {whereItWaits(order)}
      </p>
      <p class="hint">{live ? "Live: this page follows changes as they happen." : "Not live: reconnecting…"}</p>
      {order.lastError && <p class="note bad" data-testid="order-error">Last error: {order.lastError}</p>}
      {props.canAct && !terminal && (
        <div class="row actions" role="group" aria-label="Actions">
          {order.status === "FAILED" && (
            <button type="button" class="primary" onClick={() => act({
              title: `Restart order ${order.businessKey}`,
              explain: `It resumes at its failed step “${order.state}”. Fix the cause first (the last error says what).`,
              confirmLabel: "Restart",
              run: async () => {
                const d = await gql<{ restartWorkflow: { status: string; state: string } }>(
                  `mutation($id: ID!) { restartWorkflow(id: $id) { ${WF} } }`, { id: order.id });
                return `Restarted: now ${d.restartWorkflow.status.toLowerCase()} in “${d.restartWorkflow.state}”.`;
              },
            })}>Restart</button>
          )}
          {order.status === "WAITING" && (
            <button type="button" onClick={() => act({
              title: `Re-check order ${order.businessKey} now`,
              explain: "It stops waiting and checks Sage and ShipStation again (e.g. after tracking was entered by hand).",
              confirmLabel: "Re-check now",
              run: async () => {
                const d = await gql<{ signalWorkflow: { state: string } }>(
                  `mutation($id: ID!) { signalWorkflow(id: $id) { ${WF} } }`, { id: order.id });
                return `Woken: now in “${d.signalWorkflow.state}”.`;
              },
            })}>Re-check now</button>
          )}
          <button type="button" class="danger" onClick={() => act({
            title: `Cancel order ${order.businessKey}'s workflow`,
            explain: "The connector stops following this order. Nothing is changed in Sage or ShipStation.",
            confirmLabel: "Cancel the workflow",
            run: async () => {
              const d = await gql<{ cancelWorkflow: { status: string } }>(
                `mutation($id: ID!) { cancelWorkflow(id: $id, reason: "cancelled in the console") { ${WF} } }`, { id: order.id });
              return `Cancelled: now ${d.cancelWorkflow.status.toLowerCase()}.`;
            },
          })}>Cancel…</button>
        </div>
      )}
      <ResultNote result={result} />
      <div class="cards">
        <Section title="ShipStation order" id="ss">
          {ctx.shipstation_order_id ? (
            <dl>
              <dt>orderId</dt><dd>{String(ctx.shipstation_order_id)}</dd>
              <dt>Order number</dt><dd>{String(payload?.number ?? "—")}</dd>
              <dt>orderKey</dt><dd>{String(payload?.key ?? "—")}</dd>
              <dt>Customer</dt><dd>{String(payload?.customer ?? "—")}</dd>
              <dt>Service</dt><dd>{String(payload?.carrier_code ?? "—")} {String(payload?.service_code ?? "")}</dd>
            </dl>
          ) : <p>Not in ShipStation yet.</p>}
          {payload && Array.isArray(payload.lines) && (
            <table class="list" aria-label="Lines">
              <thead><tr><th scope="col">SKU</th><th scope="col">Item</th><th scope="col">Qty</th><th scope="col">Price</th></tr></thead>
              <tbody>{(payload.lines as Record<string, unknown>[]).map((l, i) => (
                <tr key={i}><td>{String(l.sku ?? "")}</td><td>{String(l.name ?? "")}</td><td>{String(l.quantity ?? "")}</td><td>{String(l.unit_price ?? "")}</td></tr>
              ))}</tbody>
            </table>
          )}
        </Section>
        <Section title="Packages" id="pk">
          {packages(ctx).length === 0 ? <p>No package shipped yet.</p> : (
            <ul data-testid="packages">{packages(ctx).map((p) => (
              <li key={p.shipment}><span class="mono" data-testid="tracking">{p.tracking}</span> ({p.shipment})</li>
            ))}</ul>
          )}
        </Section>
        <Section title="Written to Sage" id="sage">
          <h3>Sales order</h3>
          {soWrite ? <><p class="hint">{time(soWrite.at)}</p><Json value={soWrite.detail} /></> : <p>Nothing yet.</p>}
          <h3>Invoice</h3>
          {invoiceWrite ? <><p class="hint">{time(invoiceWrite.at)}</p><Json value={invoiceWrite.detail} /></> : <p>Nothing yet.</p>}
        </Section>
      </div>
      <Section title={`Timeline (${events.length} events)`} id="tl">
        {order.events.pageInfo.hasNextPage && (
          <p class="note">Showing the first {events.length} events; the rest are in the API
            (<code>workflow(id) {"{ events(after: …) }"}</code>) and <code>ml-connector workflows show</code>.</p>
        )}
        <ol class="timeline" data-testid="timeline">
          {events.map((e) => (
            <li key={e.id} class={e.error ? "bad" : ""}>
              <div class="row">
                <time dateTime={e.at}>{time(e.at)}</time>
                <strong>{e.event}</strong>
                {e.fromState && <span>{e.fromState} → {e.toState}</span>}
                <span class="hint">{e.actor}{e.attempt ? ` · attempt ${e.attempt}` : ""}{e.durationMs != null ? ` · ${Math.round(e.durationMs)} ms` : ""}</span>
                {props.canAct && e.replayable && !terminal && (
                  <button type="button" class="small" onClick={() => act({
                    title: `Replay step “${e.fromState}”`,
                    explain: `The step this event recorded (${e.event} at ${time(e.at)}) runs again; it is idempotent.`,
                    confirmLabel: "Replay",
                    run: async () => {
                      const d = await gql<{ replayEvent: { state: string } }>(
                        `mutation($id: ID!) { replayEvent(eventId: $id) { ${WF} } }`, { id: e.id });
                      return `Replayed: now in “${d.replayEvent.state}”.`;
                    },
                  })}>Replay from this step</button>
                )}
              </div>
              {e.error && <p class="error">{e.error}</p>}
              {e.detail && <details><summary>Detail</summary><Json value={e.detail} /></details>}
            </li>
          ))}
        </ol>
      </Section>
      <ConfirmDialog action={pending} onDone={done} onCancel={() => setPending(null)} />
    </>
  );
}
