// Failed and manual-action workflows grouped by error, with their actions (replaying one step is on
// the order's page, where the events are); and the alerts.

import { useCallback, useEffect, useRef, useState } from "preact/hooks";
import { gql, watchWorkflows } from "./api";
import { ConfirmDialog, PendingAction, ResultNote, Section } from "./actions";
import { errorGroup, time } from "./format";
import { linkProps } from "./nav";

interface Item {
  id: string;
  kind: string;
  businessKey: string;
  state: string;
  status: string;
  lastError: string | null;
  updatedAt: string;
}

interface Alert {
  kind: string;
  connectionId: string | null;
  message: string;
  since: string | null;
  count: number;
}

const FIELDS = "edges { node { id kind businessKey state status lastError updatedAt } } totalCount";
const QUERY = `{
  failed: workflows(filter: { status: FAILED }, first: 200) { ${FIELDS} }
  manual: workflows(filter: { state: "manual_action", status: WAITING }, first: 200) { ${FIELDS} }
  alerts { kind connectionId message since count } }`;

type Page = { edges: { node: Item }[]; totalCount: number };

export function AttentionPage(props: { canAct: boolean }) {
  const [data, setData] = useState<{ failed: Page; manual: Page; alerts: Alert[] } | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [pending, setPending] = useState<PendingAction | null>(null);
  const [result, setResult] = useState<{ ok: boolean; text: string } | null>(null);
  const timer = useRef<number | null>(null);
  const load = useCallback(async () => {
    try {
      setData(await gql(QUERY));
      setError(null);
    } catch (e) {
      setError((e as Error).message);
    }
  }, []);
  useEffect(() => {
    void load();
    // Many changes at once (a poll) reload once.
    return watchWorkflows(null, () => {
      if (timer.current === null) timer.current = window.setTimeout(() => { timer.current = null; void load(); }, 500);
    });
  }, [load]);
  if (error) return <p role="alert" class="note bad">{error}</p>;
  if (!data) return <p class="note">Loading…</p>;
  const groups = new Map<string, Item[]>();
  for (const e of [...data.failed.edges, ...data.manual.edges]) {
    const g = errorGroup(e.node.kind, e.node.lastError);
    groups.set(g, [...(groups.get(g) ?? []), e.node]);
  }
  const act = (a: PendingAction) => { setResult(null); setPending(a); };
  const done = (r: { ok: boolean; text: string }) => { setPending(null); setResult(r); void load(); };
  const restart = (w: Item) => act({
    title: `Restart ${w.kind} ${w.businessKey}`,
    explain: `It resumes at its failed step “${w.state}”.`,
    confirmLabel: "Restart",
    run: async () => {
      const d = await gql<{ restartWorkflow: { status: string } }>(`mutation($id: ID!) { restartWorkflow(id: $id) { id status } }`, { id: w.id });
      return `Restarted ${w.businessKey}: now ${d.restartWorkflow.status.toLowerCase()}.`;
    },
  });
  const cancel = (w: Item) => act({
    title: `Cancel ${w.kind} ${w.businessKey}`,
    explain: "The connector stops following it. Nothing is changed in Sage or ShipStation.",
    confirmLabel: "Cancel the workflow",
    run: async () => {
      await gql(`mutation($id: ID!) { cancelWorkflow(id: $id, reason: "cancelled in the console") { id } }`, { id: w.id });
      return `Cancelled ${w.businessKey}.`;
    },
  });
  const recheck = (w: Item) => act({
    title: `Re-check ${w.kind} ${w.businessKey} now`,
    explain: "It stops waiting and checks again (e.g. once the tracking was entered in Sage by hand).",
    confirmLabel: "Re-check now",
    run: async () => {
      const d = await gql<{ signalWorkflow: { state: string } }>(`mutation($id: ID!) { signalWorkflow(id: $id) { id state } }`, { id: w.id });
      return `Woken ${w.businessKey}: now in “${d.signalWorkflow.state}”.`;
    },
  });
  const retryAll = (items: Item[]) => act({
    title: `Restart all ${items.length} in this group`,
    explain: "Each failed workflow of the group resumes at its failed step.",
    confirmLabel: `Restart ${items.length}`,
    run: async () => {
      let ok = 0;
      const failures: string[] = [];
      for (const w of items.filter((i) => i.status === "FAILED")) {
        try {
          await gql(`mutation($id: ID!) { restartWorkflow(id: $id) { id } }`, { id: w.id });
          ok++;
        } catch (e) {
          failures.push(`${w.businessKey}: ${(e as Error).message}`);
        }
      }
      if (failures.length) throw new Error(`${ok} restarted; ${failures.join("; ")}`);
      return `${ok} restarted.`;
    },
  });
  const more = data.failed.totalCount > data.failed.edges.length || data.manual.totalCount > data.manual.edges.length;
  return (
    <>
      <h1>Needs attention</h1>
      <ResultNote result={result} />
      <Section title={`Alerts (${data.alerts.length})`} id="alerts">
        {data.alerts.length === 0 ? <p>No alerts.</p> : (
          <ul class="alerts" data-testid="alerts">{data.alerts.map((a, i) => (
            <li key={i}><strong>{a.kind.toLowerCase().replace(/_/g, " ")}</strong>: {a.message}{a.since ? ` (since ${time(a.since)})` : ""}</li>
          ))}</ul>
        )}
      </Section>
      <Section title={`Workflows (${data.failed.totalCount} failed, ${data.manual.totalCount} waiting for a person)`} id="groups">
        {more && <p class="note">Showing the newest 200 of each; narrow down with the CLI or GraphQL.</p>}
        {groups.size === 0 && <p>Nothing failed and nobody needs to act.</p>}
        {[...groups.entries()].map(([g, items]) => (
          <article class="group" key={g} data-testid="attention-group">
            <h3>{g}</h3>
            <p class="error">{items[0].lastError ?? "(waiting for a person)"}</p>
            {props.canAct && items.some((i) => i.status === "FAILED") && items.length > 1 && (
              <button type="button" onClick={() => retryAll(items)}>Restart all {items.length}</button>
            )}
            <ul>{items.map((w) => (
              <li key={w.id} class="row">
                {w.kind === "order" ? <a {...linkProps(`order/${w.id}`)}>{w.businessKey}</a> : <span>{w.businessKey}</span>}
                <span class="hint">{w.status.toLowerCase()} in “{w.state}” since {time(w.updatedAt)}</span>
                {props.canAct && w.status === "FAILED" && <button type="button" class="small" onClick={() => restart(w)}>Restart</button>}
                {props.canAct && w.status === "WAITING" && <button type="button" class="small" onClick={() => recheck(w)}>Re-check now</button>}
                {props.canAct && <button type="button" class="small danger" onClick={() => cancel(w)}>Cancel…</button>}
              </li>
            ))}</ul>
          </article>
        ))}
      </Section>
      <ConfirmDialog action={pending} onDone={done} onCancel={() => setPending(null)} />
    </>
  );
}
