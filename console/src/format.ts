// Display helpers: times in the browser's zone, what an order waits for, error groups.

export function time(iso: string | null | undefined): string {
  if (!iso) return "—";
  const d = new Date(iso);
  return d.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "medium" });
}

export function clock(iso: string): string {
  return new Date(iso).toLocaleTimeString(undefined, { hour: "2-digit", minute: "2-digit" });
}

export interface WorkflowLike {
  state: string;
  status: string;
  runAt: string | null;
  updatedAt: string;
  lastError: string | null;
  context: Record<string, unknown>;
}

/// Where the workflow is now, in words ("waiting for an invoice since 14:02").
export function whereItWaits(w: WorkflowLike): string {
  const ctx = w.context ?? {};
  const since = clock(w.updatedAt);
  switch (w.status) {
    case "FAILED":
      return `failed in step “${w.state}” since ${since}: needs a restart once the cause is fixed`;
    case "CANCELLED":
      return `cancelled at ${since}`;
    case "COMPLETED":
      return `finished (${w.state}) at ${since}`;
    case "RUNNING":
      return `running step “${w.state}” now`;
    case "READY":
      return w.runAt ? `step “${w.state}” runs at ${clock(w.runAt)}` : `step “${w.state}” is due`;
  }
  switch (w.state) {
    case "check":
      return `in ShipStation, waiting for a shipment or a change in Sage since ${since}`;
    case "track_invoice": {
      const s = typeof ctx.awaiting_invoice_since === "string" ? ctx.awaiting_invoice_since : w.updatedAt;
      return `waiting for an invoice since ${clock(s)}`;
    }
    case "shipped":
      return `tracking is in Sage; waiting for another package or a void since ${since}`;
    case "manual_action":
      return `needs a person since ${since}: ${String(ctx.manual_action ?? "see the last event")}`;
    case "fetch":
      return w.runAt ? `waiting to read the order from Sage at ${clock(w.runAt)}` : "waiting to read the order from Sage";
    default:
      return w.runAt ? `waiting in “${w.state}” until ${clock(w.runAt)}` : `waiting in “${w.state}” since ${since}`;
  }
}

/// The packages of an order: `label:<id>=<tracking>,…` as the connector remembers them.
export function packages(ctx: Record<string, unknown>): { shipment: string; tracking: string }[] {
  const fp = typeof ctx.tracking_fp === "string" ? ctx.tracking_fp : "";
  return fp
    .split(",")
    .filter((p) => p.includes("="))
    .map((p) => {
      const [shipment, tracking] = p.split("=");
      return { shipment, tracking };
    });
}

/// Errors that differ only in numbers (order numbers, ids) are one group.
export function errorGroup(kind: string, error: string | null): string {
  return `${kind}: ${(error ?? "no error recorded").replace(/\d+/g, "#")}`;
}
