// Search orders by Sage number, ShipStation number, tracking number or customer.

import { useState } from "preact/hooks";
import { gql } from "./api";
import { packages, whereItWaits, WorkflowLike } from "./format";
import { linkProps } from "./nav";

interface Found extends WorkflowLike {
  id: string;
  businessKey: string;
}

const QUERY = `query($t: String!) { searchOrders(text: $t, first: 50) {
  id businessKey state status runAt updatedAt lastError context } }`;

export function SearchPage() {
  const [text, setText] = useState("");
  const [found, setFound] = useState<Found[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const submit = async (e: Event) => {
    e.preventDefault();
    setError(null);
    try {
      const d = await gql<{ searchOrders: Found[] }>(QUERY, { t: text });
      setFound(d.searchOrders);
    } catch (err) {
      setFound(null);
      setError((err as Error).message);
    }
  };
  return (
    <>
      <h1>Find an order</h1>
      <form class="search" role="search" onSubmit={submit}>
        <label for="q">Sales order, ShipStation order, tracking number or customer</label>
        <div class="row">
          <input id="q" name="q" type="search" required maxLength={100} value={text}
            onInput={(e) => setText((e.target as HTMLInputElement).value)} />
          <button type="submit" class="primary">Search</button>
        </div>
      </form>
      {error && <p role="alert" class="note bad">{error}</p>}
      {found && found.length === 0 && <p role="status" class="note">No order matches “{text}”.</p>}
      {found && found.length > 0 && (
        <table class="list" aria-label="Orders found">
          <thead><tr><th scope="col">Sales order</th><th scope="col">Customer</th><th scope="col">ShipStation</th><th scope="col">Tracking</th><th scope="col">Now</th></tr></thead>
          <tbody>
            {found.map((w) => {
              const p = (w.context.payload ?? {}) as Record<string, unknown>;
              const shipTo = (p.ship_to ?? {}) as Record<string, unknown>;
              return (
                <tr key={w.id} data-testid="search-row">
                  <td><a {...linkProps(`order/${w.id}`)}>{w.businessKey}</a></td>
                  <td>{String(p.customer ?? "—")} {shipTo.company ? `· ${String(shipTo.company)}` : ""}</td>
                  <td>{String(w.context.shipstation_order_id ?? "not posted")}</td>
                  <td data-testid="search-tracking">{packages(w.context).map((x) => x.tracking).join(", ") || "—"}</td>
                  <td class={`status ${w.status.toLowerCase()}`}>{whereItWaits(w)}</td>
                </tr>
              );
            })}
          </tbody>
        </table>
      )}
    </>
  );
}
