// Sign-in, the navigation and the pages.

import { useEffect, useState } from "preact/hooks";
import { ApiError, forgetToken, gql, Role, saveToken, savedToken } from "./api";
import { linkProps, usePath } from "./nav";
import { SearchPage } from "./search";
import { OrderPage } from "./order";
import { AttentionPage } from "./attention";
import { ConnectionsPage } from "./connections";

function SignIn(props: { onSignedIn: (role: Role) => void; message: string | null }) {
  const [token, setToken] = useState("");
  const [error, setError] = useState<string | null>(props.message);
  const [busy, setBusy] = useState(false);
  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    saveToken(token.trim());
    try {
      const d = await gql<{ me: { role: Role } }>("{ me { role } }");
      props.onSignedIn(d.me.role);
    } catch (err) {
      forgetToken();
      setError((err as Error).message);
    } finally {
      setBusy(false);
    }
  };
  return (
    <main class="signin">
      <h1>ml-connector console</h1>
      <form onSubmit={submit}>
        <label for="token">API token</label>
        <input id="token" name="token" type="password" autocomplete="off" required value={token}
          onInput={(e) => setToken((e.target as HTMLInputElement).value)} />
        <p class="hint">A token from <code>ml-connector token create</code>. It is kept in this browser tab only.</p>
        <button type="submit" class="primary" disabled={busy}>Sign in</button>
        {error && <p role="alert" class="note bad">{error}</p>}
      </form>
    </main>
  );
}

export function App() {
  const [role, setRole] = useState<Role | null>(null);
  const [checking, setChecking] = useState(savedToken() !== null);
  const [message, setMessage] = useState<string | null>(null);
  const path = usePath();
  useEffect(() => {
    if (!savedToken()) return;
    gql<{ me: { role: Role } }>("{ me { role } }")
      .then((d) => setRole(d.me.role))
      .catch((e: ApiError) => {
        forgetToken();
        setMessage(e.message);
      })
      .finally(() => setChecking(false));
  }, []);
  if (checking) return <p class="note">Checking the token…</p>;
  if (!role) return <SignIn onSignedIn={setRole} message={message} />;
  const canAct = role !== "VIEWER";
  const page = path.startsWith("order/")
    ? <OrderPage id={decodeURIComponent(path.slice("order/".length))} canAct={canAct} />
    : path === "attention"
      ? <AttentionPage canAct={canAct} />
      : path === "connections"
        ? <ConnectionsPage canAct={canAct} />
        : <SearchPage />;
  const current = (p: string) => (path === p || (p === "" && path.startsWith("order/")) ? "page" : undefined);
  return (
    <>
      <a class="skip" href="#main">Skip to the page</a>
      <header>
        <span class="brand">ml-connector</span>
        <nav aria-label="Console">
          <a {...linkProps("")} aria-current={current("")}>Search</a>
          <a {...linkProps("attention")} aria-current={current("attention")}>Needs attention</a>
          <a {...linkProps("connections")} aria-current={current("connections")}>Connections</a>
        </nav>
        <span class="who" data-testid="role">{role.toLowerCase()}</span>
        <button type="button" onClick={() => { forgetToken(); setRole(null); }}>Sign out</button>
      </header>
      <main id="main" tabIndex={-1}>{page}</main>
    </>
  );
}
