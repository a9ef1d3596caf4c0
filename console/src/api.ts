// The GraphQL API on the same origin: queries and mutations over POST /graphql with the bearer
// token; workflowChanged over /graphql/ws (graphql-transport-ws, token in connection_init).

const TOKEN_KEY = "mlc-console-token";

export function savedToken(): string | null {
  return sessionStorage.getItem(TOKEN_KEY);
}
export function saveToken(t: string) {
  sessionStorage.setItem(TOKEN_KEY, t);
}
export function forgetToken() {
  sessionStorage.removeItem(TOKEN_KEY);
}

export class ApiError extends Error {
  code: string;
  constructor(message: string, code: string) {
    super(message);
    this.code = code;
  }
}

export async function gql<T>(query: string, variables: Record<string, unknown> = {}): Promise<T> {
  const token = savedToken() ?? "";
  let resp: Response;
  try {
    resp = await fetch("/graphql", {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${token}` },
      body: JSON.stringify({ query, variables }),
    });
  } catch (e) {
    throw new ApiError(`the connector did not answer (${String(e)})`, "NETWORK");
  }
  let body: { data?: T; errors?: { message: string; extensions?: { code?: string } }[] };
  try {
    body = await resp.json();
  } catch {
    throw new ApiError(`the connector answered ${resp.status} without JSON`, "INTERNAL");
  }
  if (body.errors && body.errors.length > 0) {
    const e = body.errors[0];
    throw new ApiError(e.message, e.extensions?.code ?? "ERROR");
  }
  if (!body.data) throw new ApiError(`the connector answered ${resp.status} without data`, "INTERNAL");
  return body.data;
}

export type Role = "VIEWER" | "OPERATOR" | "ADMIN";

/// Calls `onChange` for every workflow change the filter selects, until the returned function is
/// called; reconnects (with a growing pause) when the socket drops.
export function watchWorkflows(
  filter: Record<string, unknown> | null,
  onChange: (w: { id: string }) => void,
  onState?: (live: boolean) => void,
): () => void {
  let closed = false;
  let socket: WebSocket | null = null;
  let pause = 1000;
  const open = () => {
    if (closed) return;
    const proto = location.protocol === "https:" ? "wss:" : "ws:";
    const ws = new WebSocket(`${proto}//${location.host}/graphql/ws`, "graphql-transport-ws");
    socket = ws;
    ws.onopen = () => ws.send(JSON.stringify({ type: "connection_init", payload: { token: savedToken() ?? "" } }));
    ws.onmessage = (m) => {
      let msg: { type: string; payload?: { data?: { workflowChanged?: { id: string } } } };
      try {
        msg = JSON.parse(String(m.data));
      } catch {
        return;
      }
      if (msg.type === "connection_ack") {
        pause = 1000;
        onState?.(true);
        ws.send(
          JSON.stringify({
            id: "1",
            type: "subscribe",
            payload: {
              query: "subscription($f: WorkflowFilterInput) { workflowChanged(filter: $f) { id } }",
              variables: { f: filter },
            },
          }),
        );
      } else if (msg.type === "ping") {
        ws.send(JSON.stringify({ type: "pong" }));
      } else if (msg.type === "next" && msg.payload?.data?.workflowChanged) {
        onChange(msg.payload.data.workflowChanged);
      } else if (msg.type === "error") {
        // The API refused the subscription: the page is not live (it says so).
        onState?.(false);
      }
    };
    ws.onclose = () => {
      onState?.(false);
      if (closed) return;
      setTimeout(open, pause);
      pause = Math.min(pause * 2, 30000);
    };
  };
  open();
  return () => {
    closed = true;
    socket?.close();
  };
}
