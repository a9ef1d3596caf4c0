// Connections: secrets and their expiry, failing paths (alerts), the last good run of each feed,
// rate budgets now; operators can test every path and run the fit report.

import { useEffect, useState } from "preact/hooks";
import { gql } from "./api";
import { ResultNote, Section } from "./actions";
import { FitReport } from "./fit";
import { time } from "./format";

interface Conn {
  id: string;
  name: string;
  enabled: boolean;
  company: string;
  secrets: { name: string; set: boolean; expiresOn: string | null }[];
}
interface Run { connectionId: string; feed: string; startedAt: string; finishedAt: string | null; found: number; error: string | null }
interface Budget { keyId: string; windowLimit: number; windowSecs: number; remaining: number; inFlight: number; blockedUntil: string | null; throttled: number }
interface Alert { kind: string; connectionId: string | null; message: string; since: string | null }
interface Check { check: string; ok: boolean; detail: string }

const QUERY = `{
  connections { id name enabled company secrets { name set expiresOn } }
  syncRuns(first: 500) { edges { node { connectionId feed startedAt finishedAt found error } } }
  stats { rateLimits { keyId windowLimit windowSecs remaining inFlight blockedUntil throttled } }
  alerts { kind connectionId message since } }`;

export function ConnectionsPage(props: { canAct: boolean }) {
  const [data, setData] = useState<{
    connections: Conn[];
    syncRuns: { edges: { node: Run }[] };
    stats: { rateLimits: Budget[] };
    alerts: Alert[];
  } | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [checks, setChecks] = useState<Record<string, Check[]>>({});
  const [result, setResult] = useState<{ ok: boolean; text: string } | null>(null);
  useEffect(() => {
    gql<NonNullable<typeof data>>(QUERY).then(setData).catch((e: Error) => setError(e.message));
  }, []);
  if (error) return <p role="alert" class="note bad">{error}</p>;
  if (!data) return <p class="note">Loading…</p>;
  const test = async (c: Conn) => {
    setResult({ ok: true, text: `Testing ${c.name}…` });
    try {
      const d = await gql<{ testConnection: Check[] }>(`mutation($id: ID!) { testConnection(connectionId: $id) { check ok detail } }`, { id: c.id });
      setChecks({ ...checks, [c.id]: d.testConnection });
      setResult({ ok: d.testConnection.every((x) => x.ok), text: `${c.name}: ${d.testConnection.filter((x) => x.ok).length} of ${d.testConnection.length} paths answer.` });
    } catch (e) {
      setResult({ ok: false, text: `Testing ${c.name} failed: ${(e as Error).message}` });
    }
  };
  return (
    <>
      <h1>Connections</h1>
      <ResultNote result={result} />
      {data.connections.map((c) => {
        const runs = data.syncRuns.edges.map((e) => e.node).filter((r) => r.connectionId === c.id);
        const feeds = [...new Set(runs.map((r) => r.feed))].sort();
        const alerts = data.alerts.filter((a) => a.connectionId === c.id);
        return (
          <article class="group" key={c.id} data-testid="connection">
            <h2>{c.name} <span class="hint">company {c.company}{c.enabled ? "" : " · disabled"}</span></h2>
            <h3>Health</h3>
            {alerts.length === 0 ? <p>No alerts for this connection.</p> : (
              <ul>{alerts.map((a, i) => <li key={i} class="error">{a.kind.toLowerCase().replace(/_/g, " ")}: {a.message}</li>)}</ul>
            )}
            {props.canAct && <button type="button" onClick={() => void test(c)}>Test every path now</button>}
            {checks[c.id] && (
              <table class="list" aria-label={`Paths of ${c.name}`}>
                <thead><tr><th scope="col">Path</th><th scope="col">Answer</th><th scope="col">Detail</th></tr></thead>
                <tbody>{checks[c.id].map((x) => <tr key={x.check}><td>{x.check}</td><td class={x.ok ? "ok" : "bad"}>{x.ok ? "ok" : "failing"}</td><td>{x.detail}</td></tr>)}</tbody>
              </table>
            )}
            <h3>Feeds</h3>
            <table class="list" aria-label={`Feeds of ${c.name}`}>
              <thead><tr><th scope="col">Feed</th><th scope="col">Last good run</th><th scope="col">Last run</th></tr></thead>
              <tbody>{feeds.map((f) => {
                const mine = runs.filter((r) => r.feed === f);
                const good = mine.find((r) => r.finishedAt && !r.error);
                const last = mine[0];
                return (
                  <tr key={f}>
                    <td>{f}</td>
                    <td>{good ? `${time(good.finishedAt)} (${good.found} found)` : "none among the last 500 runs"}</td>
                    <td class={last.error ? "bad" : ""}>{last.error ? `failed: ${last.error}` : time(last.finishedAt ?? last.startedAt)}</td>
                  </tr>
                );
              })}</tbody>
            </table>
            <h3>Fit report</h3>
            <FitReport connection={c.name} canAct={props.canAct} />
            <h3>Secrets</h3>
            <ul class="inline">{c.secrets.filter((s) => s.set).map((s) => (
              <li key={s.name}>{s.name}{s.expiresOn ? ` (expires ${s.expiresOn})` : ""}</li>
            ))}</ul>
          </article>
        );
      })}
      <Section title="Rate budgets now" id="rates">
        {data.stats.rateLimits.length === 0 ? <p>No API key has been used yet.</p> : (
          <table class="list" aria-label="Rate budgets">
            <thead><tr><th scope="col">Key</th><th scope="col">Remaining</th><th scope="col">In flight</th><th scope="col">429s</th><th scope="col">Blocked until</th></tr></thead>
            <tbody>{data.stats.rateLimits.map((b) => (
              <tr key={b.keyId}><td class="mono">{b.keyId}</td><td>{b.remaining} of {b.windowLimit} per {b.windowSecs} s</td><td>{b.inFlight}</td><td>{b.throttled}</td><td>{b.blockedUntil ? time(b.blockedUntil) : "—"}</td></tr>
            ))}</tbody>
          </table>
        )}
      </Section>
    </>
  );
}
